"""A card summarising the loaded dataset."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.state import DatasetState


def summary_markdown(state: DatasetState) -> str:
    """Structures, atoms, elements and label keys as a Markdown table.

    >>> "| structures | 228 |" in summary_markdown(DatasetState.from_path())
    True
    """
    s = state.dataset.summary()
    per_element = ", ".join(f"{e}: {n:,}" for e, n in s["atoms_per_element"].items())
    return (
        f"**{state.title}**\n\n"
        f"| | |\n|---|---|\n"
        f"| structures | {s['structures']:,} |\n"
        f"| atoms | {s['atoms']:,} |\n"
        f"| elements | {' '.join(s['elements'])} |\n"
        f"| atoms per element | {per_element} |\n"
        f"| energy key (eV) | {s['energy_key'] or 'none'} |\n"
        f"| forces key (eV/Å) | {s['forces_key'] or 'none'} |\n"
    )


class DatasetSummary(Viewer):
    """Structures, atoms, elements and label keys of the session's dataset."""

    state = param.ClassSelector(class_=DatasetState)

    def __panel__(self):
        return pn.pane.Markdown(self._markdown, sizing_mode="stretch_width", name="Dataset",
                                css_classes=["dataset-summary"])

    @param.depends("state.dataset", "state.title")
    def _markdown(self) -> str:
        return summary_markdown(self.state)
