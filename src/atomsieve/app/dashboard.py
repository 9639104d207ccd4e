"""The whole dashboard as one Viewer: the same object in a notebook and in the served page."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.background import Background
from atomsieve.app.compare_state import CompareState
from atomsieve.app.data_panel import DataPanel
from atomsieve.app.environment_map import EnvironmentMap
from atomsieve.app.export_panel import ExportPanel
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.learning_curves import LearningCurves
from atomsieve.app.model_error_state import ModelErrorState
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.app.structure_view import StructureViewer
from atomsieve.app.studies_state import StudiesState
from atomsieve.app.threshold_explorer import DescriptorControls, ThresholdExplorer
from atomsieve.data import Dataset


class Dashboard(Viewer):
    """Data, selection, environment map, comparison and export for one dataset.

    ``Dashboard(dataset)`` renders inline in JupyterLab; the served app
    (:func:`atomsieve.app.serve.make_app`) puts the same parts into a template. Fingerprints are
    computed in the background on creation (or taken from the process-wide cache).

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> dash = Dashboard(load_default("test"))
    >>> dash.wait(300)
    True
    >>> dash.selection.outcome.n_structures > 0
    True
    """

    data = param.ClassSelector(class_=DatasetState, doc="the session's dataset state")

    def __init__(self, dataset: Dataset | None = None, **params):
        if "data" not in params:
            params["data"] = (DatasetState(dataset=dataset, title=dataset.source or "dataset")
                              if dataset is not None else DatasetState.from_path())
        super().__init__(**params)
        self.background = Background()
        self.features = FeaturesState(data=self.data, background=self.background)
        self.selection = SelectionState(features_state=self.features, background=self.background,
                                        synchronous=self.background.doc is None)
        self.studies = StudiesState(selection=self.selection, background=self.background)
        # In a notebook (no server session) the model error, like the selection, is computed in the
        # calling thread: background threads updating the widgets there held back the cards' updates.
        self.model_error = ModelErrorState(selection=self.selection, background=self.background,
                                           test=self._prediction_set(),
                                           synchronous=self.background.doc is None)
        self.explorer = ThresholdExplorer(selection=self.selection, studies=self.studies, with_controls=False,
                                          model_error=self.model_error)
        self.structure = StructureViewer(state=self.data)
        self.environment_map = EnvironmentMap(selection=self.selection, structure=self.structure)
        self.data_panel = DataPanel(state=self.data, background=self.background,
                                    extra=[DescriptorControls(features_state=self.features)])
        self.compare = CompareState(data=self.data, background=self.background, test=self._prediction_set(),
                                    descriptor=self.features.descriptor())
        self.curves = LearningCurves(compare=self.compare)
        self.export = ExportPanel(data=self.data, selection=self.selection, compare=self.compare,
                                  model_error=self.model_error)
        self.data.param.watch(lambda *_e: setattr(self.structure, "index", 0), ["dataset"])
        self.data.param.watch(lambda *_e: setattr(self.compare, "test", self._prediction_set()), ["dataset"])
        self.data.param.watch(lambda *_e: setattr(self.model_error, "test", self._prediction_set()),
                              ["dataset"])
        self.features.param.watch(lambda *_e: setattr(self.compare, "descriptor", self.features.descriptor()),
                                  ["features"])
        self.features.request()

    def _prediction_set(self):
        """The embedded test split when the embedded training set is loaded; else None (whole pool)."""
        from atomsieve.datasets import default_path, load_default

        if self.data.source_path and self.data.source_path == str(default_path()):
            return load_default("test")
        return None

    def sidebar(self) -> pn.Column:
        """Controls: the data panel and the selection controls."""
        return pn.Column(self.explorer.controls, pn.layout.Divider(), self.data_panel,
                         sizing_mode="stretch_width")

    def main(self) -> pn.Tabs:
        """The views, one tab each."""
        tabs = pn.Tabs(
            ("Selection", self.explorer),
            ("Environment map", self.environment_map),
            ("Compare methods", self.curves),
            ("Export", self.export),
            # Only the open tab is rendered: the comparison's plots are half the page's ~1,300 Bokeh
            # models, and Bokeh walks every model of the page for each message it sends or reads.
            dynamic=True, sizing_mode="stretch_width",
        )
        # The map redraws only while its tab is open (the browser pays ~1 s per redraw of 20k points).
        self.environment_map.showing = tabs.active == 1
        tabs.param.watch(lambda e: setattr(self.environment_map, "showing", e.new == 1), "active")
        return tabs

    def wait(self, timeout: float = 600.0) -> bool:
        """Wait for the background work started so far (fingerprints, selection); True when done."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            running = [job for job in self.background.jobs if job.running]
            if not running:
                return True
            if not running[0].join(max(0.0, deadline - time.monotonic())):
                return False

    def close(self) -> None:
        """Stop background work (the served app calls this when the browser session ends)."""
        self.studies.cancel_all()
        self.model_error.cancel()
        self.compare.cancel()
        self.background.cancel_all()

    #: Narrowest the views get beside the sidebar in a notebook; a narrower output puts them below it.
    MAIN_MIN_WIDTH = 720

    def __panel__(self):
        main = pn.Column(self.main(), sizing_mode="stretch_width", min_width=self.MAIN_MIN_WIDTH,
                         styles={"flex": f"1 1 {self.MAIN_MIN_WIDTH}px"})
        return pn.FlexBox(pn.Column(self.sidebar(), width=340), main, flex_wrap="wrap",
                          sizing_mode="stretch_width")
