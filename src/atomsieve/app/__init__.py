"""The Panel dashboard: state objects without widgets, and views that take the state.

Every view is a ``panel.viewable.Viewer`` that renders inline in JupyterLab as well
as in the served app (see :func:`atomsieve.app.serve.serve`).
"""

from atomsieve.app.state import DatasetState
from atomsieve.app.summary import DatasetSummary

__all__ = ["DatasetState", "DatasetSummary"]
