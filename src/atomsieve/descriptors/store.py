"""An on-disk, memory-mapped feature store for datasets larger than memory.

Not a cache: a store is built once from a structure file and read in chunks by the streamed
selectors (roles of storage, cache and store: :mod:`atomsieve.descriptors`).

A store is a folder::

    values.f64     raw (unscaled) features, float64, row-major (n_atoms, n_features)
    species.i64    atomic number of every atom
    structure.i64  global structure index of every atom
    meta.json      descriptor params, fitted scaler, shapes, SHA-256 of each file

It is built by streaming the structure file in partitions (:func:`atomsieve.data.stream.iter_partitions`),
featurising each partition with the descriptor's own ``compute`` (in this process, the next partition
parsed meanwhile, or on Dask workers), appending to the files (hashed as they are written) and keeping
running per-element minima and maxima, so the min–max scaler and the checksums of the whole data are
known at the end without a second pass. No step holds more than a few partitions. Reading gives
scaled :class:`AtomicFeatures` chunks that end on structure boundaries. The folder is written under
a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from atomsieve.data.io import raise_storage_error, temporary_folder
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.descriptors.scaling import scaler_from_dict
from atomsieve.digest import canonical_json
from atomsieve.errors import CacheError, DataError, ParameterError
from atomsieve.progress import ProgressCallback, StopCallback, check_stop, report

FORMAT = "atomsieve-feature-store-1"
_FILES = {"values": ("values.f64", np.float64), "species": ("species.i64", np.int64),
          "structure": ("structure.i64", np.int64)}


_DESCRIPTORS: dict[str, object] = {}


def _descriptor(params: dict):
    """The descriptor of ``params``, built once per process (workers featurise many partitions)."""
    from atomsieve.descriptors.symmetry import SymmetryFunctions

    key = canonical_json(params)
    if key not in _DESCRIPTORS:
        _DESCRIPTORS[key] = SymmetryFunctions.from_params(params)
    return _DESCRIPTORS[key]


def _raw_partition(params: dict, num_threads: int | None, partition) -> tuple[np.ndarray, ...]:
    """Unscaled features, atomic numbers and atoms per structure of one partition (a list of
    ``Atoms``, or a :class:`~atomsieve.data.stream.TextPartition` parsed here), in this process or on
    a worker, through the same :meth:`SymmetryFunctions.compute` as in-memory featurising."""
    atoms_list = partition if isinstance(partition, list) else partition.atoms()
    feats = _descriptor(params).compute(atoms_list, scaler="none", device="cpu", num_threads=num_threads)
    return feats.values, feats.species, np.array([len(a) for a in atoms_list], dtype=np.int64)


class _HashedAppend:
    """A binary file written by appending arrays, hashed (SHA-256) as it is written."""

    def __init__(self, path: Path):
        self.handle = open(path, "wb")
        self.hash = hashlib.sha256()

    def write(self, array: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(array)).cast("B")
        self.handle.write(data)
        self.hash.update(data)

    def hexdigest(self) -> str:
        return self.hash.hexdigest()

    def close(self) -> None:
        self.handle.close()


def source_stat(path: str | os.PathLike) -> list[int]:
    """Size and modification time (ns) of a source file: a store built from it is current while
    these match."""
    stat = Path(path).stat()
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _check_build(folder: Path, overwrite: bool, num_threads: int | None) -> None:
    if folder.exists() and not overwrite:
        raise DataError(f"{folder}: already exists; pass overwrite=True to rebuild it")
    if not folder.parent.is_dir():
        raise DataError(f"{folder}: folder {folder.parent} does not exist")
    if num_threads is not None and int(num_threads) < 1:
        raise ParameterError(f"num_threads must be a positive number of threads or None; got {num_threads}")


class _Written:
    """What a store build has appended so far: counts and per-element minima and maxima (the min–max
    scaler of the whole data, streamed)."""

    def __init__(self):
        self.lo: dict[int, np.ndarray] = {}
        self.hi: dict[int, np.ndarray] = {}
        self.n_atoms = self.n_structures = 0

    def append(self, files: dict, values: np.ndarray, species: np.ndarray, counts: np.ndarray) -> None:
        """Append one partition's unscaled ``values``, atomic numbers and atoms per structure."""
        files["values"].write(np.ascontiguousarray(values, dtype=np.float64))
        files["species"].write(species.astype(np.int64))
        files["structure"].write(np.repeat(np.arange(len(counts)) + self.n_structures, counts))
        for z in np.unique(species):
            rows = values[species == z]
            self.lo[z] = np.minimum(self.lo.get(z, np.inf), rows.min(axis=0))
            self.hi[z] = np.maximum(self.hi.get(z, -np.inf), rows.max(axis=0))
        self.n_atoms += int(counts.sum())
        self.n_structures += len(counts)

    def scaler(self) -> dict:
        """The min–max scaler's ``to_dict()`` form."""
        elements = sorted(int(z) for z in self.lo)
        return {"kind": "minmax", "elements": elements, "min": [self.lo[z].tolist() for z in elements],
                "max": [self.hi[z].tolist() for z in elements]}


class FeatureStore:
    """Memory-mapped per-atom features of a large dataset.

    Examples
    --------
    >>> import tempfile, os
    >>> from atomsieve.datasets import default_path
    >>> from atomsieve.descriptors import SymmetryFunctions
    >>> folder = os.path.join(tempfile.mkdtemp(), "store")
    >>> sf = SymmetryFunctions.li_single_element(["Ge"])
    >>> store = FeatureStore.build(default_path("test"), folder, sf, partition_size=10)
    >>> store.n_structures, store.n_atoms
    (25, 1568)
    >>> sum(chunk.n_atoms for chunk in store.chunks(max_atoms=500))
    1568
    """

    def __init__(self, folder: str | os.PathLike, *, verify: bool = True):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        try:
            self.meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise CacheError(f"{self.folder}: not a readable feature store ({exc})") from None
        if self.meta.get("format") != FORMAT:
            raise CacheError(f"{self.folder}: not a feature store of format {FORMAT}")
        n, f = self.n_atoms, self.n_features
        for name, (filename, dtype) in _FILES.items():
            path = self.folder / filename
            expected = n * (f if name == "values" else 1) * np.dtype(dtype).itemsize
            if not path.is_file() or path.stat().st_size != expected:
                raise CacheError(f"{path}: missing or of the wrong size; the store is damaged, rebuild it")
        for name, (filename, _) in _FILES.items():
            path = self.folder / filename
            if verify and _sha256(path) != self.meta["sha256"][name]:
                raise CacheError(f"{path}: checksum mismatch; the store is damaged, rebuild it")
        self.values = np.memmap(self.folder / "values.f64", dtype=np.float64, mode="r", shape=(n, f))
        self.species = np.memmap(self.folder / "species.i64", dtype=np.int64, mode="r", shape=(n,))
        self.structure = np.memmap(self.folder / "structure.i64", dtype=np.int64, mode="r", shape=(n,))
        self.scaler = scaler_from_dict(self.meta["scaler"])

    n_atoms = property(lambda self: int(self.meta["n_atoms"]))
    n_structures = property(lambda self: int(self.meta["n_structures"]))
    n_features = property(lambda self: int(self.meta["n_features"]))
    params = property(lambda self: self.meta["params"])

    def __repr__(self) -> str:
        return f"FeatureStore({self.folder}, {self.n_structures} structures, {self.n_atoms} atoms)"

    @classmethod
    def build(
        cls,
        source: str | os.PathLike,
        folder: str | os.PathLike,
        descriptor,
        *,
        partition_size: int = 500,
        energy_key: str | None = None,
        forces_key: str | None = None,
        scheduler=None,
        n_workers: int | None = None,
        num_threads: int | None = 1,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        total: int | None = None,
        should_stop: StopCallback | None = None,
    ) -> FeatureStore:
        """Stream ``source`` in partitions of ``partition_size`` structures into a store at ``folder``.

        Parameters
        ----------
        source : path
            A structure file :func:`atomsieve.data.stream.iter_partitions` reads.
        folder : path
            The store's folder (written under a temporary name, renamed when complete).
        descriptor : SymmetryFunctions
            Featurises each partition with its own ``compute`` (``scaler="none"``, CPU).
        partition_size : int
            Structures per partition; about ``partition_size`` × atoms per structure × n_features
            × 8 bytes of features are in memory per partition in flight.
        scheduler, n_workers
            See :mod:`atomsieve.parallel`: None featurises in this process (the next partition is
            parsed in a background thread meanwhile); ``"local"`` or an address featurises on Dask
            workers, ``2 × n_workers`` partitions in flight at a time so memory stays bounded.
        num_threads : int or None
            Threads of each partition's ``compute`` (default 1: on a shared or small machine torch's
            own thread pool is several times slower per CPU-second; parallelism comes from partitions
            on workers and from reading ahead). None keeps the library's setting.
        overwrite : bool
            Replace an existing store at ``folder``.
        progress : callable ``progress(done, total, label)``, optional
            Called after every group of partitions with structures done (total 0: unknown).
        total : int, optional
            Structures in ``source`` when known (:func:`atomsieve.data.stream.count_structures`),
            for the progress bar.
        should_stop : callable ``should_stop() -> bool``, optional
            Polled before every group of partitions; True raises :class:`~atomsieve.errors.Stopped`
            and leaves no store (nor any half-written one) at ``folder``.
        """
        from atomsieve.data.io import detect_format
        from atomsieve.data.stream import iter_partitions, iter_text_partitions, read_ahead
        from atomsieve.parallel import TaskRunner

        folder = Path(folder)
        _check_build(folder, overwrite, num_threads)
        params = descriptor.params
        featurise = partial(_raw_partition, params, num_threads)
        tmp = temporary_folder(folder)  # recognisable, and removed by a later write if this one is killed
        files = {name: _HashedAppend(tmp / filename) for name, (filename, _) in _FILES.items()}
        written = _Written()
        try:
            with TaskRunner(scheduler, n_workers) as runner:
                # On workers, (ext)xyz partitions travel as text and are parsed there: parsing is most
                # of the work of reading, and the client would otherwise do all of it.
                as_text = not runner.is_serial and detect_format(Path(source)) in ("extxyz", "xyz")
                reader = (iter_text_partitions(source, partition_size) if as_text else iter_partitions(
                    source, partition_size, energy_key=energy_key, forces_key=forces_key))
                window = 1 if runner.is_serial else 2 * (n_workers or 2)
                with closing(read_ahead(reader, depth=window)) as partitions:
                    while group := list(islice(partitions, window)):
                        check_stop(should_stop, f"feature store {folder}")
                        jobs = [p if as_text else p.atoms for p in group]
                        with warnings.catch_warnings():  # a text partition is a few MB, by design
                            warnings.filterwarnings("ignore", message=".*Large object of size")
                            results = dict(runner.map(featurise, jobs))
                        for k in range(len(group)):
                            written.append(files, *results[k])
                        del group, results
                        report(progress, written.n_structures, total or 0,
                               f"{written.n_atoms:,} atoms featurised")
            for file in files.values():
                file.close()
            meta = {
                "format": FORMAT, "source": str(Path(source).resolve()), "source_stat": source_stat(source),
                "params": params, "scaler": written.scaler(),
                "n_atoms": written.n_atoms, "n_structures": written.n_structures,
                "n_features": descriptor.n_features, "feature_names": descriptor.feature_names,
                "sha256": {name: file.hexdigest() for name, file in files.items()},
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except OSError as exc:  # a full disk or a forbidden folder: name the store, not a temporary file
            raise_storage_error(folder, exc)
            raise
        finally:
            for file in files.values():
                file.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(folder, verify=False)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``"values"`` (unscaled), ``"species"`` or ``"structure"``, read into
        memory with one positioned read: unlike slicing the memory maps, the pages read do not stay
        mapped in this process, so its resident memory holds what it keeps and no more."""
        if name not in _FILES:
            raise ParameterError(f"name must be one of {sorted(_FILES)}; got {name!r}")
        start, stop = max(0, int(start)), min(int(stop), self.n_atoms)
        filename, dtype = _FILES[name]
        width = self.n_features if name == "values" else 1
        with open(self.folder / filename, "rb") as fh:
            fh.seek(start * width * np.dtype(dtype).itemsize)
            rows = np.fromfile(fh, dtype=dtype, count=max(stop - start, 0) * width)
        return rows.reshape(-1, width) if name == "values" else rows

    def is_current(self, source: str | os.PathLike, params: dict) -> bool:
        """Whether this store holds the features of ``source`` as it is now (same resolved path,
        size and modification time) computed with descriptor ``params``."""
        try:
            same_file = (self.meta.get("source") == str(Path(source).resolve())
                         and self.meta.get("source_stat") == source_stat(source))
        except OSError:
            return False
        return same_file and self.params == json.loads(json.dumps(params))

    def atom_counts(self) -> np.ndarray:
        """Atoms per structure, read a chunk at a time."""
        counts = np.zeros(self.n_structures, dtype=np.int64)
        for start in range(0, self.n_atoms, 1 << 22):
            rows = self.read("structure", start, start + (1 << 22))
            counts += np.bincount(rows, minlength=self.n_structures)
        return counts

    def structure_means(self, max_atoms: int = 200_000) -> AtomicFeatures:
        """One row per structure: the mean of its atoms' scaled fingerprints, as
        :func:`atomsieve.selectors.structure_points.structure_points` computes it (species: each
        structure's first atom's). What the structure-level selectors (FPS, CUR, clustering,
        random) look at, in n_structures × n_features memory."""
        from atomsieve.selectors.structure_points import structure_points

        parts, species = [], []
        for chunk in self.chunks(max_atoms):
            points, candidates = structure_points(chunk)
            parts.append(points)
            first = np.searchsorted(chunk.structure, candidates)
            species.append(chunk.species[first])
        return AtomicFeatures(values=np.concatenate(parts), species=np.concatenate(species),
                              structure=np.arange(self.n_structures), params=self.params, scaler=self.scaler,
                              feature_names=self.meta.get("feature_names"), n_structures=self.n_structures)

    def chunks(self, max_atoms: int = 200_000, scaler=None) -> Iterator[AtomicFeatures]:
        """Min–max scaled features in chunks of at most ``max_atoms`` atoms (or one whole structure),
        each ending on a structure boundary, structure indices global. ``scaler``: a fitted scaler
        to use instead of the store's own (an existing bank's, say)."""
        scaler = self.scaler if scaler is None else scaler
        if max_atoms < 1:
            raise ParameterError(f"max_atoms must be at least 1; got {max_atoms}")
        start = 0
        while start < self.n_atoms:
            stop = min(start + max_atoms, self.n_atoms)
            if stop < self.n_atoms:  # move back to the start of the structure that straddles `stop`
                boundary = int(np.searchsorted(self.structure[start:stop + 1],
                                               self.structure[stop], side="left"))
                stop = start + boundary if boundary > 0 else int(
                    start + np.searchsorted(self.structure[start:], self.structure[start], side="right"))
            species = self.read("species", start, stop)
            yield AtomicFeatures(
                values=scaler.transform(self.read("values", start, stop), species),
                species=species,
                structure=self.read("structure", start, stop),
                params=self.params,
                scaler=scaler,
                feature_names=self.meta.get("feature_names"),
                n_structures=self.n_structures,
            )
            start = stop
