"""The selection panel as one Viewer: controls, live cards, histogram, threshold curve, grid, violins."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.features_state import FeaturesState, preset_names
from atomsieve.app.live import LiveMarkdown
from atomsieve.app.model_error_state import ModelErrorState
from atomsieve.app.model_error_view import ModelErrorPanel
from atomsieve.app.selection_panel import SelectionCards, SelectionControls
from atomsieve.app.selection_plots import FeatureHistogram, ShuffleViolins, ThresholdCurve, ThresholdGrid
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.app.studies_state import StudiesState


class DescriptorControls(Viewer):
    """Descriptor preset and cut-off (Å) of the session's features, with the computation's progress."""

    features_state = param.ClassSelector(class_=FeaturesState)

    def __init__(self, **params):
        super().__init__(**params)
        fs = self.features_state
        self.preset = pn.widgets.Select(name="Descriptor preset", options=preset_names(), value=fs.preset,
                                        sizing_mode="stretch_width")
        self.r_cut = pn.widgets.FloatInput(name="Cut-off (Å)", value=fs.r_cut, start=2.0, end=12.0, step=0.5,
                                           sizing_mode="stretch_width", css_classes=["descriptor-cutoff"])
        self.progress = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width", visible=False)
        self.status = LiveMarkdown(fs.status, styles={"font-size": "0.85em", "color": "#555"},
                                       margin=(0, 10), css_classes=["features-status"])
        self.preset.param.watch(lambda e: setattr(fs, "preset", e.new), "value")
        self.r_cut.param.watch(lambda e: setattr(fs, "r_cut", float(e.new)) if e.new else None, "value")
        fs.param.watch(lambda *_e: self._refresh(), ["busy", "progress", "status"])

    def _refresh(self) -> None:
        fs = self.features_state
        self.progress.visible = fs.busy
        self.progress.value = int(100 * fs.progress)
        self.status.object = fs.status

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Fingerprints", margin=(0, 10)),
                         pn.Row(self.preset, self.r_cut, sizing_mode="stretch_width"),
                         self.progress, self.status, sizing_mode="stretch_width")


class ThresholdExplorer(Viewer):
    """Live LE-bank selection: one slider per element, counts, histogram, threshold curve, grid, violins.

    ``ThresholdExplorer.from_dataset(ds)`` builds the states around a dataset (features computed
    in this thread); inside :class:`~atomsieve.app.dashboard.Dashboard` the states are shared.
    """

    selection = param.ClassSelector(class_=SelectionState)
    studies = param.ClassSelector(class_=StudiesState)
    with_controls = param.Boolean(default=True, doc="show the sliders inside the view (off when served)")
    model_error = param.ClassSelector(class_=ModelErrorState, allow_None=True,
                                      doc="live model error of the selection (panel shown when given)")

    def __init__(self, **params):
        if "studies" not in params and "selection" in params:
            params["studies"] = StudiesState(selection=params["selection"])
        super().__init__(**params)
        self.controls = SelectionControls(selection=self.selection, studies=self.studies)
        self.cards = SelectionCards(selection=self.selection)
        self.histogram = FeatureHistogram(selection=self.selection)
        self.curve = ThresholdCurve(studies=self.studies)
        self.grid = ThresholdGrid(studies=self.studies)
        self.violins = ShuffleViolins(studies=self.studies)
        self.model_error_panel = (None if self.model_error is None
                                  else ModelErrorPanel(model_error=self.model_error))

    @classmethod
    def from_dataset(cls, dataset, **params) -> ThresholdExplorer:
        """An explorer around ``dataset`` with default descriptors; selections run synchronously."""
        data = DatasetState(dataset=dataset, title=dataset.source or "dataset")
        features = FeaturesState(data=data)
        features.compute_now()
        selection = SelectionState(features_state=features, synchronous=True)
        explorer = cls(selection=selection, **params)
        explorer.curve.start()
        return explorer

    def __panel__(self):
        card = dict(sizing_mode="stretch_width", collapsible=False, margin=(5, 5))
        plots = pn.GridBox(
            pn.Card(self.histogram, title="Symmetry-function histogram (Fig. 2b)", **card),
            pn.Card(self.curve, title="Selected vs threshold (Fig. 2a)", **card),
            pn.Card(self.violins, title="Shuffle robustness (Fig. 2c)", **card),
            pn.Card(self.grid, title="Two thresholds (Fig. 4)", **card),
            ncols=2, sizing_mode="stretch_width",
        )
        parts = [self.cards, plots]
        if self.model_error_panel is not None:
            parts.insert(1, pn.Card(self.model_error_panel, title="Model error of this selection (live)",
                                    css_classes=["model-error-card"], **card))
        if self.with_controls:
            parts.insert(0, self.controls)
        return pn.Column(*parts, sizing_mode="stretch_width", name="Selection")
