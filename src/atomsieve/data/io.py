"""Reading and writing structure files through ASE, with clear errors and atomic writes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read as ase_read
from ase.io import write as ase_write
from ase.io.formats import filetype, get_compression, open_with_compression, string2index

from atomsieve.data.dataset import Dataset
from atomsieve.data.fitting_labels import isolated_atoms, prefixed_copy
from atomsieve.data.labels import find_labels
from atomsieve.data.validate import validate_structure
from atomsieve.errors import (
    AtomsieveError,
    DataError,
    ParameterError,
    PartialLabelsWarning,
    StorageError,
    os_problem,
)

#: Output suffix -> ASE format name.
WRITE_FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".db": "db", ".json": "json", ".traj": "traj"}
#: Formats that can run code or unpickle objects on reading: never opened.
REFUSED_FORMATS = {"bundletrajectory", "py", "pickle"}
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".pckl", ".npy", ".npz", ".pt", ".pth"}
_DB_FORMATS = {"db", "json"}
#: Compressed inputs ASE opens by suffix, and the magic bytes that give each away.
COMPRESSIONS = {"gz": b"\x1f\x8b", "bz2": re.compile(rb"BZh[1-9]1AY&SY"), "xz": b"\xfd7zXZ\x00"}


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
    try:
        open(path, "rb").close()
    except OSError as exc:  # a file-system fault (permissions, I/O), not the content
        raise StorageError(f"{path}: cannot be read: {os_problem(exc, path.parent.absolute())}") from None
    compression = compression_of(path)
    try:
        with _open_binary(path) as fh:
            head = fh.read(4096)
    except (OSError, EOFError, ValueError) as exc:  # gzip/bz2/lzma errors
        if isinstance(exc, OSError) and exc.errno is not None:  # a file-system fault, not the content
            raise StorageError(f"{path}: cannot be read: {os_problem(exc, path.parent.absolute())}") from None
        raise DataError(f"{path}: not a valid {compression} file ({exc})") from None
    if compression and not head:
        raise DataError(f"{path}: the {compression} file decompresses to nothing")
    suffix = Path(get_compression(path.name)[0]).suffix.lower()
    if suffix in _PICKLE_SUFFIXES or _looks_pickled(head):
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


def compression_of(path: Path) -> str | None:
    """``"gz"``, ``"bz2"`` or ``"xz"`` for a compressed file named so, None for a plain one.

    A compressed file whose name does not say so is refused with the suffix to add,
    since ASE chooses the decompressor by the name.
    """
    compression = get_compression(str(path))[1]
    if compression is None:
        with open(path, "rb") as fh:
            head = fh.read(10)
        for kind, magic in COMPRESSIONS.items():
            if magic.match(head) if isinstance(magic, re.Pattern) else head.startswith(magic):
                raise DataError(f"{path}: the file is {kind}-compressed; name it {path.name}.{kind}")
    return compression


def _open_binary(path: Path):
    return open_with_compression(str(path), "rb")


@contextmanager
def plain_database(path: Path) -> Iterator[Path]:
    """``path``, or a decompressed temporary copy of it: ``ase.db`` opens only plain files."""
    compression = get_compression(str(path))[1]
    if compression is None:
        yield path
        return
    tmpdir = Path(tempfile.mkdtemp(prefix="atomsieve-db-"))
    try:
        plain = tmpdir / Path(get_compression(path.name)[0]).name
        with _open_binary(path) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield plain
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def check_xyz_counts(path: Path) -> None:
    """Check every frame's atom-count line against the lines that follow it.

    ASE allocates for the declared count before it reads, so a garbled count of
    10^9 would hang it; one cheap pass over the lines catches that first.
    """
    with _open_binary(path) as fh:
        n_lines = sum(1 for _ in fh)
    with _open_binary(path) as fh:
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


def row_atoms(row) -> Atoms:
    """The structure of an ``ase.db`` row with its key-value pairs and stored info/arrays."""
    atoms = row.toatoms()
    atoms.info.update(row.key_value_pairs)
    data = row.data or {}
    atoms.info.update(data.get("info", {}))
    for name, value in data.get("arrays", {}).items():
        atoms.arrays[name] = np.asarray(value)
    return atoms


def select_rows(db, path: Path, query: str | None = None, **kwargs):
    """``db.select(query)`` with ASE's selection grammar; a query ASE rejects is a :class:`DataError`."""
    rows = db.select(query, **kwargs) if query else db.select(**kwargs)
    try:
        yield from rows
    except (ValueError, KeyError, SyntaxError, TypeError, AssertionError) as exc:
        raise DataError(
            f"{path}: query {query!r} is not valid ASE selection syntax ({exc}); "
            "e.g. 'config_type=bulk,natoms<100'"
        ) from None


def _read_db(path: Path, index, query: str | None = None) -> list[Atoms]:
    import ase.db

    with plain_database(path) as plain, ase.db.connect(str(plain)) as db:
        frames = [row_atoms(row) for row in select_rows(db, path, query)]
    if query and not frames:
        raise DataError(f"{path}: no structure matches query {query!r}")
    selected = frames[index]
    return selected if isinstance(selected, list) else [selected]


def read_frames(path: str | os.PathLike, index=":", query: str | None = None) -> tuple[list[Atoms], str]:
    """Read and validate the structures in ``path``; returns them and the format name.

    ``path`` may be compressed (``.gz``, ``.bz2``, ``.xz``); ``query`` selects rows of an
    ASE database (``.db``, ``.json``) in ASE's grammar before ``index`` applies.
    """
    path = Path(path)
    fmt = detect_format(path)
    if query and fmt not in _DB_FORMATS:  # an option that does not apply: ParameterError, as in every verb
        raise ParameterError(
            f"{path}: a query needs an ASE database (.db or .json); a {fmt} file has no query; "
            "convert it with `ase convert` or drop --query"
        )
    idx = string2index(index) if isinstance(index, str) else index
    if fmt in ("extxyz", "xyz"):
        check_xyz_counts(path)
    try:
        if fmt in _DB_FORMATS:
            frames = _read_db(path, idx, query)
        else:
            frames = ase_read(str(path), index=idx, format=fmt)
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
    query: str | None = None,
) -> Dataset:
    """Read structures and their reference labels into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        An ASE database (``.db``, ``.json``), extxyz/xyz, ``.traj`` or anything
        ``ase.io.read`` knows, plain or compressed (``.gz``, ``.bz2``, ``.xz``).
        Pickle-based formats are refused.
    energy_key, forces_key : str, optional
        Where the energies (eV) and forces (eV/Å) are. Without them the
        calculator results are used, then ``REF_energy``/``REF_forces``,
        ``energy``/``forces``, ``dft_energy``/``dft_force``/``dft_forces``, ``force``.
    index : str, int or slice
        Which structures, in ASE's syntax (``":"``, ``"-10:"``, ``0``).
    query : str, optional
        For ASE databases only: rows to read, in ASE's selection grammar
        (``"config_type=bulk,natoms<100"``), as ``ase db PATH QUERY`` takes it.
        ``index`` then applies to the matching rows.

    Raises
    ------
    DataError
        For a missing, empty, garbled or unreadable file, invalid structures,
        or a named key that does not exist (the message lists those that do);
        a query on a file that is not a database, one ASE rejects, or one nothing matches.

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> ds = load(default_path(), index=":3")
    >>> len(ds), ds.energy_key, ds.forces_key
    (3, 'energy', 'forces')
    """
    frames, _ = read_frames(path, index, query)
    notes: list[str] = []
    energies, ekey = find_labels(frames, "energy", energy_key, str(path), notes)
    forces, fkey = find_labels(frames, "forces", forces_key, str(path), notes)
    for note in notes:
        warnings.warn(note, PartialLabelsWarning, stacklevel=2)
    dataset = Dataset(
        frames, energies=energies, forces=forces, energy_key=ekey, forces_key=fkey, source=str(path)
    )
    dataset.label_notes = notes
    return dataset


def _labelled_copy(atoms: Atoms, energy, forces, energy_key, forces_key, prefix=None) -> Atoms:
    if prefix is not None:
        return prefixed_copy(atoms, energy, forces, prefix, drop=tuple({energy_key, forces_key} - {None}))
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
        write_db_rows(db, frames)


def write_db_rows(db, frames: list[Atoms]) -> None:
    """Write ``frames`` into an open ASE database: scalar info as key-value pairs, the rest as data."""
    for atoms in frames:
        kvp = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in atoms.info.items()
               if _db_scalar(k, v)}
        info = {k: v for k, v in atoms.info.items() if k not in kvp}
        arrays = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
        db.write(atoms, key_value_pairs=kvp, data={"info": info, "arrays": arrays})


#: Start of the name of every temporary folder :func:`atomic_path` makes beside an output; the rest is
#: ``HOST.PID.NAME.RANDOM``, so a later write can tell the temporaries of killed processes.
TEMP_PREFIX = ".atomsieve-partial."

_WRITE_GROUP: ContextVar[list | None] = ContextVar("atomsieve_write_group", default=None)


def _host() -> str:
    return socket.gethostname().replace(".", "-") or "host"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders that killed writes of this host left in ``folder``.

    A write killed mid-way (SIGKILL, power loss) cannot clean up after itself; every later
    :func:`atomic_path` into the same folder removes what such writes left, recognised by
    :data:`TEMP_PREFIX`, this host's name and a process id that no longer runs.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    host = _host()
    try:
        entries = list(Path(folder).glob(TEMP_PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        parts = entry.name[len(TEMP_PREFIX):].split(".", 2)
        if len(parts) < 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if int(parts[1]) == os.getpid() or _process_alive(int(parts[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def _storage_error(path: Path, exc: BaseException) -> StorageError | None:
    problem = os_problem(exc, path.parent.absolute())
    return None if problem is None else StorageError(f"{path}: cannot be written: {problem}")


def temporary_folder(path: str | os.PathLike) -> Path:
    """A new, empty temporary folder beside ``path``, for writing ``path`` (a file or a folder) in.

    Named ``TEMP_PREFIX + HOST.PID.NAME.*`` so that what a killed write leaves is recognised and
    removed by the next one (:func:`remove_stale_temporaries` runs first); a file-system fault is a
    :class:`StorageError` naming ``path``.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{_host()}.{os.getpid()}.{path.name}.",
                                     dir=path.parent))
    except OSError as exc:
        raise (_storage_error(path, exc) or exc) from None


def raise_storage_error(path: str | os.PathLike, exc: BaseException) -> None:
    """Raise a :class:`StorageError` naming ``path`` when ``exc`` is a file-system fault; else return."""
    error = _storage_error(Path(path), exc)
    if error is not None:
        raise error from None


def _about_other_file(exc: BaseException, tmpdir: Path) -> bool:
    """An OSError naming a file outside the temporary folder is not about this output."""
    name = getattr(exc, "filename", None)
    return isinstance(name, (str, os.PathLike)) and tmpdir not in Path(name).absolute().parents


def check_writable(path: str | os.PathLike) -> None:
    """Fail before the work when the folder of ``path`` is read-only or forbidden (:class:`StorageError`)."""
    path = Path(path)
    folder = path.parent.absolute()
    if not folder.is_dir() or os.access(folder, os.W_OK | os.X_OK):
        return
    read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    problem = f"{folder} is on a read-only file system" if read_only else f"permission denied in {folder}"
    raise StorageError(f"{path}: cannot be written: {problem}")


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Nothing is left behind when the block raises, and a reader never sees a
    half-written file. The temporary folder's name starts with :data:`TEMP_PREFIX`; what a killed
    write left there is removed by the next write into that folder. Inside :func:`atomic_group`
    the rename waits for the group. File-system faults (full disk, read-only or forbidden folder)
    raise :class:`StorageError` naming ``path`` and the fault, never the temporary name.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path}: already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if path.is_dir():
        raise DataError(f"{path}: is a directory")
    if not path.parent.exists():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    tmpdir = temporary_folder(path)
    group = _WRITE_GROUP.get()
    handed_over = False
    try:
        tmp = tmpdir / path.name
        try:
            yield tmp
            if group is not None:
                if not tmp.exists():
                    raise DataError(f"{path}: the writer produced no file")
                group.append((tmp, path))
                handed_over = True
            else:
                os.replace(tmp, path)
        except AtomsieveError:
            raise
        except Exception as exc:
            error = None if _about_other_file(exc, tmpdir) else _storage_error(path, exc)
            if error is None:
                raise
            raise error from None
    finally:
        if not handed_over:
            shutil.rmtree(tmpdir, ignore_errors=True)


@contextmanager
def atomic_group() -> Iterator[None]:
    """Write several files all or nothing.

    Every :func:`atomic_path` inside the block writes its temporary file as usual but renames it
    only when the whole block has succeeded; when any part fails, none of the files appears (and
    files being replaced keep their old content). Nested groups join the outer one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> try:
    ...     with atomic_group():
    ...         with atomic_path(folder / "a.txt") as tmp:
    ...             _ = tmp.write_text("a")
    ...         raise RuntimeError("the second file failed")
    ... except RuntimeError:
    ...     pass
    >>> sorted(p.name for p in folder.iterdir())
    []
    """
    if _WRITE_GROUP.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _WRITE_GROUP.set(pending)
    try:
        yield
    except BaseException:
        _WRITE_GROUP.reset(token)
        for tmp, _ in pending:
            shutil.rmtree(tmp.parent, ignore_errors=True)
        raise
    _WRITE_GROUP.reset(token)
    placed: list[tuple[Path, Path | None]] = []
    try:
        for tmp, path in pending:
            backup = None
            if path.exists():
                backup = tmp.parent / ".previous"
                try:
                    os.link(path, backup)
                except OSError:
                    shutil.copy2(path, backup)
            os.replace(tmp, path)
            placed.append((path, backup))
    except OSError as exc:
        for path, backup in reversed(placed):  # undo: the old content back, new files away
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        raise (_storage_error(path, exc) or exc) from None
    finally:
        for tmp, _ in pending:
            shutil.rmtree(tmp.parent, ignore_errors=True)


def save(
    dataset: Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    label_prefix: str | None = None,
    isolated_atom_energies: dict[str, float] | None = None,
) -> Path:
    """Write ``dataset`` to extxyz/xyz, ASE ``.db``/``.json`` or ``.traj``, chosen by suffix.

    Info, per-atom arrays, energies and forces are kept (``.traj`` keeps info,
    energies and forces but not extra per-atom arrays), so ``load(save(ds, p))``
    gives the same structures and labels back. The write is atomic.

    Parameters
    ----------
    label_prefix : str, optional
        Write the labels as fitting codes read them: ``info[prefix + "energy"]``,
        ``arrays[prefix + "forces"]`` and ``info[prefix + "stress"]`` when a stress is present
        (MACE's prefix is ``"REF_"``); ``config_type`` and every other key are kept. Not for ``.traj``,
        which drops per-atom arrays. See :mod:`atomsieve.data.fitting_labels`.
    isolated_atom_energies : dict, optional
        ``{"Ge": -0.1234}``: append one single-atom frame per element with this energy (eV) and
        ``config_type=IsolatedAtom``, from which MACE takes its reference energies ``E0``.

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
    if label_prefix is not None and fmt == "traj":
        raise DataError(f"{path}: a .traj file drops per-atom arrays, so it cannot hold "
                        f"{label_prefix}forces; write extxyz or an ASE database instead")
    frames = [
        _labelled_copy(
            atoms,
            None if dataset.energies is None else dataset.energies[i],
            dataset.forces_of(i),
            dataset.energy_key,
            dataset.forces_key,
            label_prefix,
        )
        for i, atoms in enumerate(dataset.atoms)
    ]
    if isolated_atom_energies:
        frames += isolated_atoms(isolated_atom_energies, label_prefix)
    with atomic_path(path, overwrite) as tmp:
        if fmt in _DB_FORMATS:
            _write_db(tmp, frames)
        else:
            ase_write(str(tmp), frames, format=fmt)
    return path
