"""An on-disk, memory-mapped feature store for datasets larger than memory.

A store is a folder::

    values.f64     raw (unscaled) features, float64, row-major (n_atoms, n_features)
    species.i64    atomic number of every atom
    structure.i64  global structure index of every atom
    meta.json      descriptor params, fitted scaler, shapes, SHA-256 of each file

It is built by streaming the structure file in partitions (:func:`atomsieve.data.stream.iter_partitions`),
featurising each partition (in this process or on Dask workers), appending to the files and keeping
running per-element minima and maxima, so the min–max scaler of the whole data is known at the end
without a second pass. Reading gives scaled :class:`AtomicFeatures` chunks that end on structure
boundaries. The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.descriptors.scaling import scaler_from_dict
from atomsieve.errors import CacheError, DataError, ParameterError
from atomsieve.progress import ProgressCallback, report

FORMAT = "atomsieve-feature-store-1"
_FILES = {"values": ("values.f64", np.float64), "species": ("species.i64", np.int64),
          "structure": ("structure.i64", np.int64)}


def _raw_partition(params: dict, atoms_list: list) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled features and atomic numbers of one partition (runs on a worker)."""
    from atomsieve.descriptors.symmetry import SymmetryFunctions

    sf = SymmetryFunctions.from_params(params)
    feats = sf.compute(atoms_list, scaler="none", device="cpu")
    return feats.values, feats.species


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


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
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> FeatureStore:
        """Stream ``source`` in partitions of ``partition_size`` structures into a store at ``folder``.

        ``scheduler`` (see :mod:`atomsieve.parallel`) featurises partitions on Dask workers, a few
        partitions in flight at a time so memory stays bounded.
        """
        from atomsieve.data.stream import iter_partitions
        from atomsieve.parallel import TaskRunner

        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise DataError(f"{folder}: already exists; pass overwrite=True to rebuild it")
        if not folder.parent.is_dir():
            raise DataError(f"{folder}: folder {folder.parent} does not exist")
        params = descriptor.params
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        handles = {name: open(tmp / filename, "wb") for name, (filename, _) in _FILES.items()}
        lo: dict[int, np.ndarray] = {}
        hi: dict[int, np.ndarray] = {}
        n_atoms = n_structures = 0
        try:
            with TaskRunner(scheduler, n_workers) as runner:
                window = 1 if runner.is_serial else 2 * (n_workers or 2)
                partitions = iter_partitions(source, partition_size, energy_key=energy_key,
                                             forces_key=forces_key)
                while group := list(islice(partitions, window)):
                    results = dict(runner.map(partial(_raw_partition, params), [p.atoms for p in group]))
                    for k, part in enumerate(group):
                        values, species = results[k]
                        handles["values"].write(np.ascontiguousarray(values, dtype=np.float64).tobytes())
                        handles["species"].write(species.astype(np.int64).tobytes())
                        handles["structure"].write((part.structure_index + n_structures).tobytes())
                        for z in np.unique(species):
                            rows = values[species == z]
                            lo[z] = np.minimum(lo.get(z, np.inf), rows.min(axis=0))
                            hi[z] = np.maximum(hi.get(z, -np.inf), rows.max(axis=0))
                        n_atoms += part.n_atoms
                        n_structures += len(part)
                    report(progress, n_structures, 0, f"{n_atoms:,} atoms featurised")
            for handle in handles.values():
                handle.close()
            elements = sorted(int(z) for z in lo)
            scaler = {"kind": "minmax", "elements": elements,
                      "min": [lo[z].tolist() for z in elements], "max": [hi[z].tolist() for z in elements]}
            meta = {
                "format": FORMAT, "source": str(source), "params": params, "scaler": scaler,
                "n_atoms": n_atoms, "n_structures": n_structures, "n_features": descriptor.n_features,
                "feature_names": descriptor.feature_names,
                "sha256": {name: _sha256(tmp / filename) for name, (filename, _) in _FILES.items()},
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            for handle in handles.values():
                handle.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(folder, verify=False)

    def chunks(self, max_atoms: int = 200_000) -> Iterator[AtomicFeatures]:
        """Min–max scaled features in chunks of at most ``max_atoms`` atoms (or one whole structure),
        each ending on a structure boundary, structure indices global."""
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
            species = np.asarray(self.species[start:stop])
            yield AtomicFeatures(
                values=self.scaler.transform(np.asarray(self.values[start:stop]), species),
                species=species,
                structure=np.asarray(self.structure[start:stop]),
                params=self.params,
                scaler=self.scaler,
                feature_names=self.meta.get("feature_names"),
                n_structures=self.n_structures,
            )
            start = stop
