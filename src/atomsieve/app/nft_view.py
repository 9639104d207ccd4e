"""A dashboard tab for a nearsighted-force-training run directory.

Three Plotly figures from what :class:`atomsieve.active.NearsightedForceTraining` writes
(:mod:`atomsieve.active.rundir`): structure uncertainty and cumulative chunks per iteration;
parity of the ensemble's central-atom forces (predicted before the chunk was trained on) against
the parent's; and the ensemble's uncertainty δ against the actual residual |F_pred − F_parent|.
The view re-reads the folder on demand (or every few seconds while a run is live), so it can
watch a run in progress.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.active.rundir import RunDirectory


def run_tables(run_dir) -> dict:
    """Per-iteration series and per-chunk predictions of a run directory (plain lists).

    >>> import tempfile
    >>> run_tables(tempfile.mkdtemp())["iteration"]
    []
    """
    run = RunDirectory(run_dir)
    records = run.iterations()
    out = {
        "iteration": [r["iteration"] for r in records],
        "phase": [r.get("phase", "nft") for r in records],
        "structure_uncertainty": [r.get("structure_uncertainty") for r in records],
        "n_chunks": [r.get("n_chunks", 0) for r in records],
        "skipped": [r.get("chunks_skipped_novelty", 0) for r in records],
        "stop_reason": next((r["stop_reason"] for r in reversed(records) if r.get("stop_reason")), None),
        "parent": [], "predicted": [], "delta": [], "chunk_iteration": [],
    }
    for chunk in run.read_chunks() if records else []:
        if "predicted_force" not in chunk.info or chunk.calc is None:
            continue
        out["parent"].append(np.asarray(chunk.get_forces()[0], dtype=float).tolist())
        out["predicted"].append(np.asarray(chunk.info["predicted_force"], dtype=float).reshape(3).tolist())
        out["delta"].append(float(chunk.info.get("predicted_delta", np.nan)))
        out["chunk_iteration"].append(int(chunk.info.get("iteration", -1)))
    return out


def uncertainty_figure(tables: dict) -> dict:
    """Structure uncertainty (eV/Å, log axis) and cumulative chunks against the iteration."""
    it = tables["iteration"]
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "max δ (eV/Å)", "x": it,
             "y": tables["structure_uncertainty"]},
            {"type": "bar", "name": "chunks (cumulative)", "x": it, "y": tables["n_chunks"], "yaxis": "y2",
             "opacity": 0.35},
        ],
        "layout": {
            "title": {"text": "Structure uncertainty and chunks per iteration", "font": {"size": 13}},
            "xaxis": {"title": "iteration", "dtick": 1},
            "yaxis": {"title": "structure uncertainty max δ (eV/Å)", "type": "log"},
            "yaxis2": {"title": "chunks", "overlaying": "y", "side": "right", "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.25}, "margin": {"t": 40}, "uirevision": "keep",
        },
    }


def parity_figure(tables: dict) -> dict:
    """Ensemble central-atom force components against the parent's (eV/Å), coloured by iteration."""
    parent = np.asarray(tables["parent"]).reshape(-1, 3)
    pred = np.asarray(tables["predicted"]).reshape(-1, 3)
    it = np.repeat(np.asarray(tables["chunk_iteration"]), 3)
    lim = float(np.abs(np.concatenate([parent.ravel(), pred.ravel(), [1.0]])).max())
    return {
        "data": [
            {"type": "scatter", "mode": "markers", "name": "force components", "x": parent.ravel().tolist(),
             "y": pred.ravel().tolist(),
             "marker": {"size": 5, "color": it.tolist(), "colorscale": "Viridis",
                        "colorbar": {"title": "iteration"}, "showscale": bool(len(it))}},
            {"type": "scatter", "mode": "lines", "name": "y = x", "x": [-lim, lim], "y": [-lim, lim],
             "line": {"color": "#888", "dash": "dash"}},
        ],
        "layout": {
            "title": {"text": "Parity: ensemble vs parent (chunk centres, before training on them)",
                      "font": {"size": 13}},
            "xaxis": {"title": "parent force (eV/Å)"}, "yaxis": {"title": "ensemble force (eV/Å)"},
            "showlegend": False, "margin": {"t": 40}, "uirevision": "keep",
        },
    }


def residual_figure(tables: dict) -> dict:
    """Uncertainty δ against the residual |F_ensemble − F_parent| of each chunk centre (eV/Å)."""
    parent = np.asarray(tables["parent"]).reshape(-1, 3)
    pred = np.asarray(tables["predicted"]).reshape(-1, 3)
    residual = np.linalg.norm(pred - parent, axis=1)
    delta = np.asarray(tables["delta"], dtype=float)
    top = float(np.nanmax(np.concatenate([residual, delta, [0.1]])))
    return {
        "data": [
            {"type": "scatter", "mode": "markers", "name": "chunk centres", "x": delta.tolist(),
             "y": residual.tolist(), "marker": {"size": 6, "color": tables["chunk_iteration"],
                                               "colorscale": "Viridis"}},
            {"type": "scatter", "mode": "lines", "name": "residual = δ", "x": [0, top], "y": [0, top],
             "line": {"color": "#888", "dash": "dash"}},
        ],
        "layout": {
            "title": {"text": "Uncertainty vs residual", "font": {"size": 13}},
            "xaxis": {"title": "δ = 2.58 σ_f (eV/Å)"}, "yaxis": {"title": "|F_ensemble − F_parent| (eV/Å)"},
            "showlegend": False, "margin": {"t": 40}, "uirevision": "keep",
        },
    }


def run_markdown(tables: dict, run_dir) -> str:
    """A one-paragraph status of the run."""
    if not tables["iteration"]:
        return f"**{run_dir}**: no finished iteration yet."
    u = tables["structure_uncertainty"]
    best = int(np.argmin(u))
    text = (f"**{Path(run_dir).name}**: {len(u)} iterations, {tables['n_chunks'][-1]} chunks labelled, "
            f"{sum(tables['skipped'])} skipped by the novelty filter; best iteration {best} with "
            f"max δ = {u[best]:.4f} eV/Å.")
    if tables["stop_reason"]:
        text += f" Stopped: {tables['stop_reason']}."
    return text


class NFTRunView(Viewer):
    """Uncertainty, chunks, parity and uncertainty-vs-residual of one run directory.

    Parameters
    ----------
    run_dir : str
        The folder given to ``atomsieve nft --run-dir``.
    live : bool
        Re-read the folder every ``period`` milliseconds (while served).

    Examples
    --------
    >>> import tempfile
    >>> view = NFTRunView(run_dir=tempfile.mkdtemp())
    >>> view.tables["iteration"]
    []
    """

    run_dir = param.String(default="", doc="run directory of atomsieve nft")
    live = param.Boolean(default=False, doc="re-read the run directory periodically")
    period = param.Integer(default=5000, bounds=(500, None), doc="milliseconds between re-reads")
    tables = param.Dict(default={}, doc="what was last read from the run directory")

    def __init__(self, run_dir: str | Path = "", **params):
        super().__init__(run_dir=str(run_dir), **params)
        self._callback = None
        self.refresh()

    def refresh(self, *_) -> None:
        """Re-read the run directory."""
        from atomsieve.app.notify import guarded

        if not self.run_dir:
            self.tables = run_tables_empty()
            return
        tables = guarded(f"reading {self.run_dir}", run_tables, self.run_dir)
        self.tables = tables if tables is not None else run_tables_empty()

    @param.depends("live", watch=True)
    def _toggle_live(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.live:
            self._callback = pn.state.add_periodic_callback(self.refresh, period=self.period)

    @param.depends("run_dir", watch=True)
    def _reload(self) -> None:
        self.refresh()

    def __panel__(self):
        button = pn.widgets.Button(name="Refresh", button_type="primary", width=100)
        button.on_click(self.refresh)
        live = pn.widgets.Checkbox.from_param(self.param.live, name="live")
        path = pn.widgets.TextInput.from_param(self.param.run_dir, name="run directory", width=400)
        return pn.Column(
            pn.Row(path, button, live),
            pn.pane.Markdown(self._status, sizing_mode="stretch_width"),
            pn.Row(pn.pane.Plotly(self._uncertainty, sizing_mode="stretch_width", height=380),
                   sizing_mode="stretch_width"),
            pn.Row(pn.pane.Plotly(self._parity, height=400, sizing_mode="stretch_width"),
                   pn.pane.Plotly(self._residual, height=400, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            name="Nearsighted force training", sizing_mode="stretch_width",
        )

    @param.depends("tables")
    def _status(self) -> str:
        return run_markdown(self.tables, self.run_dir)

    @param.depends("tables")
    def _uncertainty(self) -> dict:
        return uncertainty_figure(self.tables)

    @param.depends("tables")
    def _parity(self) -> dict:
        return parity_figure(self.tables)

    @param.depends("tables")
    def _residual(self) -> dict:
        return residual_figure(self.tables)


def run_tables_empty() -> dict:
    """The tables of a run with nothing in it."""
    return {"iteration": [], "phase": [], "structure_uncertainty": [], "n_chunks": [], "skipped": [],
            "stop_reason": None, "parent": [], "predicted": [], "delta": [], "chunk_iteration": []}
