"""Environment map: a 2-D PCA of per-atom fingerprints with the LE bank highlighted; click a structure."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, TapTool
from bokeh.plotting import figure
from panel.viewable import Viewer

from atomsieve.app.live import LiveMarkdown
from atomsieve.app.notify import UiScheduler
from atomsieve.app.selection_plots import SELECTED_COLOR
from atomsieve.app.selection_state import SelectionState, params_digest
from atomsieve.app.structure_view import StructureViewer
from atomsieve.keyed_cache import KeyedCache

#: Above this many atoms the cloud is drawn as a density image instead of one glyph per atom.
RASTER_ABOVE = 20_000
RASTER_BINS = 300
#: Above this many structures not every structure gets a ring (59,412 rings at 10^6 atoms cover the
#: density image in one grey blob): only the selection (a seeded sample of at most
#: :data:`MAX_SELECTED_RINGS`) and a seeded sample of :data:`SAMPLE_RINGS` of the others.
RINGS_ABOVE = 2_000
MAX_SELECTED_RINGS = 2_000
SAMPLE_RINGS = 300

_PROJECTIONS = KeyedCache(max_entries=4)
_FORMULAS = KeyedCache(max_entries=4)


def structure_formulas(dataset) -> list[str]:
    """Chemical formula of every structure, cached process-wide on the dataset's content hash."""
    return _FORMULAS.get_or_compute(dataset.content_hash(), dataset.formulas)


def pca_projection(features, key: tuple) -> dict:
    """PCA (2 components) of the fingerprints: the fitted mean and axes, atom and structure coordinates.

    Cached process-wide on ``key`` (dataset hash, descriptor digest).
    """
    return _PROJECTIONS.get_or_compute(key, lambda: _pca(features))


def _pca(features) -> dict:
    from atomsieve.app.projection import plane_projection

    return plane_projection(features)  # fitted on a sample above 2e5 atoms, projected in chunks


def ring_structures(chosen: np.ndarray, *, rings_above: int | None = None, max_selected: int | None = None,
                    sample: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of the structures drawn as rings, given the mask of selected structures ``chosen``:
    every structure up to ``rings_above`` structures; beyond, the selected ones (a seeded sample of
    ``max_selected`` when there are more) and a seeded sample of ``sample`` unselected ones (defaults:
    :data:`RINGS_ABOVE`, :data:`MAX_SELECTED_RINGS`, :data:`SAMPLE_RINGS`). Sorted;
    the same draw for the same selection, so the rings do not jump between slider moves.

    >>> chosen = np.zeros(10_000, dtype=bool); chosen[[5, 50, 500]] = True
    >>> rings = ring_structures(chosen, sample=10)
    >>> len(rings), set(np.flatnonzero(chosen)) <= set(rings.tolist())
    (13, True)
    >>> len(ring_structures(chosen[:1000]))
    1000
    """
    rings_above = RINGS_ABOVE if rings_above is None else rings_above
    max_selected = MAX_SELECTED_RINGS if max_selected is None else max_selected
    sample = SAMPLE_RINGS if sample is None else sample
    chosen = np.asarray(chosen, dtype=bool)
    if len(chosen) <= rings_above:
        return np.arange(len(chosen))
    selected, others = np.flatnonzero(chosen), np.flatnonzero(~chosen)
    rng = np.random.default_rng(seed)
    if len(selected) > max_selected:
        selected = rng.choice(selected, max_selected, replace=False)
    if len(others) > sample:
        others = np.random.default_rng(seed + 1).choice(others, sample, replace=False)
    return np.sort(np.concatenate([selected, others]))


def density_image(points: np.ndarray, bins: int = RASTER_BINS) -> dict:
    """Log counts of ``points`` on a ``bins`` x ``bins`` grid with its extent (the rasterised cloud).

    >>> img = density_image(np.random.default_rng(0).normal(size=(1000, 2)), bins=10)
    >>> img["image"].shape, img["dw"] > 0
    ((10, 10), True)
    """
    counts, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=bins)
    image = np.log1p(counts.T)
    image[counts.T == 0] = np.nan
    return {"image": image, "x": float(xe[0]), "y": float(ye[0]), "dw": float(xe[-1] - xe[0]),
            "dh": float(ye[-1] - ye[0])}


class EnvironmentMap(Viewer):
    """Every atom's fingerprint in the plane of its first two principal components.

    Grey: all atoms (a density image above :data:`RASTER_ABOVE` atoms); blue: the LE bank;
    rings: structure means (above :data:`RINGS_ABOVE` structures only the selection and a sample of
    the others, see :func:`ring_structures`) — click one to show it in ``structure``.
    """

    selection = param.ClassSelector(class_=SelectionState)
    structure = param.ClassSelector(class_=StructureViewer, allow_None=True)
    showing = param.Boolean(default=True, doc="the map is on screen; when False, updates wait until it is")

    def __init__(self, **params):
        super().__init__(**params)
        self.atoms_source = ColumnDataSource({"x": [], "y": []})
        self.image_source = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        self.bank_source = ColumnDataSource({"x": [], "y": []})
        self.structure_source = ColumnDataSource({"x": [], "y": [], "index": [], "formula": [],
                                                  "selected": [], "color": []})
        fig = figure(height=520, sizing_mode="stretch_width", output_backend="webgl",
                     tools="pan,wheel_zoom,box_zoom,reset,save",
                     title="Fingerprints, first two principal components")
        fig.xaxis.axis_label, fig.yaxis.axis_label = "PC 1", "PC 2"
        fig.scatter("x", "y", source=self.atoms_source, size=3, color="#9aa5b1", alpha=0.35,
                    legend_label="atoms")
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image_source,
                  color_mapper=LinearColorMapper(palette="Greys256", nan_color=(0, 0, 0, 0)))
        fig.scatter("x", "y", source=self.bank_source, size=4, color=SELECTED_COLOR, alpha=0.7,
                    legend_label="LE bank")
        rings = fig.scatter("x", "y", source=self.structure_source, size=11, fill_alpha=0.0, line_width=2,
                            line_color="color", legend_label="structures (click)")
        tooltips = [("structure", "@index"), ("formula", "@formula"), ("selected", "@selected")]
        fig.add_tools(TapTool(renderers=[rings]), HoverTool(renderers=[rings], tooltips=tooltips))
        fig.legend.location = "top_right"
        fig.legend.click_policy = "hide"
        fig.css_classes = ["environment-map"]
        self.figure = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.caption = LiveMarkdown("", margin=(0, 10))
        self.schedule = UiScheduler(self.pane)
        self.structure_source.selected.on_change("indices", self._on_tap)
        sel = self.selection
        sel.param.watch(lambda *_e: self.schedule(self.refresh), ["outcome"])
        self.param.watch(lambda e: self.schedule(self.refresh) if e.new else None, ["showing"])
        self._drawn_key = None
        self._drawn_rings = None
        self._projecting = None
        self.refresh()

    def _on_tap(self, _attr, _old, new) -> None:
        if new and self.structure is not None:
            self.structure.index = int(self.structure_source.data["index"][new[0]])

    def refresh(self) -> None:
        sel = self.selection
        feats = sel.features
        if feats is None or not sel.outcome_is_current():
            return
        key = (sel.dataset.content_hash(), params_digest(feats.params))
        proj = self._projection(feats, key)
        if proj is None:
            return  # being computed off the UI thread; this runs again when it is ready
        if not self.showing:
            return  # a hidden tab: redrawing 20,000 points per slider move costs the browser ~1 s
        chosen = np.zeros(feats.n_structures, dtype=bool)
        chosen[sel.selected_indices()] = True
        rings = ring_structures(chosen)
        marks = {"selected": ["yes" if c else "no" for c in chosen[rings]],
                 "color": [SELECTED_COLOR if c else "#555555" for c in chosen[rings]]}
        if key != self._drawn_key or not np.array_equal(rings, self._drawn_rings):
            xy = proj["structures"][rings]
            formulas = structure_formulas(sel.dataset)
            self.structure_source.data = {"x": xy[:, 0], "y": xy[:, 1], "index": rings,
                                          "formula": [formulas[i] for i in rings.tolist()], **marks}
            self._drawn_rings = rings
        if key != self._drawn_key:
            self._drawn_key = key
            atoms = proj["atoms"]
            if len(atoms) > RASTER_ABOVE:
                self.atoms_source.data = {"x": [], "y": []}
                img = density_image(atoms)
                self.image_source.data = {k: [v] for k, v in img.items()}
            else:
                self.image_source.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
                self.atoms_source.data = {"x": atoms[:, 0], "y": atoms[:, 1]}
            ev = proj["explained"]
            self.figure.xaxis.axis_label = f"PC 1 ({100 * ev[0]:.0f} % of the variance)"
            self.figure.yaxis.axis_label = f"PC 2 ({100 * ev[1]:.0f} % of the variance)"
        bank = sel.outcome.bank_for(feats)  # this session's features (the cached outcome may hold others')
        bank_xy = proj["pca"].transform(bank.vectors) if bank is not None and len(bank) else np.zeros((0, 2))
        self.bank_source.data = {"x": bank_xy[:, 0], "y": bank_xy[:, 1]}
        if marks["selected"] != list(self.structure_source.data["selected"]):
            self.structure_source.data.update(marks)  # only the changed columns travel
        drawn = "a density image" if len(proj["atoms"]) > RASTER_ABOVE else "one point each"
        if len(rings) == len(chosen):
            ringed = f"{chosen.sum()} of {len(chosen)} structures selected (blue rings)"
        else:
            n_sel = int(chosen[rings].sum())
            shown = "" if n_sel == chosen.sum() else f", {n_sel:,} of them drawn"
            ringed = (f"{chosen.sum():,} of {len(chosen):,} structures selected (blue rings{shown}); "
                      f"grey rings: a sample of {len(rings) - n_sel:,} others")
        self.caption.object = (f"{feats.n_atoms:,} atoms ({drawn}); {len(bank_xy):,} bank environments; "
                               f"{ringed}. Click a ring to open that structure.")

    def _projection(self, features, key: tuple) -> dict | None:
        """The cached projection; else computed now (synchronous use) or started in the background."""
        hit = _PROJECTIONS.get(key)
        if hit is not None or self.selection.synchronous:
            return hit or pca_projection(features, key)
        if self._projecting != key:
            self._projecting = key
            self.selection.background.submit(
                "environment map", lambda cancelled, emit: pca_projection(features, key),
                on_result=lambda _proj: self.schedule(self.refresh))
        return None

    def __panel__(self):
        parts = [self.caption, self.pane]
        if self.structure is not None:
            return pn.Row(pn.Column(*parts, sizing_mode="stretch_width"),
                          pn.Column(self.structure, width=420), sizing_mode="stretch_width", name="Map")
        return pn.Column(*parts, sizing_mode="stretch_width", name="Map")
