"""The model-error panel of the Selection tab: RMSE cards, "at this size" line, RMSE vs size and vs threshold.

Takes a :class:`~atomsieve.app.model_error_state.ModelErrorState`; every number shown is one of
its fields, so the panel renders the same in the served page and in JupyterLab.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, FactorRange, LinearColorMapper, Range1d, Span
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure
from panel.viewable import Viewer

from atomsieve.app.live import LiveMarkdown, LiveNumber
from atomsieve.app.model_error_state import ModelErrorState
from atomsieve.app.notify import UiScheduler, guarded

#: Display names of the methods.
LABELS = {"lebank": "LE-bank", "fps": "FPS", "cur": "CUR", "random": "random", "energy": "energy-uniform",
          "force": "force-uniform", "cluster": "k-means"}
QUANTITIES = {"force (meV/Å)": ("rmse_f", "meV/Å"), "energy (meV/atom)": ("rmse_e", "meV/atom")}
NAMES = {"rmse_f": "force", "rmse_e": "energy"}
#: The RMSE plot's y range covers the points from this fraction of the current size upwards (tiny
#: selections' errors are orders of magnitude larger and would flatten the region the user is in).
Y_RANGE_FROM = 0.25
MARKER_COLOR = "#d62728"


def label(method: str) -> str:
    return LABELS.get(method, method)


def at_size_text(state: ModelErrorState, column: str = "rmse_f", unit: str = "meV/Å") -> str:
    """The "at this size" line: every method's prediction-set RMSE at the selection's size, best first.

    >>> class S:  # a stand-in with the two fields the line reads
    ...     size_unit, at_size = "structures", {
    ...         "lebank": {"n_selected": 40, "n_atoms": 900, "rmse_f_pred": 120.0},
    ...         "fps": {"n_selected": 40, "n_atoms": 700, "rmse_f_pred": 130.5}}
    >>> at_size_text(S())
    'At this size (40 structures): **LE-bank 120.0** · FPS 130.5 meV/Å (prediction set)'
    """
    rows = state.at_size
    if not rows or "lebank" not in rows:
        return ""
    here = rows["lebank"]
    size = (f"{here['n_selected']:,} structures" if state.size_unit == "structures"
            else f"≈{here['n_atoms']:,} atoms")
    ranked = sorted(rows.items(), key=lambda kv: kv[1][f"{column}_pred"])
    parts = []
    for i, (method, row) in enumerate(ranked):
        text = f"{label(method)} {row[f'{column}_pred']:.1f}"
        if state.size_unit == "atoms" and method != "lebank":
            text += f" ({row['n_selected']} str., {row['n_atoms']:,} at.)"
        parts.append(f"**{text}**" if i == 0 else text)
    return f"At this size ({size}): " + " · ".join(parts) + f" {unit} (prediction set)"


class ModelErrorPanel(Viewer):
    """Cards, the "at this size" line, RMSE vs size (one curve per method, moving marker) and vs threshold."""

    model_error = param.ClassSelector(class_=ModelErrorState)

    def __init__(self, **params):
        super().__init__(**params)
        st = self.model_error
        style = {"title_size": "11pt", "font_size": "22pt", "default_color": "#8c2d19"}
        # NaN shows as "–" (nan_format) until a model has been scored: 0.0 would read as no error.
        self.force = LiveNumber(name="Force RMSE, prediction set", value=float("nan"),
                                format="{value:.1f} meV/Å", css_classes=["card-rmse-f"], **style)
        self.energy = LiveNumber(name="Energy RMSE, prediction set", value=float("nan"),
                                 format="{value:.1f} meV/atom", css_classes=["card-rmse-e"], **style)
        self.text = LiveMarkdown("", margin=(0, 10), css_classes=["model-error-text"])
        self.line = LiveMarkdown("", margin=(0, 10), css_classes=["model-error-at-size"])
        self.status = LiveMarkdown("", margin=(0, 10), styles={"color": "#555", "font-size": "0.85em"},
                                   css_classes=["model-error-status"])
        self.progress = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width", visible=False)
        self.unit = pn.widgets.RadioButtonGroup(options=["structures", "atoms"], value=st.size_unit,
                                                button_type="light", css_classes=["model-error-unit"])
        self.quantity = pn.widgets.RadioButtonGroup(options=list(QUANTITIES), value=next(iter(QUANTITIES)),
                                                    button_type="light")
        self.model = pn.widgets.Select(options=["linear", "bpnn"], value=st.model, width=110,
                                       css_classes=["model-error-model"])
        self.cancel_button = pn.widgets.Button(name="Cancel", disabled=True, width=80,
                                               css_classes=["model-error-cancel"])
        self.unit.param.watch(lambda e: setattr(st, "size_unit", e.new), "value")
        self.model.param.watch(lambda e: setattr(st, "model", e.new), "value")
        # and back: a cancelled network returns the state to the linear model
        st.param.watch(lambda e: self.schedule(lambda: setattr(self.model, "value", e.new)), "model")
        st.param.watch(lambda e: self.schedule(lambda: setattr(self.unit, "value", e.new)), "size_unit")
        self.quantity.param.watch(lambda *_e: self.refresh(), "value")
        self.cancel_button.on_click(lambda *_e: st.cancel())
        self._build_plots()
        self._build_grid()
        self.schedule = UiScheduler(self.size_pane, self.threshold_pane, self.grid_pane)
        st.param.watch(lambda *_e: self.schedule(self.refresh),
                       ["current", "at_size", "curves", "training", "comparing", "ready", "preparing",
                        "progress", "status", "size_unit", "curve_progress"])
        # A move first only marks the numbers as being recomputed; the plots change when they arrive.
        st.selection.param.watch(lambda *_e: self.schedule(self.refresh_text), ["outcome", "busy"])
        st.param.watch(lambda *_e: self.schedule(self.refresh_grid),
                       ["error_grid", "error_grid_elements", "grid_progress"])
        st.selection.features_state.param.watch(lambda *_e: self.schedule(self._grid_options), ["features"])
        self.refresh()
        self._grid_options()

    # -- Fig. 5 ---------------------------------------------------------------------------------------
    def _build_grid(self) -> None:
        self.grid_x = pn.widgets.Select(name="x element", width=110)
        self.grid_y = pn.widgets.Select(name="y element", width=110)
        self.grid_button = pn.widgets.Button(name="Compute error grid", align="end",
                                             css_classes=["model-error-grid-start"])
        self.grid_button.on_click(lambda *_e: guarded("Error grid", self.model_error.run_error_grid,
                                                      self.grid_x.value, self.grid_y.value))
        self.grid_note = LiveMarkdown("", margin=(0, 10), css_classes=["model-error-grid-note"])
        self.grid_source = ColumnDataSource({"x": [], "y": [], "value": [], "n": []})
        self.grid_mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
        fig = figure(height=300, sizing_mode="stretch_width", x_range=FactorRange(), y_range=FactorRange(),
                     tools="hover,save",
                     tooltips=[("force RMSE (meV/Å)", "@value{0.0}"), ("structures", "@n")],
                     title="Prediction-set force RMSE over two thresholds (Fig. 5)")
        fill = {"field": "value", "transform": self.grid_mapper}
        fig.rect("x", "y", 1, 1, source=self.grid_source, fill_color=fill, line_color="white")
        fig.add_layout(ColorBar(color_mapper=self.grid_mapper, title="meV/Å"), "right")
        fig.title.text_font_size = "11pt"
        self.grid_figure = fig
        self.grid_pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.grid_box = pn.Column(
            pn.Row(self.grid_x, self.grid_y, self.grid_button), self.grid_note, self.grid_pane,
            sizing_mode="stretch_width", visible=False)

    def _grid_options(self) -> None:
        elements = self.model_error.selection.elements
        self.grid_box.visible = len(elements) >= 2
        if len(elements) >= 2:
            self.grid_x.options, self.grid_y.options = list(elements), list(elements)
            self.grid_x.value, self.grid_y.value = elements[0], elements[1]

    def refresh_grid(self) -> None:
        st = self.model_error
        grid, pair = st.error_grid, st.error_grid_elements
        if not pair or not grid:
            self.grid_source.data = {"x": [], "y": [], "value": [], "n": []}
            self.grid_note.object = ""
            return
        a, b = pair
        xs = [f"{t:.3g}" for t in grid[f"T_{a}"]]
        ys = [f"{t:.3g}" for t in grid[f"T_{b}"]]
        self.grid_figure.x_range.factors = list(dict.fromkeys(sorted(set(xs), key=float)))
        self.grid_figure.y_range.factors = list(dict.fromkeys(sorted(set(ys), key=float)))
        self.grid_figure.xaxis.axis_label = f"threshold {a}"
        self.grid_figure.yaxis.axis_label = f"threshold {b}"
        values = grid["rmse_f_pred"]
        self.grid_mapper.low, self.grid_mapper.high = min(values), max(values)
        self.grid_source.data = {"x": xs, "y": ys, "value": values, "n": grid["n_selected"]}
        best = int(np.argmin(values))
        self.grid_note.object = (f"{len(values)} points ({st.grid_progress * 100:.0f} %); lowest force RMSE "
                                 f"{values[best]:.1f} meV/Å at {a} {grid[f'T_{a}'][best]:.3g}, "
                                 f"{b} {grid[f'T_{b}'][best]:.3g} ({grid['n_selected'][best]} structures)")

    def _build_plots(self) -> None:
        st = self.model_error
        tools = "pan,wheel_zoom,box_zoom,reset,save"
        fig = figure(height=280, sizing_mode="stretch_width", x_axis_type="log", y_axis_type="log",
                     tools=tools, title="Prediction-set RMSE vs selection size", y_range=Range1d(1, 10))
        fig.title.text_font_size = "11pt"
        self.sources: dict[str, ColumnDataSource] = {}
        for i, method in enumerate(["lebank", *[m for m in st.methods if m != "lebank"]]):
            src = ColumnDataSource({"x": [], "y": []})
            self.sources[method] = src
            color = Category10_10[i % 10]
            width = 3 if method == "lebank" else 2
            fig.line("x", "y", source=src, color=color, line_width=width, legend_label=label(method))
            fig.scatter("x", "y", source=src, color=color, size=5)
        self.marker = ColumnDataSource({"x": [], "y": []}, name="model-error-marker")
        fig.scatter("x", "y", source=self.marker, marker="star", size=20, color=MARKER_COLOR,
                    line_color="black", legend_label="current selection")
        fig.legend.label_text_font_size = "8pt"
        fig.legend.click_policy = "hide"
        fig.add_layout(fig.legend[0], "right")
        fig.css_classes = ["model-error-size"]
        self.size_figure = fig
        tfig = figure(height=280, sizing_mode="stretch_width", tools=tools, y_axis_type="log",
                      title="RMSE vs threshold, element in focus (Fig. 3)")
        tfig.title.text_font_size = "11pt"
        tfig.xaxis.axis_label = "LE-bank threshold"
        self.threshold_sources = {kind: ColumnDataSource({"x": [], "y": []}) for kind in ("pred", "train")}
        for kind, dash in (("pred", "solid"), ("train", "dashed")):
            src = self.threshold_sources[kind]
            name = "prediction set" if kind == "pred" else "training set"
            tfig.line("x", "y", source=src, color="#1f77b4", line_dash=dash, line_width=2, legend_label=name)
            tfig.scatter("x", "y", source=src, color="#1f77b4", size=5)
        self.threshold_span = Span(location=float("nan"), dimension="height", line_color=MARKER_COLOR,
                                   line_width=2)
        tfig.add_layout(self.threshold_span)
        tfig.legend.label_text_font_size = "8pt"
        tfig.css_classes = ["model-error-threshold"]
        self.threshold_figure = tfig
        self.size_pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.threshold_pane = pn.pane.Bokeh(tfig, sizing_mode="stretch_width")
        del st

    def refresh_text(self) -> None:
        """The cards' text and the "at this size" line (cheap: no plot data)."""
        st = self.model_error
        column, unit = QUANTITIES[self.quantity.value]
        cur = st.current
        fresh = st.current_is_fresh
        if cur:
            self.force.value = round(cur["rmse_f_pred"], 1)
            self.energy.value = round(cur["rmse_e_pred"], 1)
            busy = st.training or st.selection.busy or not fresh
            self.text.object = (
                f"{'**training…** ' if busy else ''}{st.model} model trained on the {cur['n_selected']:,} "
                f"selected structures ({cur['n_atoms']:,} atoms): force RMSE {cur['rmse_f_pred']:.1f} meV/Å, "
                f"energy RMSE {cur['rmse_e_pred']:.1f} meV/atom on the prediction set "
                f"(training set {cur['rmse_f_train']:.1f} meV/Å, {cur['rmse_e_train']:.1f} meV/atom)")
            pending = [label(m) for m in st.methods if m not in st.at_size]
            more = f" · computing {', '.join(pending)}…" if st.comparing and pending and fresh else ""
            self.line.object = at_size_text(st, column, unit) + more
        else:
            self.force.value = self.energy.value = float("nan")  # no result (yet) for this dataset
            if st.preparing:
                self.text.object = "**preparing the model input…** the RMSE appears when it is ready"
            elif st.training:
                self.text.object = "**training…**"
            elif not st.ready and st.status:  # preparing stopped without a model input (too large, an error)
                self.text.object = "**no model error for this dataset:** the note below says why"
        self.cancel_button.disabled = not (st.training or st.preparing or st.comparing)

    def refresh(self) -> None:
        """Text, status and every plot."""
        self.refresh_text()
        st = self.model_error
        column, unit = QUANTITIES[self.quantity.value]
        cur = st.current
        self.progress.visible = st.preparing
        self.progress.value = int(100 * st.progress)
        points = len(st.curves)
        curve_note = (f" · curves {st.curve_progress * 100:.0f} % ({points} points)" if points else "")
        self.status.object = (f"{st.status} ({st.progress * 100:.0f} %)" if st.preparing
                              else f"{st.status}{curve_note}")
        x_label = "selected atoms" if st.size_unit == "atoms" else "selected structures"
        self.size_figure.xaxis.axis_label = x_label
        self.size_figure.yaxis.axis_label = f"{NAMES[column]} RMSE ({unit})"
        shown = []
        for method, src in self.sources.items():
            xs, ys = st.series(method, f"{column}_pred")
            if method == "lebank":  # the sweep and the selections the user visited, one per size
                xs, ys = self._lebank_series(st, f"{column}_pred")
            self._set(src, {"x": xs, "y": ys})
            shown += list(zip(xs, ys, strict=True))
        if cur:
            x = float(cur["n_atoms"] if st.size_unit == "atoms" else cur["n_selected"])
            y = float(cur[f"{column}_pred"])
            self._set(self.marker, {"x": [x], "y": [y]})
            near = [v for u, v in shown if u >= Y_RANGE_FROM * x] + [y]
            self.size_figure.y_range.start = 0.9 * min(v for _, v in [*shown, (x, y)])
            self.size_figure.y_range.end = 1.15 * max(near)
        else:
            self._set(self.marker, {"x": [], "y": []})
        curve = st.threshold_curve()
        self.threshold_figure.yaxis.axis_label = f"{NAMES[column]} RMSE ({unit})"
        for kind, src in self.threshold_sources.items():
            self._set(src, {"x": curve["threshold"], "y": curve[f"{column}_{kind}"]})
        focus_t = st.selection.thresholds.get(st.selection.focus)
        self.threshold_span.location = float(focus_t) if focus_t is not None else float("nan")
        self.threshold_figure.title.text = f"RMSE vs {st.selection.focus or ''} threshold (Fig. 3)"

    @staticmethod
    def _set(source: ColumnDataSource, data: dict) -> None:
        """Send a plot's data only when it changed (every slider move refreshes every plot)."""
        if any(list(source.data.get(k, [])) != list(v) for k, v in data.items()):
            source.data = data

    @staticmethod
    def _lebank_series(st: ModelErrorState, column: str) -> tuple[list[float], list[float]]:
        x_key = "n_atoms" if st.size_unit == "atoms" else "n_selected"
        rows = [r for r in st.curves if r["method"] == "lebank"]
        if st.current:
            rows.append(st.current)
        points: dict[float, list[float]] = {}
        for r in rows:
            points.setdefault(float(r[x_key]), []).append(float(r[column]))
        xs = sorted(points)
        return xs, [float(np.mean(points[x])) for x in xs]

    def __panel__(self):
        controls = pn.Row(pn.pane.Markdown("Size in", margin=(8, 5)), self.unit,
                          pn.pane.Markdown("plot", margin=(8, 5)), self.quantity,
                          pn.pane.Markdown("model", margin=(8, 5)), self.model, self.cancel_button,
                          sizing_mode="stretch_width")
        return pn.Column(
            pn.Row(self.force, self.energy, sizing_mode="stretch_width"),
            self.text, self.line, controls, self.progress, self.status,
            pn.Row(self.size_pane, self.threshold_pane, sizing_mode="stretch_width"),
            self.grid_box,
            sizing_mode="stretch_width", name="Model error",
        )
