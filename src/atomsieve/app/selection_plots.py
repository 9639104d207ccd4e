"""Plots of the selection panel (Bokeh, updated in place): histogram, threshold curve, 2-D grid, violins."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, LinearAxis, LinearColorMapper, Range1d, Span
from bokeh.plotting import figure
from panel.viewable import Viewer

from atomsieve.app.live import LiveMarkdown
from atomsieve.app.notify import UiScheduler, guarded
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.studies_state import StudiesState

FULL_COLOR, SELECTED_COLOR, ATOMS_COLOR = "#9aa5b1", "#2f6f9f", "#d9822b"


def _figure(title: str, x_label: str, y_label: str, height: int = 300, **kw):
    fig = figure(title=title, height=height, sizing_mode="stretch_width", toolbar_location="right",
                 tools="pan,wheel_zoom,box_zoom,reset,save", **kw)
    fig.xaxis.axis_label, fig.yaxis.axis_label = x_label, y_label
    fig.title.text_font_size = "11pt"
    return fig


class FeatureHistogram(Viewer):
    """One symmetry function: the whole dataset vs the selected structures, fixed bins (Fig. 2b)."""

    selection = param.ClassSelector(class_=SelectionState)

    def __init__(self, **params):
        super().__init__(**params)
        self.picker = pn.widgets.Select(name="Symmetry function", width=320)
        self.source = ColumnDataSource({"left": [], "right": [], "full": [], "selected": []})
        fig = _figure("", "symmetry function value (min-max scaled)", "fraction of atoms",
                      y_range=Range1d(0, 1))
        fig.quad(left="left", right="right", bottom=0, top="full", source=self.source, color=FULL_COLOR,
                 alpha=0.55, legend_label="whole dataset")
        fig.quad(left="left", right="right", bottom=0, top="selected", source=self.source, fill_alpha=0.0,
                 line_color=SELECTED_COLOR, line_width=2, legend_label="selected structures")
        fig.legend.location = "top_right"
        self.figure = fig
        fig.css_classes = ["histogram"]
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.schedule = UiScheduler(self.pane)
        self.picker.param.watch(self._pick, "value")
        sel = self.selection
        sel.param.watch(lambda *_e: self.schedule(self.refresh), ["outcome", "feature_index", "focus"])
        sel.features_state.param.watch(lambda *_e: self.schedule(self._options), ["features"])
        self._options()

    def _options(self) -> None:
        feats = self.selection.features
        if feats is None:
            return
        names = feats.feature_names or [f"G{i}" for i in range(feats.n_features)]
        self._updating = True
        try:
            self.picker.options = {f"{i}: {n}": i for i, n in enumerate(names)}
            self.picker.value = self.selection.feature_index
        finally:
            self._updating = False
        self.refresh()

    def _pick(self, event) -> None:
        if event.new is not None and not getattr(self, "_updating", False):
            self.selection.feature_index = int(event.new)

    def refresh(self) -> None:
        sel = self.selection
        if not sel.outcome_is_current():
            return
        hist = sel.histogram()
        edges = hist["edges"]
        self.source.data = {"left": edges[:-1], "right": edges[1:], "full": hist["full"],
                            "selected": hist["selected"]}
        self.figure.y_range.end = 1.08 * max(hist["full"].max(), hist["selected"].max(), 1e-3)
        self.figure.title.text = (f"{sel.focus} atoms: {hist['n_full']:,} in the dataset, "
                                  f"{hist['n_selected']:,} in the selection")
        if self.picker.value != sel.feature_index:
            self.picker.value = sel.feature_index

    def __panel__(self):
        return pn.Column(self.picker, self.pane, sizing_mode="stretch_width", name="Histogram")


class ThresholdCurve(Viewer):
    """Structures and atoms selected vs the focus element's threshold, a marker at the slider (Fig. 2a)."""

    studies = param.ClassSelector(class_=StudiesState)

    def __init__(self, **params):
        super().__init__(**params)
        self.source = ColumnDataSource({"threshold": [], "structures": [], "atoms": []})
        fig = _figure("", "threshold", "selected structures", y_range=Range1d(0, 1))
        self.atoms_range = Range1d(0, 1)
        fig.extra_y_ranges = {"atoms": self.atoms_range}
        fig.add_layout(LinearAxis(y_range_name="atoms", axis_label="selected atoms"), "right")
        fig.line("threshold", "structures", source=self.source, color=SELECTED_COLOR, line_width=2,
                 legend_label="structures")
        fig.scatter("threshold", "structures", source=self.source, color=SELECTED_COLOR, size=6)
        self.structures_range = fig.y_range
        fig.line("threshold", "atoms", source=self.source, color=ATOMS_COLOR, line_width=2,
                 y_range_name="atoms", legend_label="atoms", line_dash="dashed")
        self.marker = Span(location=0.0, dimension="height", line_color="#c0392b", line_width=2)
        fig.add_layout(self.marker)
        fig.legend.location = "top_right"
        self.figure = fig
        fig.css_classes = ["threshold-curve"]
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.schedule = UiScheduler(self.pane)
        self.run_button = pn.widgets.Button(name="Recompute curve", width=160)
        self.run_button.on_click(lambda *_e: self.start())
        self.progress = pn.indicators.Progress(value=0, max=100, width=200, visible=False, align="center")
        st = self.studies
        st.param.watch(lambda *_e: self.schedule(self.refresh), ["curve", "progress", "running"])
        st.selection.param.watch(lambda *_e: self.schedule(self.move_marker), ["thresholds", "focus"])
        st.selection.param.watch(lambda *_e: self.schedule(self._maybe_start), ["outcome"])
        self._last_inputs = None
        self._drawn = None
        self.refresh()  # built after a study ran (a notebook): show it now

    def _curve_inputs(self) -> tuple:
        sel = self.studies.selection
        others = tuple(sorted((e, t) for e, t in sel.thresholds.items() if e != sel.focus))
        return id(sel.features), sel.focus, others, sel.seed, sel.shuffle

    def _maybe_start(self) -> None:
        """Recompute the curve once a selection is shown and the curve's inputs changed."""
        sel = self.studies.selection
        if sel.features is None or not sel.focus or sel.outcome is None:
            return
        inputs = self._curve_inputs()
        if inputs != self._last_inputs:
            self._last_inputs = inputs
            self.start()

    def start(self) -> None:
        if self.studies.selection.features is not None:
            guarded("Threshold curve", self.studies.run_curve)

    def move_marker(self) -> None:
        sel = self.studies.selection
        self.marker.location = float(sel.thresholds.get(self.studies.curve_element or sel.focus, 0.0))

    def refresh(self) -> None:
        st = self.studies
        data = st.curve
        running = "curve" in st.running
        self.progress.visible = running
        self.progress.value = int(100 * st.progress.get("curve", 0.0))
        if data is self._drawn:
            self.move_marker()
            return  # another study's progress: nothing to redraw
        self._drawn = data
        order = np.argsort(data.get("threshold", []), kind="stable")
        self.source.data = {k: [data[k][i] for i in order] if k in data else []
                            for k in ("threshold", "structures", "atoms")}
        if data.get("atoms"):
            self.atoms_range.end = 1.05 * max(data["atoms"])
            self.structures_range.end = 1.05 * max(data["structures"])
        self.figure.title.text = (f"Threshold of {st.curve_element} varied, others fixed "
                                  f"({len(data.get('threshold', []))} LE-bank fits)" if data else "")
        self.move_marker()

    def __panel__(self):
        return pn.Column(pn.Row(self.run_button, self.progress), self.pane, sizing_mode="stretch_width",
                         name="Threshold curve")


class ThresholdGrid(Viewer):
    """Selected structures over two elements' thresholds, the current point marked (Fig. 4)."""

    studies = param.ClassSelector(class_=StudiesState)

    def __init__(self, **params):
        super().__init__(**params)
        self.first = pn.widgets.Select(name="x element", width=100)
        self.second = pn.widgets.Select(name="y element", width=100)
        self.run_button = pn.widgets.Button(name="Compute grid", button_type="primary", align="end")
        self.run_button.on_click(lambda *_e: self.start())
        self.source = ColumnDataSource({"x": [], "y": [], "structures": [], "label": [], "w": [], "h": []})
        self.current = ColumnDataSource({"x": [], "y": []})
        self.mapper = LinearColorMapper(palette="Viridis256", low=0, high=1)
        fig = _figure("", "threshold", "threshold", height=340)
        fig.rect("x", "y", width="w", height="h", source=self.source,
                 fill_color={"field": "structures", "transform": self.mapper}, line_color=None)
        fig.text("x", "y", text="label", source=self.source, text_align="center", text_baseline="middle",
                 text_font_size="9pt", text_color="white")
        fig.scatter("x", "y", source=self.current, marker="x", size=18, line_width=3, color="#c0392b")
        self.figure = fig
        self.figure_pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.pane = pn.Column(self.figure_pane, sizing_mode="stretch_width", css_classes=["threshold-grid"])
        self.schedule = UiScheduler(self.figure_pane)
        self.message = LiveMarkdown("", margin=(0, 10))
        st = self.studies
        st.param.watch(lambda *_e: self.schedule(self.refresh), ["grid"])
        st.selection.param.watch(lambda *_e: self.schedule(self.move_marker), ["thresholds"])
        st.selection.features_state.param.watch(lambda *_e: self.schedule(self._options), ["features"])
        self._options()
        self.refresh()  # built after a grid was computed: show it now

    def _options(self) -> None:
        elements = self.studies.selection.elements
        self.first.options = self.second.options = elements
        if len(elements) >= 2:
            self.first.value, self.second.value = elements[0], elements[1]
        self.message.object = ("" if len(elements) >= 2 else
                               "The grid needs a dataset with two or more elements (this one has "
                               f"{', '.join(elements) or 'none yet'}).")
        self.run_button.disabled = len(elements) < 2
        self.pane.visible = len(elements) >= 2

    def start(self) -> None:
        if self.first.value == self.second.value:
            from atomsieve.app.notify import notify

            notify("Threshold grid: pick two different elements", "warning")
            return
        guarded("Threshold grid", self.studies.run_grid, self.first.value, self.second.value)

    def refresh(self) -> None:
        st = self.studies
        grid = st.grid
        if not grid or len(st.grid_elements) != 2:
            if len(self.source.data["x"]):
                self.source.data = {"x": [], "y": [], "structures": [], "label": [], "w": [], "h": []}
                self.current.data = {"x": [], "y": []}
            return
        a, b = st.grid_elements
        xs, ys, counts = grid[f"T_{a}"], grid[f"T_{b}"], grid["structures"]
        step_x = np.diff(sorted(set(xs))).min() if len(set(xs)) > 1 else 0.1
        step_y = np.diff(sorted(set(ys))).min() if len(set(ys)) > 1 else 0.1
        self.mapper.low, self.mapper.high = min(counts), max(max(counts), min(counts) + 1)
        self.source.data = {"x": xs, "y": ys, "structures": counts, "label": [str(c) for c in counts],
                            "w": [step_x] * len(xs), "h": [step_y] * len(ys)}
        self.move_marker()
        self.figure.xaxis.axis_label, self.figure.yaxis.axis_label = f"threshold {a}", f"threshold {b}"
        self.figure.title.text = f"Selected structures over the thresholds of {a} and {b}"

    def move_marker(self) -> None:
        """Mark the current thresholds on the grid (nothing to do before a grid exists)."""
        st = self.studies
        if not st.grid or len(st.grid_elements) != 2:
            return
        a, b = st.grid_elements
        t = st.selection.thresholds
        self.current.data = {"x": [t.get(a, 0.0)], "y": [t.get(b, 0.0)]}

    def __panel__(self):
        return pn.Column(pn.Row(self.first, self.second, self.run_button), self.message, self.pane,
                         sizing_mode="stretch_width", name="Two-element grid")


def violin_outline(values, n: int = 60) -> tuple[list[float], list[float]]:
    """Half-widths (normalised to 0.4) of a Gaussian KDE of ``values`` over their range, and the grid."""
    values = np.asarray(values, dtype=float)
    if len(values) < 3 or np.ptp(values) == 0:
        return [], []
    from scipy.stats import gaussian_kde

    grid = np.linspace(values.min(), values.max(), n)
    density = gaussian_kde(values)(grid)
    return (0.4 * density / density.max()).tolist(), grid.tolist()


class ShuffleViolins(Viewer):
    """Counts over seeded shuffles of the visiting order, computed in the background (Fig. 2c)."""

    studies = param.ClassSelector(class_=StudiesState)
    columns = ("structures", "atoms", "bank_size")

    def __init__(self, **params):
        super().__init__(**params)
        self.run_button = pn.widgets.Button(name="Run shuffle study (20 seeds)", button_type="primary")
        self.cancel_button = pn.widgets.Button(name="Cancel", button_type="light", width=90)
        self.run_button.on_click(lambda *_e: guarded("Shuffle study", self.studies.run_shuffles))
        self.cancel_button.on_click(lambda *_e: self.studies.cancel("shuffles"))
        self.progress = pn.indicators.Progress(value=0, max=100, width=200, visible=False, align="center")
        self.sources, self.outlines, figs = {}, {}, []
        for col in self.columns:
            fig = _figure(col.replace("_", " "), "", "count", height=280, width=220)
            fig.xaxis.visible = False
            self.outlines[col] = ColumnDataSource({"x": [], "y": []})
            self.sources[col] = ColumnDataSource({"x": [], "y": []})
            fig.patch("x", "y", source=self.outlines[col], fill_color=SELECTED_COLOR, fill_alpha=0.35,
                      line_color=SELECTED_COLOR)
            fig.scatter("x", "y", source=self.sources[col], size=5, color="#1f3b57", alpha=0.8)
            figs.append(fig)
        self.figure_panes = [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in figs]
        self.pane = pn.Row(*self.figure_panes, sizing_mode="stretch_width", css_classes=["shuffle-violins"])
        self.schedule = UiScheduler(*self.figure_panes)
        self.caption = LiveMarkdown("Counts of the LE-bank selection over seeded shuffles of the order "
                                        "in which structures are visited.", margin=(0, 10))
        self.pane.visible = False
        self._drawn = None
        self.studies.param.watch(lambda *_e: self.schedule(self.refresh), ["shuffles", "progress", "running"])
        self.refresh()  # built after a shuffle study ran: show it now

    def refresh(self) -> None:
        st = self.studies
        data = st.shuffles
        running = "shuffles" in st.running
        self.progress.visible = running
        self.progress.value = int(100 * st.progress.get("shuffles", 0.0))
        if data is self._drawn:
            return  # another study's progress: nothing to redraw
        self._drawn = data
        rng = np.random.default_rng(0)
        for col in self.columns:
            values = data.get(col, [])
            jitter = rng.uniform(-0.12, 0.12, len(values)).tolist()
            self.sources[col].data = {"x": jitter, "y": list(values)}
            half, grid = violin_outline(values)
            outline_x = [*half, *[-h for h in reversed(half)]]
            self.outlines[col].data = {"x": outline_x, "y": [*grid, *reversed(grid)]}
        self.pane.visible = bool(data.get("structures"))
        n = len(data.get("structures", []))
        if n:
            s = np.asarray(data["structures"])
            t = ", ".join(f"{e} {v:.3f}" for e, v in sorted(st.shuffle_thresholds.items()))
            self.caption.object = (f"{n} shuffled runs at thresholds {t}: structures {s.mean():.1f} ± "
                                   f"{s.std():.1f} (min {s.min()}, max {s.max()})")

    def __panel__(self):
        return pn.Column(pn.Row(self.run_button, self.cancel_button, self.progress), self.caption, self.pane,
                         sizing_mode="stretch_width", name="Shuffle robustness")

