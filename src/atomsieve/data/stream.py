"""Reading structure files in partitions, for data that does not fit in memory.

``ase.io.iread`` streams text and trajectory formats; ASE databases are paged with
``select(offset=..., limit=...)``. Every partition is validated like :func:`atomsieve.load`
and labelled with the keys found in the first partition, so all partitions agree.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ase.io import iread

from atomsieve.data.dataset import Dataset
from atomsieve.data.io import check_xyz_counts, detect_format, plain_database, row_atoms
from atomsieve.data.labels import find_labels
from atomsieve.data.validate import validate_structure
from atomsieve.errors import DataError, ParameterError, PartialLabelsWarning


def _xyz_frame_texts(path: Path) -> Iterator[str]:
    """The text of every frame of an (ext)xyz file, count line to last atom line, unparsed."""
    from atomsieve.data.io import _open_binary

    with _open_binary(path) as fh:
        while line := fh.readline():
            if not line.strip():
                continue
            count = int(line)
            lines = [line, fh.readline()]
            lines.extend(fh.readline() for _ in range(count))
            yield b"".join(lines).decode()


@dataclass(frozen=True)
class TextPartition:
    """Consecutive frames of an (ext)xyz file as unparsed text: what a Dask worker receives, so the
    parsing (most of the work of reading) happens on the workers, not in the client."""

    text: str
    fmt: str
    first: int
    source: str

    def atoms(self) -> list:
        """The frames, parsed with ASE and validated as :func:`iter_partitions` validates them."""
        import io

        frames = list(iread(io.StringIO(self.text), index=":", format=self.fmt))
        for i, atoms in enumerate(frames):
            validate_structure(atoms, f"{self.source}, structure {self.first + i}")
        return frames


def iter_text_partitions(path: str | os.PathLike, partition_size: int = 1000) -> Iterator[TextPartition]:
    """Consecutive partitions of ``partition_size`` frames of an (ext)xyz file, unparsed.

    >>> from atomsieve.datasets import default_path
    >>> [len(p.atoms()) for p in iter_text_partitions(default_path("test"), 10)]
    [10, 10, 5]
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt not in ("extxyz", "xyz"):
        raise ParameterError(f"{path}: text partitions are for (ext)xyz files; this is {fmt}")
    check_xyz_counts(path)
    texts: list[str] = []
    first = 0
    for text in _xyz_frame_texts(path):
        texts.append(text)
        if len(texts) == partition_size:
            yield TextPartition("".join(texts), fmt, first, str(path))
            first += len(texts)
            texts = []
    if texts:
        yield TextPartition("".join(texts), fmt, first, str(path))
    elif first == 0:
        raise DataError(f"{path}: contains no structures")


def _frames(path: Path, fmt: str, only=None) -> Iterator[tuple[int, object]]:
    """``(index, Atoms)`` of every structure of ``path``, or of those whose index is in ``only`` (text
    formats then skip the other frames without parsing them) — stopping after the last of them."""
    last = max(only) if only else -1
    if only is not None and not only:
        return
    if fmt in ("db", "json"):
        import ase.db

        with plain_database(path) as plain, ase.db.connect(str(plain)) as db:
            for i, row in enumerate(db.select()):
                if only is None or i in only:
                    yield i, row_atoms(row)
                if i == last:
                    return
        return
    if fmt in ("extxyz", "xyz"):
        check_xyz_counts(path)
        if only is not None:
            import io

            from ase.io import read

            for i, text in enumerate(_xyz_frame_texts(path)):
                if i in only:
                    yield i, read(io.StringIO(text), format=fmt)
                if i == last:
                    return
            return
    for i, atoms in enumerate(iread(str(path), index=":", format=fmt)):
        if only is None or i in only:
            yield i, atoms
        if i == last:
            return


def iter_partitions(
    path: str | os.PathLike,
    partition_size: int = 1000,
    *,
    energy_key: str | None = None,
    forces_key: str | None = None,
    only=None,
) -> Iterator[Dataset]:
    """Yield consecutive :class:`Dataset` partitions of at most ``partition_size`` structures.

    Only one partition is held in memory at a time. Labels are looked up in the first
    partition as :func:`atomsieve.load` does; the keys found there are then required in
    every later partition. ``only``: a set of structure indices to read, in file order, skipping
    the rest (unparsed in text formats); the partitions then hold only those.

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> [len(p) for p in iter_partitions(default_path("test"), 10)]
    [10, 10, 5]
    >>> [len(p) for p in iter_partitions(default_path("test"), 10, only={3, 24})]
    [2]
    """
    if partition_size < 1:
        raise ParameterError(f"partition_size must be at least 1; got {partition_size}")
    path = Path(path)
    fmt = detect_format(path)
    keys = {"energy": energy_key, "forces": forces_key}
    first = True
    done = 0
    buffer, indices = [], []

    def flush() -> Dataset:
        nonlocal first
        for i, atoms in zip(indices, buffer):
            validate_structure(atoms, f"{path}, structure {i}")
        labels = {}
        for kind in ("energy", "forces"):
            if first or keys[kind] is not None:  # later partitions must carry the first one's keys
                notes: list[str] = []  # labels in only some structures of the first partition: say so
                labels[kind] = find_labels(buffer, kind, keys[kind], f"{path} (structures {indices[0]}..)",
                                           notes)
                for note in notes:
                    warnings.warn(note, PartialLabelsWarning, stacklevel=3)
                keys[kind] = labels[kind][1]
            else:
                labels[kind] = (None, None)
        first = False
        (energies, ekey), (forces, fkey) = labels["energy"], labels["forces"]
        return Dataset(list(buffer), energies=energies, forces=forces, energy_key=ekey, forces_key=fkey,
                       source=str(path))

    try:
        for i, atoms in _frames(path, fmt, only):
            buffer.append(atoms)
            indices.append(i)
            if len(buffer) == partition_size:
                yield flush()
                done = i + 1
                buffer.clear()
                indices.clear()
    except DataError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        read = indices[-1] + 1 if indices else done
        raise DataError(f"{path}: cannot be read as {fmt} after structure {read}: {message}") from None
    if buffer:
        yield flush()
    elif first and only is None:
        raise DataError(f"{path}: contains no structures")


def read_ahead(partitions: Iterator[Dataset], depth: int = 1) -> Iterator[Dataset]:
    """Yield from ``partitions`` while a background thread parses up to ``depth`` partitions ahead.

    Parsing text is Python work and featurising is compiled work, so reading the next partition
    while the current one is featurised keeps a second core busy. At most ``depth + 1``
    partitions (plus the one the caller holds) are in memory. Errors of the reader are raised
    here, in order; the thread stops when the caller stops iterating.

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> [len(p) for p in read_ahead(iter_partitions(default_path("test"), 10))]
    [10, 10, 5]
    """
    import queue
    import threading

    if depth < 1:
        raise ParameterError(f"depth must be at least 1; got {depth}")
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for part in partitions:
                if not put((part, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))
            return
        put((end, None))

    thread = threading.Thread(target=reader, name="atomsieve-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _xyz_species_column(comment: bytes) -> int | None:
    """Column of the element symbols in an extxyz frame (``Properties=species:S:1:pos:R:3``; the first
    column of a plain xyz frame), or None when the frame names its elements otherwise."""
    text = comment.decode(errors="replace")
    start = text.find("Properties=")
    if start < 0:
        start = text.lower().find("properties=")
    if start < 0:
        return 0
    spec = text[start + len("Properties="):].split(None, 1)[0].strip("\"'").split(":")
    column = 0
    for k in range(0, len(spec) - 2, 3):
        name, count = spec[k], spec[k + 2]
        if name.lower() == "species":
            return column
        try:
            column += int(count)
        except ValueError:
            return None
    return None


def scan_elements(path: str | os.PathLike) -> list[str]:
    """Element symbols of every structure in ``path``, sorted, without building the structures.

    Extended XYZ is scanned as text (a few seconds for 5 × 10^6 atoms); other formats are read
    structure by structure. Needed before featurising a stream: the descriptor depends on the
    elements of the whole file, not of its first partition. The scan is remembered while the file
    is unchanged (:func:`count_structures` then costs nothing).

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> scan_elements(default_path("test")), count_structures(default_path("test"))
    (['Ge'], 25)
    """
    return list(_scan(*_file_key(path))[0])


def count_structures(path: str | os.PathLike) -> int:
    """Number of structures in ``path`` (from the same scan as :func:`scan_elements`)."""
    return _scan(*_file_key(path))[1]


def _file_key(path) -> tuple[str, int, int]:
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        detect_format(path)  # names the problem (no such file, a folder, ...)
        raise
    return str(path.resolve()), int(stat.st_size), int(stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _scan(path: str, _size: int, _mtime: int) -> tuple[tuple[str, ...], int]:
    from atomsieve.data.io import _open_binary

    path = Path(path)
    fmt = detect_format(path)
    found: set[str] = set()
    count = 0
    if fmt in ("extxyz", "xyz"):
        check_xyz_counts(path)
        with _open_binary(path) as fh:
            while line := fh.readline():
                text = line.strip()
                if not text:
                    continue
                n = int(text)
                count += 1
                column = _xyz_species_column(fh.readline())
                if column is None:  # elements given otherwise (e.g. a Z column): read it as ASE does
                    found, count = set(), 0
                    break
                for _ in range(n):
                    found.add(fh.readline().split()[column].decode())
            else:
                return tuple(sorted(found)), count
    try:
        for _, atoms in _frames(path, fmt):
            found.update(atoms.get_chemical_symbols())
            count += 1
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as {fmt}: {exc}") from None
    return tuple(sorted(found)), count


class _SelectionWriter:
    """Appends structures to one output file: extxyz text, an ASE database or a trajectory."""

    def __init__(self, path: Path, fmt: str):
        self.fmt = fmt
        if fmt in ("db", "json"):
            import ase.db

            self.handle = ase.db.connect(str(path), append=False)
            self.handle.__enter__()  # one transaction for all rows, as save() writes them
        elif fmt == "traj":
            from ase.io import Trajectory

            self.handle = Trajectory(str(path), "w")
        else:
            self.handle = open(path, "w")

    def write(self, frames: list) -> None:
        from ase.io import write

        from atomsieve.data.io import write_db_rows

        if not frames:
            return
        if self.fmt in ("db", "json"):
            write_db_rows(self.handle, frames)
        elif self.fmt == "traj":
            for atoms in frames:
                self.handle.write(atoms)
        else:
            write(self.handle, frames, format=self.fmt)

    def close(self) -> None:
        if self.fmt in ("db", "json"):
            self.handle.__exit__(None, None, None)
        else:
            self.handle.close()


def write_selected(
    path: str | os.PathLike,
    indices,
    output: str | os.PathLike,
    *,
    overwrite: bool = False,
    energy_key: str | None = None,
    forces_key: str | None = None,
    partition_size: int = 1000,
    label_prefix: str | None = None,
    isolated_atom_energies: dict[str, float] | None = None,
    progress=None,
    should_stop=None,
) -> Path:
    """Write the structures of ``path`` at ``indices``, in that order, to ``output`` while reading
    ``path`` in partitions: the same file as ``save(load(path).subset(indices), output, ...)``
    (``label_prefix`` and ``isolated_atom_energies`` as there).

    Only selected structures are kept, and only until everything before them in ``indices`` is
    written: a selection in file order (or file order after one seed structure, as LE-bank
    selects) holds at most the selected structures read before its first one.

    ``progress(done, total, label)`` hears of the structures written; ``should_stop()`` is polled
    before every partition: True raises :class:`~atomsieve.errors.Stopped` and leaves no
    ``output`` (the file is written under a temporary name and renamed when complete).

    Examples
    --------
    >>> import os, tempfile
    >>> from atomsieve import load
    >>> from atomsieve.datasets import default_path
    >>> out = write_selected(default_path("test"), [7, 2, 9], os.path.join(tempfile.mkdtemp(), "s.extxyz"),
    ...                      partition_size=4)
    >>> load(out).energies.tolist() == load(default_path("test")).energies[[7, 2, 9]].tolist()
    True
    """
    import numpy as np

    from atomsieve.data.io import WRITE_FORMATS, _labelled_copy, atomic_path
    from atomsieve.progress import check_stop, report

    output = Path(output)
    fmt = WRITE_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise DataError(f"{output}: cannot write suffix {output.suffix!r}; use one of "
                        f"{', '.join(WRITE_FORMATS)}")
    order = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
    if not order:
        raise DataError(f"{output}: refusing to write an empty dataset")
    rank: dict[int, list[int]] = {}
    for k, i in enumerate(order):
        rank.setdefault(i, []).append(k)
    pending: dict[int, object] = {}
    next_k = 0
    wanted = sorted(rank)  # the file's selected structures, in file order
    seen = 0
    with atomic_path(output, overwrite) as tmp:
        writer = _SelectionWriter(tmp, fmt)
        try:
            for part in iter_partitions(path, partition_size, energy_key=energy_key, forces_key=forces_key,
                                        only=set(wanted)):
                check_stop(should_stop, f"writing {output}")
                for j, atoms in enumerate(part.atoms):
                    for k in rank[wanted[seen + j]]:
                        energy = None if part.energies is None else part.energies[j]
                        pending[k] = _labelled_copy(atoms, energy, part.forces_of(j), part.energy_key,
                                                    part.forces_key, label_prefix)
                seen += len(part)
                ready = []
                while next_k in pending:
                    ready.append(pending.pop(next_k))
                    next_k += 1
                writer.write(ready)
                report(progress, next_k, len(order), "structures written")
                if next_k == len(order):
                    break
            if isolated_atom_energies and next_k == len(order):
                from atomsieve.data.fitting_labels import isolated_atoms

                writer.write(isolated_atoms(isolated_atom_energies, label_prefix))
        finally:
            writer.close()
        if next_k < len(order):
            raise DataError(f"{path}: has no structure {wanted[seen]}; the selection does not fit this file")
    return output


def read_compact(path: str | os.PathLike, *, energy_key: str | None = None, forces_key: str | None = None,
                 partition_size: int = 500, progress=None, should_stop=None):
    """Read a structure file into a :class:`~atomsieve.data.dataset.Dataset` of
    :class:`CompactFrames`, a partition at a time: the same structures, labels, keys and content hash
    as :func:`atomsieve.load`, in about 60 bytes per atom instead of 2.8 kB.

    ``progress(done, total, label)`` hears of the structures read; ``should_stop()`` is polled
    before every partition (True raises :class:`~atomsieve.errors.Stopped`).

    Examples
    --------
    >>> from atomsieve import load
    >>> from atomsieve.datasets import default_path
    >>> ds = read_compact(default_path("test"), partition_size=10)
    >>> ds.content_hash() == load(default_path("test")).content_hash(), type(ds.atoms).__name__
    (True, 'CompactFrames')
    """
    import numpy as np

    from atomsieve.data.frames import FramesBuilder
    from atomsieve.progress import check_stop, report

    total = count_structures(path) if progress is not None else 0
    builder = FramesBuilder()
    energies, forces, keys, n_atoms = [], [], (None, None), 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartialLabelsWarning)
        for part in iter_partitions(path, partition_size, energy_key=energy_key, forces_key=forces_key):
            check_stop(should_stop, f"reading {path}")
            builder.extend(part.atoms)
            keys = (part.energy_key, part.forces_key)
            energies.append(part.energies)
            forces.append(part.forces)
            n_atoms += len(part.numbers)
            report(progress, builder.n, total, f"{n_atoms:,} atoms read")
    notes = [str(w.message) for w in caught if issubclass(w.category, PartialLabelsWarning)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    frames = builder.build()
    energy = None if any(e is None for e in energies) else np.concatenate(energies)
    force = None if any(f is None for f in forces) else np.concatenate(forces)
    for name, stacked in frames.atom_results.items():  # one copy of the forces, not two
        if force is not None and stacked.shape == force.shape and np.array_equal(stacked, force):
            frames.atom_results[name] = force = np.ascontiguousarray(force, dtype=np.float64)
    dataset = Dataset(frames, energies=energy, forces=force, energy_key=keys[0], forces_key=keys[1],
                      source=str(path))
    dataset.label_notes = notes
    return dataset

