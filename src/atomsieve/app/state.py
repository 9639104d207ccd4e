"""Dashboard state for the dataset: what is loaded, from where, with which label keys. No widgets."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import param

from atomsieve.app.security import (  # noqa: F401 - re-exported: the app's names for the rules
    UPLOAD_LIMIT_BYTES,
    UPLOAD_SUFFIXES,
    check_upload,
    confine_path,
    human_size,
    safe_filename,
)
from atomsieve.data import Dataset
from atomsieve.errors import DataError, ParameterError, StorageError, os_problem


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


def is_large_file(path) -> bool:
    """Whether ``path`` is over the command line's streaming threshold
    (:func:`atomsieve.commands.streamed.stream_bytes`), so the dashboard reads it as flat arrays."""
    from atomsieve.commands.streamed import stream_bytes

    try:
        return Path(path).stat().st_size > stream_bytes()
    except OSError:
        return False  # the reader names the problem


def read_dataset(path, *, energy_key: str | None = None, forces_key: str | None = None,
                 query: str | None = None, progress=None) -> Dataset:
    """``atomsieve.load(path, ...)``, or for a file larger than the command line's streaming threshold
    (:func:`atomsieve.commands.streamed.stream_bytes`, 64 MiB: about 6 × 10^5 atoms of extxyz) and
    no ``query``, the same dataset as :class:`~atomsieve.data.frames.CompactFrames` read a partition
    at a time (:func:`~atomsieve.data.stream.read_compact`): ~60 bytes per atom instead of 2.8 kB."""
    from atomsieve.data import load
    from atomsieve.data.stream import read_compact

    if not query and is_large_file(path):
        return read_compact(path, energy_key=energy_key or None, forces_key=forces_key or None,
                            progress=progress)
    return load(path, energy_key=energy_key or None, forces_key=forces_key or None, query=query or None)


class DatasetState(param.Parameterized):
    """The dataset a dashboard session works on, and how to replace it.

    Parameters
    ----------
    dataset : Dataset
        The loaded structures and labels.
    title : str
        What to call the dataset on screen.
    data_dir : str, optional
        When set, open-by-path only accepts files inside this folder.

    Examples
    --------
    >>> state = DatasetState.from_path()
    >>> len(state.dataset), state.energy_keys[:1]
    (228, ['energy'])
    """

    dataset = param.ClassSelector(class_=Dataset, doc="the loaded structures and labels")
    title = param.String(default="", doc="what to call the dataset on screen")
    data_dir = param.String(default=None, allow_None=True, doc="open-by-path is confined to this folder")
    energy_keys = param.List(default=[], doc="per-structure scalar keys found in the file (eV candidates)")
    forces_keys = param.List(default=[], doc="per-atom (n, 3) keys found in the file (eV/Å candidates)")
    source_path = param.String(default=None, allow_None=True, doc="file the dataset was read from")
    loading = param.Boolean(default=False, doc="a large file is being read in the background")
    load_progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="fraction of its structures read")

    def __init__(self, **params):
        super().__init__(**params)
        if self.dataset is not None and not self.energy_keys and not self.forces_keys:
            self._record_keys(self.dataset)

    @classmethod
    def from_path(cls, path=None, *, energy_key=None, forces_key=None, data_dir=None,
                  query: str | None = None, progress=None) -> DatasetState:
        """Load ``path`` (the rows matching ``query`` of an ASE database), or the embedded germanium set
        when ``path`` is None. ``progress(done, total, label)`` hears of a large file's reading."""
        state = cls(data_dir=None if data_dir is None else str(data_dir))
        if path is None:
            state.load_default()
        else:
            state.load_path(path, energy_key=energy_key, forces_key=forces_key, query=query,
                            progress=progress)
        return state

    # -- loading ----------------------------------------------------------------------------------
    def load_default(self) -> Dataset:
        """Replace the dataset with the embedded germanium set."""
        from atomsieve.datasets import default_path, load_default

        ds = load_default()
        self._set(ds, "germanium DFT set (Zuo et al. 2020, mlearn)", str(default_path()))
        return ds

    def resolve_path(self, path) -> Path:
        """``path`` as an absolute path, refused when it leaves ``data_dir``."""
        return confine_path(path, self.data_dir)

    def load_path(self, path, *, energy_key: str | None = None, forces_key: str | None = None,
                  query: str | None = None, progress=None) -> Dataset:
        """Read ``path`` with the optional label keys and database query; the current dataset is kept
        on error. A large file (see :func:`read_dataset`) is read a partition at a time into flat
        arrays, with ``progress(done, total, label)`` told of the structures read."""
        resolved = self.resolve_path(path)
        ds = read_dataset(resolved, energy_key=energy_key, forces_key=forces_key, query=query,
                          progress=progress)
        self._set(ds, f"{path} [{query}]" if query else str(path), str(resolved))
        return ds

    def load_path_in_background(self, path, background, *, on_loaded=None):
        """Read ``path`` in a :class:`~atomsieve.app.background.Background` job (``loading`` and
        ``load_progress`` follow it); the dataset is replaced when it is read, and ``on_loaded(ds)``
        called. Errors are notified by the job; the current dataset stays meanwhile. Returns the job."""
        resolved = self.resolve_path(path)  # a path outside data_dir is refused at once

        def work(cancelled, emit):
            return read_dataset(resolved, progress=lambda done, total, label="": emit(done / max(total, 1)))

        def loaded(ds):
            self._set(ds, str(path), str(resolved))
            if on_loaded is not None:
                on_loaded(ds)

        self.loading, self.load_progress = True, 0.0
        return background.submit(
            f"Open {path}", work, on_result=loaded,
            on_emit=lambda frac: setattr(self, "load_progress", float(min(max(frac, 0.0), 1.0))),
            on_finally=lambda: setattr(self, "loading", False))

    def load_upload(self, filename: str, content: bytes, *, energy_key: str | None = None,
                    forces_key: str | None = None) -> Dataset:
        """Read an uploaded file (bytes) through a private temporary folder, which is removed after."""
        from atomsieve.data import load

        name = check_upload(filename, content)
        folder = Path(tempfile.mkdtemp(prefix="atomsieve-upload-"))
        try:
            target = folder / name
            try:
                target.write_bytes(content)
            except OSError as exc:  # name the upload and the fault, not the temporary path
                raise StorageError(f"{filename}: cannot be stored for reading: "
                                   f"{os_problem(exc, folder.parent)}") from None
            try:
                ds = load(target, energy_key=energy_key or None, forces_key=forces_key or None)
            except DataError as exc:  # name the upload, not the temporary path
                raise DataError(str(exc).replace(str(target), filename)) from None
            ds.source = filename
            ds.label_notes = [note.replace(str(target), filename) for note in ds.label_notes]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self._set(ds, f"{filename} (uploaded)", None)
        return ds

    def reload_with_keys(self, energy_key: str | None, forces_key: str | None) -> Dataset:
        """Read the current file again taking labels from the named keys."""
        if self.source_path is None:
            raise ParameterError("this dataset was uploaded; upload it again with the keys chosen")
        ds = read_dataset(self.source_path, energy_key=energy_key, forces_key=forces_key)
        self._set(ds, self.title, self.source_path)
        return ds

    # -- helpers ----------------------------------------------------------------------------------
    def _record_keys(self, ds: Dataset) -> None:
        from atomsieve.data.labels import _available

        frames = ds.atoms[:50]
        numeric = [k for k in _available(frames, "energy") if _is_number(frames[0].info.get(k, 0.0))]
        self.energy_keys = numeric
        self.forces_keys = _available(frames, "forces")

    def _set(self, ds: Dataset, title: str, source_path: str | None) -> None:
        with param.parameterized.batch_call_watchers(self):
            self._record_keys(ds)
            self.source_path = source_path
            self.title = title
            self.dataset = ds

    @property
    def ambiguous_keys(self) -> dict[str, list[str]]:
        """Label kinds for which the file holds more than one candidate key."""
        out = {}
        if len(self.energy_keys) > 1:
            out["energy"] = self.energy_keys
        if len(self.forces_keys) > 1:
            out["forces"] = self.forces_keys
        return out
