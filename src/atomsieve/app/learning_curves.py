"""The compare panel: RMSE of energies and forces versus selected structures, per method, streaming in."""

from __future__ import annotations

import io

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, Legend, LegendItem, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from panel.viewable import Viewer

from atomsieve.app.compare_state import CompareState, available_methods, parse_sizes
from atomsieve.app.export import rows_csv
from atomsieve.app.live import LiveMarkdown
from atomsieve.app.notify import UiScheduler, describe, guarded, notify

PANELS = (("rmse_e", "energy RMSE (meV/atom)"), ("rmse_f", "force RMSE (meV/Å)"))


def curve_series(rows: list[dict], method: str, column: str) -> tuple[list[int], list[float]]:
    """Mean of ``column`` over repeats per size for one method, sorted by size.

    >>> curve_series([{"method": "fps", "size": 20, "x": 2.0}, {"method": "fps", "size": 10, "x": 4.0},
    ...               {"method": "fps", "size": 20, "x": 4.0}], "fps", "x")
    ([10, 20], [4.0, 3.0])
    """
    by_size: dict[int, list[float]] = {}
    for row in rows:
        if row["method"] == method:
            by_size.setdefault(int(row["size"]), []).append(float(row[column]))
    sizes = sorted(by_size)
    return sizes, [float(np.mean(by_size[s])) for s in sizes]


class LearningCurves(Viewer):
    """Pick methods and sizes, start, watch the curves grow; cancel; download the rows as CSV."""

    compare = param.ClassSelector(class_=CompareState)

    def __init__(self, **params):
        super().__init__(**params)
        cs = self.compare
        self.methods = pn.widgets.CheckBoxGroup(options=available_methods(), value=list(cs.methods),
                                                inline=True)
        self.sizes = pn.widgets.TextInput(name="Structures to select", value=", ".join(map(str, cs.sizes)),
                                          width=220, css_classes=["compare-sizes"])
        self.model = pn.widgets.Select(name="Model", options=["linear", "bpnn"], value=cs.model, width=120)
        self.start_button = pn.widgets.Button(name="Start comparison", button_type="primary", align="end",
                                              css_classes=["compare-start"])
        self.cancel_button = pn.widgets.Button(name="Cancel", align="end", disabled=True,
                                               css_classes=["compare-cancel"])
        self.progress = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width", visible=False)
        self.status = LiveMarkdown("", margin=(0, 10), css_classes=["compare-status"])
        self.timing = LiveMarkdown("", margin=(0, 10), css_classes=["compare-timing"])
        self.download = pn.widgets.FileDownload(callback=self._csv, filename="atomsieve_learning_curves.csv",
                                                label="Download curves (CSV)", button_type="light")
        self.start_button.on_click(lambda *_e: self.start())
        self.cancel_button.on_click(lambda *_e: cs.cancel())
        self.sources: dict[tuple[str, str, str], ColumnDataSource] = {}
        self.references: dict[str, Span] = {}
        self.legend_items: dict[tuple[str, str], LegendItem] = {}
        self.figures = []
        for column, label in PANELS:
            fig = figure(title=label, height=330, sizing_mode="stretch_width", x_axis_type="log",
                         y_axis_type="log", tools="pan,wheel_zoom,box_zoom,reset,save")
            fig.xaxis.axis_label, fig.yaxis.axis_label = "selected structures", label
            span = Span(location=float("nan"), dimension="width", line_color="black", line_dash="dotted",
                        line_width=2)
            fig.add_layout(span)
            self.references[column] = span
            # One legend entry per method (its colour; solid = prediction, dashed = training), shown only
            # once the method has points: at most one entry per method drawn, so the legend fits.
            items = []
            for i, method in enumerate(available_methods()):
                color = Category10_10[i % 10]
                renderers = []
                for kind, dash in (("pred", "solid"), ("train", "dashed")):
                    src = ColumnDataSource({"x": [], "y": []})
                    self.sources[(column, method, kind)] = src
                    renderers.append(fig.line("x", "y", source=src, color=color, line_dash=dash,
                                              line_width=2))
                    renderers.append(fig.scatter("x", "y", source=src, color=color,
                                                 size=6 if kind == "pred" else 4))
                items.append(LegendItem(label=method, renderers=renderers, visible=False))
                self.legend_items[(column, method)] = items[-1]
            legend = Legend(items=items, click_policy="hide", label_text_font_size="8pt",
                            css_classes=[f"legend-{column}"])
            fig.add_layout(legend, "right")
            fig.css_classes = [f"curve-{column}"]
            self.figures.append(fig)
        self.panes = [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.figures]
        self.schedule = UiScheduler(*self.panes)
        cs.param.watch(lambda *_e: self.schedule(self.refresh), ["rows", "running", "progress", "status"])
        self.refresh()  # built after (or during) a comparison: show what it has so far

    def start(self) -> None:
        cs = self.compare
        try:
            sizes = parse_sizes(self.sizes.value, len(cs.data.dataset))
        except Exception as exc:  # noqa: BLE001 - shown to the user
            notify(f"Compare: {describe(exc)}")
            return
        cs.methods, cs.sizes, cs.model = list(self.methods.value), sizes, self.model.value
        guarded("Compare", cs.start)

    def _csv(self):
        try:
            return io.BytesIO(rows_csv(self.compare.rows))
        except Exception as exc:  # noqa: BLE001
            notify(f"Export curves: {describe(exc)}")
            return None

    def refresh(self) -> None:
        cs = self.compare
        rows = cs.rows
        for (column, method, kind), src in self.sources.items():
            x, y = curve_series(rows, method, f"{column}_{kind}")
            if x or src.data["x"]:
                src.data = {"x": x, "y": y}
        drawn = {row["method"] for row in rows}
        for (_column, method), item in self.legend_items.items():
            item.visible = method in drawn
        full = [r for r in rows if r["method"] == "full"]
        for column, span in self.references.items():
            span.location = float(full[0][f"{column}_pred"]) if full else float("nan")
        self.progress.visible = cs.running
        self.progress.value = int(100 * cs.progress)
        self.start_button.disabled = cs.running
        self.cancel_button.disabled = not cs.running
        points = len([r for r in rows if r["method"] != "full"])
        self.status.object = f"{cs.status} · {points} curve points" if cs.status else ""
        seconds = cs.seconds_per_method()
        timing = ("Seconds per method (selection + training, summed): " + ", ".join(
            f"{m} {s:.1f} s" for m, s in sorted(seconds.items()))) if seconds else ""
        if full:
            timing += f" · dotted line: model trained on all {full[0]['n_selected']} structures"
        self.timing.object = timing

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("Each method selects the given numbers of structures; a model is trained on "
                             "them and scored on the training set (dashed) and the prediction set (solid); "
                             "click a method in a legend to hide it.",
                             margin=(0, 10)),
            self.methods,
            pn.Row(self.sizes, self.model, self.start_button, self.cancel_button, self.download),
            self.progress, self.status,
            pn.Row(*self.panes, sizing_mode="stretch_width"),
            self.timing,
            sizing_mode="stretch_width", name="Compare",
        )
