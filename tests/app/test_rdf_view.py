"""The RDF compare viewer (atomsieve.app.rdf_view) at state level: curves, labels, rendering."""

from __future__ import annotations

import json

import holoviews as hv
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from atomsieve.app.rdf_view import REFERENCE, RDFComparison, rdf_curves
from atomsieve.errors import ParameterError
from atomsieve.evaluate.md_check import md_check

SETTINGS = {"temperature": 300, "n_steps": 10, "equilibration_steps": 0, "sample_every": 5, "r_max": 5.0,
            "n_bins": 25, "nve_steps": 0}


@pytest.fixture(scope="module")
def reports():
    cell = bulk("Cu", cubic=True).repeat(3)
    exact = md_check(EMT(), cell, EMT(), **SETTINGS)
    # A Lennard-Jones stand-in with a shorter bond: a different g(r) from EMT's.
    other = md_check(LennardJones(sigma=2.1, epsilon=0.4, rc=5.0, smooth=True), cell, EMT(), **SETTINGS)
    return {"exact": exact, "lj": other}


def test_curves_hold_reference_and_every_model(reports):
    curves = rdf_curves(reports)
    assert list(curves) == ["Cu-Cu"]
    entry = curves["Cu-Cu"]
    assert set(entry) == {REFERENCE, "exact", "lj"}
    np.testing.assert_allclose(entry["exact"]["g"], entry[REFERENCE]["g"])
    assert entry["exact"]["distance"] == 0.0
    assert entry["lj"]["distance"] == pytest.approx(reports["lj"].rdf_distance["Cu-Cu"])
    assert entry["lj"]["distance"] > 0


def test_overlays_follow_the_selection(reports):
    view = RDFComparison(reports)
    (overlay,) = view.overlays()
    labels = [c.label for c in overlay]
    assert labels[0] == REFERENCE and len(labels) == 3
    assert all(isinstance(c, hv.Curve) for c in overlay)
    assert labels[1].startswith("exact") and "Δ 0.00 Å" in labels[1]
    view.selected = ["lj"]
    (overlay,) = view.overlays()
    assert [c.label.split()[0] for c in overlay] == [REFERENCE, "lj"]
    lj_curve = list(overlay)[1]
    np.testing.assert_allclose(lj_curve.dimension_values("g(r)"), reports["lj"].rdf.g["Cu-Cu"])
    view.pairs = []
    assert view.overlays() == []


def test_renders_to_bokeh_and_accepts_json_reports(reports):
    as_json = {name: json.loads(json.dumps(rep.to_dict())) for name, rep in reports.items()}
    view = RDFComparison(as_json)
    assert view.curves["Cu-Cu"]["lj"]["verdict"] == reports["lj"].verdict
    root = view.__panel__().get_root()
    assert root is not None
    plot = hv.render(hv.Layout(view.overlays()), backend="bokeh")
    assert len(plot.children) >= 1


def test_bad_reports_are_refused(reports):
    with pytest.raises(ParameterError, match="at least one"):
        rdf_curves({})
    with pytest.raises(ParameterError, match="MDCheckReport"):
        rdf_curves({"x": 3})
    other_bins = md_check(EMT(), bulk("Cu", cubic=True).repeat(3), EMT(), **{**SETTINGS, "n_bins": 20})
    with pytest.raises(ParameterError, match="bins"):
        rdf_curves({"a": reports["exact"], "b": other_bins})
