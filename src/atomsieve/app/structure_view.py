"""One structure in 3-D (Plotly, which Panel bundles: no CDN) with its labels."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from ase.data import covalent_radii
from ase.data.colors import jmol_colors
from panel.viewable import Viewer

from atomsieve.app.live import LiveMarkdown
from atomsieve.app.state import DatasetState


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb)


def structure_figure(atoms, title: str = "") -> dict:
    """A Plotly figure (as a dict) of ``atoms``: spheres coloured by element, the cell as lines.

    >>> from ase.build import bulk
    >>> fig = structure_figure(bulk("Ge", cubic=True))
    >>> [trace["name"] for trace in fig["data"]]
    ['Ge', 'cell']
    """
    traces = []
    symbols = np.array(atoms.get_chemical_symbols())
    for z in np.unique(atoms.numbers):
        mask = atoms.numbers == z
        pos = atoms.positions[mask]
        traces.append({
            "type": "scatter3d", "mode": "markers", "name": str(symbols[mask][0]),
            "x": pos[:, 0].tolist(), "y": pos[:, 1].tolist(), "z": pos[:, 2].tolist(),
            "marker": {"size": float(6 + 6 * covalent_radii[z]), "color": _hex(jmol_colors[z]),
                       "line": {"width": 0.5, "color": "#333"}},
            "hovertext": [f"{symbols[mask][0]} #{i}" for i in np.flatnonzero(mask)], "hoverinfo": "text",
        })
    cell = atoms.cell.array
    if atoms.cell.rank == 3:
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ cell
        edges = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 3), (2, 6), (3, 7),
                 (4, 5), (4, 6), (5, 7), (6, 7)]
        xs, ys, zs = [], [], []
        for a, b in edges:
            for arr, dim in ((xs, 0), (ys, 1), (zs, 2)):
                arr.extend([float(corners[a, dim]), float(corners[b, dim]), None])
        traces.append({"type": "scatter3d", "mode": "lines", "name": "cell", "x": xs, "y": ys, "z": zs,
                       "line": {"color": "#888", "width": 2}, "hoverinfo": "skip"})
    layout = {
        "title": {"text": title, "font": {"size": 13}},
        "margin": {"l": 0, "r": 0, "t": 30 if title else 0, "b": 0},
        "scene": {"aspectmode": "data", "xaxis": {"title": "x (Å)"}, "yaxis": {"title": "y (Å)"},
                  "zaxis": {"title": "z (Å)"}},
        "legend": {"orientation": "h"},
        "uirevision": "keep",
    }
    return {"data": traces, "layout": layout}


def structure_details(state: DatasetState, index: int) -> str:
    """Markdown table of one structure's composition and labels (eV, eV/Å)."""
    ds = state.dataset
    atoms = ds.atoms[index]
    rows = [("structure", f"{index} of {len(ds)}"), ("formula", atoms.get_chemical_formula()),
            ("atoms", f"{len(atoms)}")]
    if atoms.cell.rank == 3:
        rows.append(("volume (Å³/atom)", f"{atoms.get_volume() / len(atoms):.2f}"))
    if ds.energies is not None:
        rows.append(("energy (eV/atom)", f"{ds.energies[index] / len(atoms):.4f}"))
    forces = ds.forces_of(index)
    if forces is not None:
        rows.append(("largest force (eV/Å)", f"{np.linalg.norm(forces, axis=1).max():.3f}"))
    for key, value in list(atoms.info.items())[:4]:
        if isinstance(value, (str, int, float, np.integer, np.floating)):
            rows.append((str(key), str(value)))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


class StructureViewer(Viewer):
    """A structure of the session's dataset: details and a rotatable 3-D view.

    Examples
    --------
    >>> viewer = StructureViewer(state=DatasetState.from_path(), index=3)
    >>> "formula" in viewer.details()
    True
    """

    state = param.ClassSelector(class_=DatasetState)
    index = param.Integer(default=0, bounds=(0, None), doc="structure shown")

    def __init__(self, **params):
        super().__init__(**params)
        self._plot = pn.pane.Plotly(self._figure(), height=380, sizing_mode="stretch_width",
                                    config={"displaylogo": False, "responsive": True})
        self._details = LiveMarkdown(self.details(), sizing_mode="stretch_width")
        self._layout = pn.Column(self._details, self._plot, sizing_mode="stretch_width", name="Structure")

    def _figure(self) -> dict:
        ds = self.state.dataset
        i = min(self.index, len(ds) - 1)
        return structure_figure(ds.atoms[i], f"structure {i}: {ds.atoms[i].get_chemical_formula()}")

    def details(self) -> str:
        return structure_details(self.state, min(self.index, len(self.state.dataset) - 1))

    @param.depends("index", "state.dataset", watch=True)
    def _refresh(self) -> None:
        self._plot.object = self._figure()
        self._details.object = self.details()

    def __panel__(self):
        return self._layout
