"""The whole dashboard as one Viewer: the same object in a notebook and in the served page."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.background import Background
from atomsieve.app.data_panel import DataPanel
from atomsieve.app.export_panel import ExportPanel
from atomsieve.app.features_state import FeaturesState
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
    >>> dash.data.dataset is not None and dash.background.jobs[0].join(120)
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
        self.explorer = ThresholdExplorer(selection=self.selection, studies=self.studies, with_controls=False)
        self.structure = StructureViewer(state=self.data)
        self.data_panel = DataPanel(state=self.data, extra=[DescriptorControls(features_state=self.features)])
        self.export = ExportPanel(data=self.data, selection=self.selection)
        self.data.param.watch(lambda *_e: setattr(self.structure, "index", 0), ["dataset"])
        self.features.request()

    def sidebar(self) -> pn.Column:
        """Controls: the data panel and the selection controls."""
        return pn.Column(self.explorer.controls, pn.layout.Divider(), self.data_panel,
                         sizing_mode="stretch_width")

    def main(self) -> pn.Tabs:
        """The views, one tab each."""
        return pn.Tabs(
            ("Selection", self.explorer),
            ("Structure", self.structure),
            ("Export", self.export),
            dynamic=False, sizing_mode="stretch_width",
        )

    def close(self) -> None:
        """Stop background work (the served app calls this when the browser session ends)."""
        self.studies.cancel_all()
        self.background.cancel_all()

    def __panel__(self):
        return pn.Row(pn.Column(self.sidebar(), width=340), self.main(), sizing_mode="stretch_width")
