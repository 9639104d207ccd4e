"""The data panel: open by path or upload, label keys, descriptor choice, summary."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.notify import guarded, notify
from atomsieve.app.security import UPLOAD_COMPRESSIONS, UPLOAD_SUFFIXES, human_size, upload_limit
from atomsieve.app.state import DatasetState
from atomsieve.app.summary import DatasetSummary

#: What the browser's file picker offers: the formats, plain or compressed (the server checks the pair).
UPLOAD_ACCEPT = (*UPLOAD_SUFFIXES, *(f".{c}" for c in UPLOAD_COMPRESSIONS))

_AUTO = "(automatic)"


class DataPanel(Viewer):
    """Choose the dataset: a path on the server, an upload, or the embedded set; pick label keys.

    Every load error becomes a notification; the previous dataset stays loaded.

    Examples
    --------
    >>> panel = DataPanel(state=DatasetState.from_path())
    >>> panel.open_path("/no/such/file.extxyz") is None   # notified, not raised
    True
    """

    state = param.ClassSelector(class_=DatasetState)
    background = param.Parameter(default=None, doc="runs the reading of a large file (a Background)")
    extra = param.List(default=[], doc="more controls shown under the keys (e.g. descriptor choice)")

    def __init__(self, **params):
        super().__init__(**params)
        self.path_input = pn.widgets.TextInput(name="Path on the server", placeholder="/data/train.extxyz",
                                               sizing_mode="stretch_width")
        self.open_button = pn.widgets.Button(name="Open", button_type="primary", width=80, align="end")
        self.default_button = pn.widgets.Button(name="Embedded germanium set", button_type="light",
                                                sizing_mode="stretch_width")
        self.upload = pn.widgets.FileInput(accept=",".join(UPLOAD_ACCEPT), multiple=False,
                                           sizing_mode="stretch_width", css_classes=["upload-input"])
        self.upload_note = pn.pane.Markdown(
            f"Upload limit: **{human_size(upload_limit())}** "
            f"({', '.join(s.lstrip('.') for s in UPLOAD_SUFFIXES[:5])}, …; also .gz, .bz2, .xz). "
            "Larger files: open by path.",
            styles={"font-size": "0.85em", "color": "#555"}, margin=(0, 10),
        )
        self.energy_key = pn.widgets.Select(name="Energy key (eV)", sizing_mode="stretch_width")
        self.forces_key = pn.widgets.Select(name="Forces key (eV/Å)", sizing_mode="stretch_width")
        self.reread_button = pn.widgets.Button(name="Re-read with these keys", sizing_mode="stretch_width")
        self.reading = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width", visible=False,
                                              css_classes=["reading-progress"])
        self.state.param.watch(lambda *_e: self._show_reading(), ["loading", "load_progress"])
        self._sync_keys()
        self.open_button.on_click(lambda *_e: self.open_path(self.path_input.value))
        self.default_button.on_click(lambda *_e: guarded("Embedded set", self.state.load_default))
        self.upload.param.watch(self._on_upload, "value")
        self.reread_button.on_click(lambda *_e: self.reread())
        self.state.param.watch(lambda *_e: self._sync_keys(), ["dataset"])

    # -- actions (also callable from notebooks and tests) -----------------------------------------
    def open_path(self, path):
        """Open ``path``; a large file (:func:`~atomsieve.app.state.is_large_file`) is read in the
        background with a progress bar when the panel has a ``background``, and the job is returned."""
        from atomsieve.app.state import is_large_file

        try:
            large = (self.background is not None and bool(path)
                     and is_large_file(self.state.resolve_path(path)))
        except Exception:  # noqa: BLE001 - the ordinary open below reports it
            large = False
        if large:
            return guarded(f"Open {path}", self.state.load_path_in_background, path, self.background,
                           on_loaded=self._announce)
        ds = guarded(f"Open {path}", self.state.load_path, path, energy_key=None, forces_key=None)
        if ds is not None:
            self._announce(ds)
        return ds

    def upload_bytes(self, filename: str, content: bytes):
        ds = guarded(f"Upload {filename}", self.state.load_upload, filename, content)
        if ds is not None:
            self._announce(ds)
        return ds

    def reread(self):
        energy = None if self.energy_key.value in (None, _AUTO) else self.energy_key.value
        forces = None if self.forces_key.value in (None, _AUTO) else self.forces_key.value
        ds = guarded("Re-read", self.state.reload_with_keys, energy, forces)
        if ds is not None:
            self._announce(ds)
        return ds

    # -- helpers ----------------------------------------------------------------------------------
    def _on_upload(self, event) -> None:
        if event.new is None:
            return
        self.upload_bytes(self.upload.filename or "upload", event.new)

    def _announce(self, ds) -> None:
        notify(f"Loaded {self.state.title}: {len(ds):,} structures, {ds.n_atoms:,} atoms", "success", 4000)
        for note in ds.label_notes:  # labels in only some structures are not used: say so
            notify(note, "warning", 15000)
        for kind, keys in self.state.ambiguous_keys.items():
            used = ds.energy_key if kind == "energy" else ds.forces_key
            notify(f"The file holds several {kind} keys ({', '.join(keys)}); using {used!r}. "
                   "Pick another under 'Label keys' and re-read.", "warning", 10000)

    def _show_reading(self) -> None:
        self.reading.visible = self.state.loading
        self.reading.value = int(100 * self.state.load_progress)
        self.open_button.disabled = self.state.loading

    def _sync_keys(self) -> None:
        ds = self.state.dataset
        self.energy_key.options = [_AUTO, *self.state.energy_keys]
        self.forces_key.options = [_AUTO, *self.state.forces_keys]
        self.energy_key.value = ds.energy_key if ds.energy_key in self.state.energy_keys else _AUTO
        self.forces_key.value = ds.forces_key if ds.forces_key in self.state.forces_keys else _AUTO
        self.reread_button.disabled = self.state.source_path is None

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("#### Open a dataset", margin=(0, 10)),
            pn.Row(self.path_input, self.open_button, sizing_mode="stretch_width"), self.reading,
            self.upload, self.upload_note, self.default_button,
            pn.pane.Markdown("#### Label keys", margin=(0, 10)),
            self.energy_key, self.forces_key, self.reread_button,
            *self.extra,
            pn.layout.Divider(),
            DatasetSummary(state=self.state),
            sizing_mode="stretch_width", name="Data",
        )
