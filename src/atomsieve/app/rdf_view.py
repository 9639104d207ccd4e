"""Compare panel: radial distribution functions of selected models' MD against the reference.

Feed it the :class:`~atomsieve.evaluate.md_check.MDCheckReport` of each model (from
:func:`atomsieve.evaluate.md_check.md_check`, ``md_check_row(..., keep_report=True)`` or the
``md-check`` command's JSON, i.e. ``report.to_dict()``). One HoloViews (Bokeh) plot per element pair
overlays g(r) of the chosen models on the reference's g(r) (black, dashed); legend entries carry each
model's verdict and its RDF distance ∫|g − g_ref| dr (Å) for that pair. Models whose verdict is not
``ok`` are marked, so a potential with a hole is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.errors import ParameterError

REFERENCE = "reference"


def _as_dict(report) -> dict[str, Any]:
    if isinstance(report, Mapping):
        out = dict(report)
    elif hasattr(report, "to_dict"):
        out = report.to_dict()
    else:
        raise ParameterError("an RDF report must be an MDCheckReport or its to_dict(); "
                             f"got {type(report).__name__}")
    if not out.get("rdf") or not out.get("reference_rdf"):
        raise ParameterError("an RDF report needs both 'rdf' and 'reference_rdf' (the run may have stopped "
                             "before any frame was kept)")
    return out


def rdf_curves(reports: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per pair, per model (and ``"reference"``): ``r`` (Å), ``g``, ``verdict`` and ``distance`` (Å).

    The reference is the first report's; every report must share its bins.

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> from atomsieve.evaluate.md_check import md_check
    >>> rep = md_check(EMT(), bulk("Cu", cubic=True).repeat(3), EMT(), temperature=300, n_steps=10,
    ...                equilibration_steps=0, sample_every=5, r_max=5.0, n_bins=25, nve_steps=0)
    >>> curves = rdf_curves({"emt": rep})
    >>> sorted(curves["Cu-Cu"]), curves["Cu-Cu"]["emt"]["distance"]
    (['emt', 'reference'], 0.0)
    """
    if not reports:
        raise ParameterError("no RDF reports to compare; give at least one model's MD-check report")
    dicts = {str(name): _as_dict(rep) for name, rep in reports.items()}
    first = next(iter(dicts.values()))["reference_rdf"]
    r_ref = np.asarray(first["r"], dtype=float)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for pair, g in first["g"].items():
        out[pair] = {REFERENCE: {"r": r_ref, "g": np.asarray(g, dtype=float), "verdict": "", "distance": 0.0}}
    for name, rep in dicts.items():
        r = np.asarray(rep["rdf"]["r"], dtype=float)
        if r.shape != r_ref.shape or not np.allclose(r, r_ref):
            raise ParameterError(f"report {name!r} has RDF bins different from the reference's "
                                 f"({len(r)} vs {len(r_ref)} bins); run every check with the same r_max "
                                 "and n_bins")
        for pair, g in rep["rdf"]["g"].items():
            entry = out.setdefault(pair, {REFERENCE: {"r": r_ref, "g": np.zeros_like(r_ref), "verdict": "",
                                                      "distance": 0.0}})
            distance = (rep.get("rdf_distance") or {}).get(pair)
            entry[name] = {"r": r, "g": np.asarray(g, dtype=float), "verdict": rep.get("verdict", ""),
                           "distance": float("nan") if distance is None else float(distance)}
    return out


class RDFComparison(Viewer):
    """g(r) of selected models' MD runs against the reference, one plot per element pair.

    Parameters
    ----------
    reports : dict of str to MDCheckReport (or its ``to_dict()``)
        Model label -> MD-check report; the first report's reference RDF is drawn as the reference.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> from atomsieve.evaluate.md_check import md_check
    >>> rep = md_check(EMT(), bulk("Cu", cubic=True).repeat(3), EMT(), temperature=300, n_steps=10,
    ...                equilibration_steps=0, sample_every=5, r_max=5.0, n_bins=25, nve_steps=0)
    >>> view = RDFComparison({"emt": rep})
    >>> view.selected, view.pairs
    (['emt'], ['Cu-Cu'])
    """

    selected = param.ListSelector(default=[], objects=[], doc="Models to draw.")
    pairs = param.ListSelector(default=[], objects=[], doc="Element pairs to draw.")

    def __init__(self, reports: Mapping[str, Any], **params):
        self._curves = rdf_curves(reports)
        self._models = [str(name) for name in reports]
        super().__init__(**params)
        self.param.selected.objects = list(self._models)
        self.param.pairs.objects = list(self._curves)
        if not self.selected:
            self.selected = list(self._models)
        if not self.pairs:
            self.pairs = list(self._curves)

    @property
    def curves(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What :func:`rdf_curves` computed from the reports."""
        return self._curves

    def overlays(self) -> list:
        """One ``holoviews.Overlay`` per chosen pair: the reference and the chosen models' curves."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh options used below)

        plots = []
        for pair in self.pairs:
            entry = self._curves[pair]
            ref = entry[REFERENCE]
            layers = [hv.Curve((ref["r"], ref["g"]), "r (Å)", "g(r)", label=REFERENCE).opts(
                color="black", line_dash="dashed", line_width=2)]
            for name in self.selected:
                if name not in entry:
                    continue
                c = entry[name]
                mark = "" if c["verdict"] in ("ok", "") else f" [{c['verdict']}]"
                label = f"{name}{mark} (Δ {c['distance']:.2f} Å)"
                layers.append(hv.Curve((c["r"], c["g"]), "r (Å)", "g(r)", label=label).opts(line_width=1.5))
            plots.append(hv.Overlay(layers).opts(title=pair, width=420, height=300,
                                                 legend_position="top_right", show_grid=True))
        return plots

    @param.depends("selected", "pairs")
    def _plots(self):
        import holoviews as hv

        plots = self.overlays()
        if not plots:
            return pn.pane.Markdown("Choose at least one element pair.")
        return pn.pane.HoloViews(hv.Layout(plots).cols(min(3, len(plots))), backend="bokeh")

    def __panel__(self):
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        widgets = pn.Row(
            pn.widgets.MultiChoice.from_param(self.param.selected, name="models"),
            pn.widgets.CheckButtonGroup.from_param(self.param.pairs, name="pairs"),
        )
        return pn.Column("### RDFs from MD against the reference", widgets, self._plots)
