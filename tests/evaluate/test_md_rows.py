"""MD verdicts in learning-curve rows (atomsieve.evaluate.md_rows and learning_curves(md_check=True))."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from atomsieve.datasets import load_default
from atomsieve.descriptors import preset
from atomsieve.errors import ParameterError
from atomsieve.evaluate import learning_curves
from atomsieve.evaluate.context import build_context
from atomsieve.evaluate.md_rows import (
    MD_COLUMNS,
    md_check_row,
    md_system,
    resolve_md_options,
    selection_md_row,
    selection_potential,
)
from atomsieve.evaluate.selection import select

TINY_MD = {"temperature": 600.0, "n_steps": 10, "equilibration_steps": 4, "sample_every": 2,
           "nve_steps": 4, "r_max": 3.5, "n_bins": 35}


@pytest.fixture(scope="module")
def germanium():
    pool = load_default("test").subset(range(8))
    context = build_context(pool, descriptor=preset(None, ["Ge"], r_cut=3.0))
    return pool, context


def test_reference_calculator_against_itself_scores_zero():
    cell = bulk("Cu", cubic=True).repeat(3)
    options = resolve_md_options({"system": cell, "reference": EMT(), **TINY_MD, "r_max": 5.0})
    assert options["system"] is not cell and len(options["system"]) == 108
    assert len(options["reference"]) == 4  # samples at steps 4, 6, 8, 10
    row = md_check_row(EMT(), **options)
    assert row == {"md_verdict": "ok", "rdf_distance": 0.0}


@pytest.mark.slow
def test_learning_curves_md_columns_match_a_direct_check(germanium):
    pool, context = germanium
    md_options = {"system": pool.atoms[0], **TINY_MD, "n_steps": 4, "equilibration_steps": 2,
                  "nve_steps": 2}
    table = learning_curves(pool, methods=["random"], sizes=[4], context=context, reference=False,
                            md_check=True, md_options=md_options)
    assert list(table.columns[-2:]) == list(MD_COLUMNS)
    row = table.iloc[0]
    assert row.md_verdict in ("ok", "unphysical", "blew-up")
    # The row's model is the one the curve scored: same predictions, same MD.
    selected = select(context.features, "random", 4, 0, pool)[0]
    potential = selection_potential(context, selected, seed=0)
    assert 1000 * potential.model.score(context.prepared)["rmse_f"] == pytest.approx(row.rmse_f_pred)
    direct = selection_md_row(context, selected, 0, **resolve_md_options(md_options, pool))
    assert direct["md_verdict"] == row.md_verdict
    if np.isfinite(direct["rdf_distance"]):
        assert direct["rdf_distance"] == pytest.approx(row.rdf_distance)
        assert direct["rdf_distance"] >= 0


def test_md_check_is_off_by_default(germanium):
    pool, context = germanium
    table = learning_curves(pool, methods=["random"], sizes=[4], context=context, reference=False)
    assert not set(MD_COLUMNS) & set(table.columns)


def test_keep_report_carries_rdfs():
    cell = bulk("Cu", cubic=True).repeat(3)
    row = md_check_row(EMT(), EMT(), cell, keep_report=True, **{**TINY_MD, "r_max": 5.0})
    report = row["md_report"]
    assert report.rdf is not None and report.reference_rdf is not None
    assert report.rdf.pairs == ["Cu-Cu"]


def test_bad_options_are_refused(germanium):
    pool, _ = germanium
    with pytest.raises(ParameterError, match="md_options has no"):
        resolve_md_options({"steps": 10}, pool)
    with pytest.raises(ParameterError, match="has no setting"):
        md_check_row(EMT(), EMT(), bulk("Cu", cubic=True), n_step=3)
    with pytest.raises(ParameterError, match="MD system"):
        md_system(42)
    with pytest.raises(ParameterError, match="reference"):
        resolve_md_options({"system": bulk("Cu", cubic=True)}, None)
    with pytest.raises(ParameterError, match="Potential"):
        md_check_row(object(), EMT(), bulk("Cu", cubic=True))


def test_default_system_repeats_the_largest_pool_structure(germanium):
    pool, _ = germanium
    atoms = md_system(None, pool)
    assert len(atoms) == 8 * max(len(a) for a in pool.atoms)
    assert md_system(("molten-nacl", 8)).get_chemical_formula() == "Cl4Na4"
