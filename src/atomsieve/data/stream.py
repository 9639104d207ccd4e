"""Reading structure files in partitions, for data that does not fit in memory.

``ase.io.iread`` streams text and trajectory formats; ASE databases are paged with
``select(offset=..., limit=...)``. Every partition is validated like :func:`atomsieve.load`
and labelled with the keys found in the first partition, so all partitions agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ase.io import iread

from atomsieve.data.dataset import Dataset
from atomsieve.data.io import check_xyz_counts, detect_format, plain_database, row_atoms
from atomsieve.data.labels import find_labels
from atomsieve.data.validate import validate_structure
from atomsieve.errors import DataError, ParameterError


def _frames(path: Path, fmt: str) -> Iterator:
    if fmt in ("db", "json"):
        import ase.db

        with plain_database(path) as plain, ase.db.connect(str(plain)) as db:
            for row in db.select():
                yield row_atoms(row)
        return
    if fmt in ("extxyz", "xyz"):
        check_xyz_counts(path)
    yield from iread(str(path), index=":", format=fmt)


def iter_partitions(
    path: str | os.PathLike,
    partition_size: int = 1000,
    *,
    energy_key: str | None = None,
    forces_key: str | None = None,
) -> Iterator[Dataset]:
    """Yield consecutive :class:`Dataset` partitions of at most ``partition_size`` structures.

    Only one partition is held in memory at a time. Labels are looked up in the first
    partition as :func:`atomsieve.load` does; the keys found there are then required in
    every later partition.

    Examples
    --------
    >>> from atomsieve.datasets import default_path
    >>> [len(p) for p in iter_partitions(default_path("test"), 10)]
    [10, 10, 5]
    """
    if partition_size < 1:
        raise ParameterError(f"partition_size must be at least 1; got {partition_size}")
    path = Path(path)
    fmt = detect_format(path)
    keys = {"energy": energy_key, "forces": forces_key}
    first = True
    done = 0
    buffer = []

    def flush() -> Dataset:
        nonlocal first
        for i, atoms in enumerate(buffer):
            validate_structure(atoms, f"{path}, structure {done + i}")
        labels = {}
        for kind in ("energy", "forces"):
            if first or keys[kind] is not None:  # later partitions must carry the first one's keys
                labels[kind] = find_labels(buffer, kind, keys[kind], f"{path} (structures {done}..)")
                keys[kind] = labels[kind][1]
            else:
                labels[kind] = (None, None)
        first = False
        (energies, ekey), (forces, fkey) = labels["energy"], labels["forces"]
        return Dataset(list(buffer), energies=energies, forces=forces, energy_key=ekey, forces_key=fkey,
                       source=str(path))

    try:
        for atoms in _frames(path, fmt):
            buffer.append(atoms)
            if len(buffer) == partition_size:
                yield flush()
                done += len(buffer)
                buffer.clear()
    except DataError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: cannot be read as {fmt} after structure {done + len(buffer)}: {message}"
        ) from None
    if buffer:
        yield flush()
    elif first:
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
