"""The one on-disk cache: a folder of ``<key>.npz`` entries, each written atomically and read back
only for its own key.

The feature cache (:class:`atomsieve.descriptors.cache.FeatureCache`) and the prepared model input
(:func:`atomsieve.potentials.featurize.prepare`) keep their files here; how an entry's arrays are
written and read is theirs. An entry that cannot be read, fails its checks or was written for another
key is deleted with a warning and recomputed; a folder that cannot be written only warns. (The
in-memory counterpart is :class:`atomsieve.keyed_cache.KeyedCache`.)

Examples
--------
>>> import tempfile, numpy as np
>>> folder = NpzFolder(tempfile.mkdtemp(), "example cache")
>>> folder.store("k1", lambda path: np.savez(path, key="k1", x=np.arange(3)))
>>> def read(path, key):
...     with np.load(path) as z:
...         if str(z["key"]) != key:
...             raise ValueError("written for another key")
...         return z["x"].tolist()
>>> folder.load("k1", read), folder.load("k2", read)
([0, 1, 2], None)
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from atomsieve.errors import AtomsieveError, CacheError

T = TypeVar("T")

#: What reading a damaged or foreign entry raises: each means "recompute", never "fail".
DAMAGED = (CacheError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


class NpzFolder:
    """A folder of ``<key>.npz`` entries named by ``label`` in warnings."""

    def __init__(self, folder: str | os.PathLike, label: str):
        self.folder, self.label = Path(folder), label

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load(self, key: str, read: Callable[[Path, str], T]) -> T | None:
        """``read(path, key)`` of the entry, or None when absent; ``read`` raises one of
        :data:`DAMAGED` for an entry it does not accept (then the entry is deleted)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return read(path, key)
        except DAMAGED as exc:
            warnings.warn(f"{self.label} {path}: {exc}; recomputing", RuntimeWarning, stacklevel=3)
            path.unlink(missing_ok=True)
            return None

    def store(self, key: str, write: Callable[[Path], None]) -> None:
        """``write(path)`` the entry through a temporary name, so readers see all of it or nothing."""
        from atomsieve.data.io import atomic_path

        path = self.path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, overwrite=True) as tmp:
                write(tmp)
        except (OSError, AtomsieveError) as exc:
            warnings.warn(f"{self.label}: cannot write {path}: {exc}", RuntimeWarning, stacklevel=3)

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        n = 0
        for p in self.folder.glob("*.npz"):
            p.unlink(missing_ok=True)
            n += 1
        return n
