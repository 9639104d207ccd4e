"""The Panel dashboard: state objects without widgets, and views that take the state.

Every view is a ``panel.viewable.Viewer`` that renders inline in JupyterLab as well
as in the served app (see :func:`atomsieve.app.serve.serve`):

- :class:`Dashboard` — everything, ``Dashboard(dataset)``;
- :class:`ThresholdExplorer` — LE-bank thresholds, live counts, histogram, curves, violins;
- :class:`LearningCurves` — RMSE versus selected structures per method, streaming in;
- :class:`DataPanel`, :class:`StructureViewer`, :class:`ExportPanel` — the other parts.

States (no widgets): :class:`DatasetState`, :class:`FeaturesState`, :class:`SelectionState`,
:class:`StudiesState`, :class:`CompareState`, :class:`ModelErrorState` (the selection's live RMSE).
"""

from atomsieve.app.compare_state import CompareState
from atomsieve.app.dashboard import Dashboard
from atomsieve.app.data_panel import DataPanel
from atomsieve.app.export_panel import ExportPanel
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.learning_curves import LearningCurves
from atomsieve.app.model_error_state import ModelErrorState
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.app.structure_view import StructureViewer
from atomsieve.app.studies_state import StudiesState
from atomsieve.app.summary import DatasetSummary
from atomsieve.app.threshold_explorer import ThresholdExplorer

__all__ = [
    "CompareState",
    "Dashboard",
    "DataPanel",
    "DatasetState",
    "DatasetSummary",
    "ExportPanel",
    "FeaturesState",
    "LearningCurves",
    "ModelErrorState",
    "SelectionState",
    "StructureViewer",
    "StudiesState",
    "ThresholdExplorer",
]
