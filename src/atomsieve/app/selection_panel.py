"""Selection controls (a threshold slider per element, seed, shuffle, budget) and the live count cards."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.live import LiveMarkdown, LiveNumber, batched
from atomsieve.app.notify import guarded
from atomsieve.app.selection_state import THRESHOLD_BOUNDS, THRESHOLD_STEP, SelectionState
from atomsieve.app.studies_state import StudiesState


class SelectionControls(Viewer):
    """One threshold slider per element (bound to ``value_throttled``), seed, shuffle and a budget box."""

    selection = param.ClassSelector(class_=SelectionState)
    studies = param.ClassSelector(class_=StudiesState, allow_None=True)

    def __init__(self, **params):
        super().__init__(**params)
        self.sliders: dict[str, pn.widgets.FloatSlider] = {}
        self._from_slider = False
        self.slider_box = pn.Column(sizing_mode="stretch_width")
        self.seed = pn.widgets.IntInput(name="Seed", value=self.selection.seed, start=0, width=100)
        self.shuffle = pn.widgets.Checkbox(name="Shuffle the visiting order", value=self.selection.shuffle,
                                           align="end")
        self.budget = pn.widgets.IntInput(name="Select ~N structures", value=40, start=1, width=150)
        self.budget_button = pn.widgets.Button(name="Fill thresholds", align="end", button_type="default")
        self.seed.param.watch(lambda e: setattr(self.selection, "seed", int(e.new or 0)), "value")
        self.shuffle.param.watch(lambda e: setattr(self.selection, "shuffle", bool(e.new)), "value")
        self.budget_button.on_click(lambda *_e: self._calibrate())
        self.selection.param.watch(lambda *_e: self._sync_sliders(), ["thresholds"])
        self._sync_sliders()

    def _calibrate(self) -> None:
        if self.studies is None or self.selection.features is None:
            return
        guarded("Budget", self.studies.calibrate, int(self.budget.value))

    def _sync_sliders(self) -> None:
        thresholds = self.selection.thresholds
        if set(thresholds) != set(self.sliders):
            self.sliders = {}
            for element in sorted(thresholds):
                slider = pn.widgets.FloatSlider(
                    name=f"Threshold {element}", start=THRESHOLD_BOUNDS[0], end=THRESHOLD_BOUNDS[1],
                    step=THRESHOLD_STEP, value=thresholds[element], format="0.000",
                    sizing_mode="stretch_width", css_classes=[f"threshold-{element}"],
                )
                slider.param.watch(lambda e, el=element: self._set_threshold(el, e.new), "value_throttled")
                self.sliders[element] = slider
            self.slider_box.objects = list(self.sliders.values())
        if self._from_slider:
            return  # the browser already shows this value; echoing it back would fight newer moves
        for element, slider in self.sliders.items():
            if abs(slider.value - thresholds[element]) > 1e-9:
                slider.value = thresholds[element]

    def _set_threshold(self, element: str, value: float) -> None:
        if value is None:
            return
        self._from_slider = True
        try:
            with batched():  # the cards, histogram, marker and map of one move travel as one message
                self.selection.focus = element
                self.selection.thresholds = {**self.selection.thresholds, element: round(float(value), 6)}
        finally:
            self._from_slider = False

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("#### LE-bank thresholds", margin=(0, 10)),
            self.slider_box,
            pn.Row(self.seed, self.shuffle),
            pn.Row(self.budget, self.budget_button),
            sizing_mode="stretch_width", name="Selection",
        )


class SelectionCards(Viewer):
    """Selected structures, selected atoms, percent of the dataset, bank size: updated live."""

    selection = param.ClassSelector(class_=SelectionState)

    def __init__(self, **params):
        super().__init__(**params)
        style = {"title_size": "11pt", "font_size": "26pt", "default_color": "#1f3b57"}
        self.structures = LiveNumber(name="Selected structures", value=0, format="{value:,}",
                                               css_classes=["card-structures"], **style)
        self.atoms = LiveNumber(name="Selected atoms", value=0, format="{value:,}",
                                          css_classes=["card-atoms"], **style)
        self.percent = LiveNumber(name="Share of the dataset (structures)", value=0.0,
                                            format="{value:.1f} %", css_classes=["card-percent"], **style)
        self.bank = LiveNumber(name="Bank size (environments)", value=0, format="{value:,}",
                                         css_classes=["card-bank"], **style)
        self.note = LiveMarkdown("", styles={"color": "#555", "font-size": "0.85em"}, margin=(0, 10),
                                     css_classes=["selection-note"])
        self.selection.param.watch(lambda *_e: self._refresh(), ["outcome", "busy"])
        self.selection.features_state.param.watch(lambda *_e: self._refresh(), ["busy", "status", "progress"])
        self._refresh()

    def _refresh(self) -> None:
        sel = self.selection
        fs = sel.features_state
        out = sel.outcome
        if out is not None:
            ds = sel.dataset
            self.structures.value = out.n_structures
            self.atoms.value = out.n_atoms
            self.percent.value = round(out.percent_structures(len(ds)), 1)
            self.bank.value = out.bank_size
            per = ", ".join(f"{e}: {n:,}" for e, n in out.bank_per_element.items())
            atoms_pct = out.percent_atoms(ds.n_atoms)
            thresholds = ", ".join(f"{e} {t:.3f}" for e, t in sorted(sel.thresholds.items()))
            self.note.object = (
                f"{'**computing…** ' if sel.busy else ''}thresholds {thresholds} · {atoms_pct:.1f} % of the "
                f"atoms · bank per element {per} · LE-bank fit {out.seconds * 1000:.0f} ms"
            )
        elif fs.busy:
            self.note.object = f"**{fs.status}** ({fs.progress * 100:.0f} %)"
        else:
            self.note.object = fs.status or "waiting for fingerprints"

    def __panel__(self):
        return pn.Column(
            # Wraps onto a second line where the four cards do not fit side by side (a notebook's output).
            pn.FlexBox(self.structures, self.atoms, self.percent, self.bank, gap="0 24px",
                       sizing_mode="stretch_width"),
            self.note, sizing_mode="stretch_width",
        )
