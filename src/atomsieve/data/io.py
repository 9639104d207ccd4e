"""Reading and writing structure files through ASE, with clear errors and atomic writes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read as ase_read
from ase.io import write as ase_write
from ase.io.formats import filetype, string2index

from atomsieve.data.dataset import Dataset
from atomsieve.data.labels import find_labels
from atomsieve.data.validate import validate_structure
from atomsieve.errors import DataError

#: Output suffix -> ASE format name.
WRITE_FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".db": "db", ".json": "json", ".traj": "traj"}
#: Formats that can run code or unpickle objects on reading: never opened.
REFUSED_FORMATS = {"bundletrajectory", "py", "pickle"}
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".pckl", ".npy", ".npz", ".pt", ".pth"}
_DB_FORMATS = {"db", "json"}


def _looks_pickled(head: bytes) -> bool:
    return (len(head) >= 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)) or head.startswith(
        b"PickleTrajectory"
    )


def detect_format(path: Path) -> str:
    """The ASE format name of a readable, non-empty, non-pickle file, or :class:`DataError`."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a structure file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if path.suffix.lower() in _PICKLE_SUFFIXES or _looks_pickled(head):
        raise DataError(f"{path}: pickle-based files are refused because loading them can run code")
    try:
        fmt = filetype(str(path), guess=True)
    except Exception as exc:  # ASE raises several types for unknown content
        raise DataError(
            f"{path}: unknown structure format ({exc}); use extxyz/xyz, ASE .db/.json, .traj "
            "or another format ase.io.read knows"
        ) from None
    if fmt in REFUSED_FORMATS:
        raise DataError(f"{path}: format {fmt!r} is refused because loading it can run code")
    if fmt not in ("traj", "db") and b"\x00" in head:
        raise DataError(f"{path}: binary content in a {fmt} file; the file is garbled")
    return fmt


def check_xyz_counts(path: Path) -> None:
    """Check every frame's atom-count line against the lines that follow it.

    ASE allocates for the declared count before it reads, so a garbled count of
    10^9 would hang it; one cheap pass over the lines catches that first.
    """
    with open(path, "rb") as fh:
        n_lines = sum(1 for _ in fh)
    with open(path, "rb") as fh:
        header = 0
        for i, line in enumerate(fh):
            if i != header:
                continue
            text = line.strip()
            if not text:  # trailing blank lines end the file
                header += 1
                continue
            try:
                count = int(text)
            except ValueError:
                raise DataError(
                    f"{path}: line {i + 1} should hold an atom count, not {text[:40]!r}"
                ) from None
            if count < 0 or count > n_lines - i - 2:
                raise DataError(
                    f"{path}: line {i + 1} declares {count} atoms "
                    f"but only {max(n_lines - i - 2, 0)} lines follow"
                )
            header = i + count + 2


def _read_db(path: Path, index) -> list[Atoms]:
    import ase.db

    frames = []
    with ase.db.connect(str(path)) as db:
        for row in db.select():
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            data = row.data or {}
            atoms.info.update(data.get("info", {}))
            for name, value in data.get("arrays", {}).items():
                atoms.arrays[name] = np.asarray(value)
            frames.append(atoms)
    selected = frames[index]
    return selected if isinstance(selected, list) else [selected]


def read_frames(path: str | os.PathLike, index=":") -> tuple[list[Atoms], str]:
    """Read and validate the structures in ``path``; returns them and the format name."""
    path = Path(path)
    fmt = detect_format(path)
    idx = string2index(index) if isinstance(index, str) else index
    if fmt in ("extxyz", "xyz"):
        check_xyz_counts(path)
    try:
        frames = _read_db(path, idx) if fmt in _DB_FORMATS else ase_read(str(path), index=idx, format=fmt)
    except DataError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot be read as {fmt}: {message}") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise DataError(f"{path}: contains no structures")
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            raise DataError(f"{path}: entry {i} is not a structure")
        validate_structure(atoms, f"{path}, structure {i}")
    return frames, fmt


def load(
    path: str | os.PathLike,
    *,
    energy_key: str | None = None,
    forces_key: str | None = None,
    index: str | int | slice = ":",
) -> Dataset:
    """Read structures and their reference labels into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        An ASE database (``.db``, ``.json``), extxyz/xyz, ``.traj`` or anything
        ``ase.io.read`` knows. Pickle-based formats are refused.
    energy_key, forces_key : str, optional
        Where the energies (eV) and forces (eV/Å) are. Without them the
        calculator results are used, then ``REF_energy``/``REF_forces``,
        ``energy``/``forces``, ``dft_energy``/``dft_force``/``dft_forces``, ``force``.
    index : str, int or slice
        Which structures, in ASE's syntax (``":"``, ``"-10:"``, ``0``).

    Raises
    ------
    DataError
        For a missing, empty, garbled or unreadable file, invalid structures,
        or a named key that does not exist (the message lists those that do).

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> ds = load(default_path(), index=":3")
    >>> len(ds), ds.energy_key, ds.forces_key
    (3, 'energy', 'forces')
    """
    frames, _ = read_frames(path, index)
    energies, ekey = find_labels(frames, "energy", energy_key, str(path))
    forces, fkey = find_labels(frames, "forces", forces_key, str(path))
    return Dataset(
        frames, energies=energies, forces=forces, energy_key=ekey, forces_key=fkey, source=str(path)
    )


def _labelled_copy(atoms: Atoms, energy, forces, energy_key, forces_key) -> Atoms:
    copy = atoms.copy()  # drops the calculator, keeps info and arrays
    for key in {"energy", energy_key} - {None}:
        copy.info.pop(key, None)
    for key in {"forces", forces_key} - {None}:
        if key in copy.arrays and key not in ("positions", "numbers"):
            del copy.arrays[key]
    results = {}
    if energy is not None:
        results["energy"] = float(energy)
    if forces is not None:
        results["forces"] = np.asarray(forces)
    if results:
        copy.calc = SinglePointCalculator(copy, **results)
    return copy


_DB_RESERVED = {"id", "unique_id", "ctime", "mtime", "user", "calculator", "energy", "forces", "natoms",
                "charge", "fmax", "smax", "mass", "volume", "age", "formula", "pbc", "magmom", "stress"}


def _db_scalar(key: str, value) -> bool:
    return (
        isinstance(value, (bool, int, float, str, np.integer, np.floating, np.bool_))
        and key.isidentifier()
        and key not in _DB_RESERVED
    )


def _write_db(path: Path, frames: list[Atoms]) -> None:
    import ase.db

    with ase.db.connect(str(path), append=False) as db:
        for atoms in frames:
            kvp = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in atoms.info.items()
                   if _db_scalar(k, v)}
            info = {k: v for k, v in atoms.info.items() if k not in kvp}
            arrays = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
            db.write(atoms, key_value_pairs=kvp, data={"info": info, "arrays": arrays})


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Nothing is left behind when the block raises, and a reader never sees a
    half-written file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path}: already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if path.is_dir():
        raise DataError(f"{path}: is a directory")
    if not path.parent.exists():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def save(dataset: Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``dataset`` to extxyz/xyz, ASE ``.db``/``.json`` or ``.traj``, chosen by suffix.

    Info, per-atom arrays, energies and forces are kept (``.traj`` keeps info,
    energies and forces but not extra per-atom arrays), so ``load(save(ds, p))``
    gives the same structures and labels back. The write is atomic.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot write suffix {path.suffix!r}; use one of {', '.join(WRITE_FORMATS)}")
    if len(dataset) == 0:
        raise DataError(f"{path}: refusing to write an empty dataset")
    frames = [
        _labelled_copy(
            atoms,
            None if dataset.energies is None else dataset.energies[i],
            dataset.forces_of(i),
            dataset.energy_key,
            dataset.forces_key,
        )
        for i, atoms in enumerate(dataset.atoms)
    ]
    with atomic_path(path, overwrite) as tmp:
        if fmt in _DB_FORMATS:
            _write_db(tmp, frames)
        else:
            ase_write(str(tmp), frames, format=fmt)
    return path
