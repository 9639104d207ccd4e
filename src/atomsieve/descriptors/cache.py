"""On-disk feature cache keyed by dataset content, descriptor parameters, scaler and dtype.

A folder of :mod:`~atomsieve.descriptors.storage` files named by :func:`atomsieve.digest.digest`
of the key (roles of storage, cache and store: :mod:`atomsieve.descriptors`).

Default folder: ``$ATOMSIEVE_CACHE_DIR/features`` if that variable is set, else
``~/.cache/atomsieve/features``. An entry that cannot be read, fails its checksum or was
written for another key is deleted and recomputed.
"""

from __future__ import annotations

import os
from pathlib import Path

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.descriptors.storage import load_features, read_meta, save_features
from atomsieve.digest import digest
from atomsieve.disk_cache import NpzFolder
from atomsieve.errors import CacheError


def default_cache_dir() -> Path:
    """``$ATOMSIEVE_CACHE_DIR/features`` or ``~/.cache/atomsieve/features``."""
    root = os.environ.get("ATOMSIEVE_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "atomsieve"
    return base / "features"


def cache_key(dataset_hash: str, params: dict, scaler, dtype: str) -> str:
    """SHA-256 of the canonical JSON of everything the features depend on.

    >>> len(cache_key("abc", {"r_cut": 6.0}, "minmax", "torch.float64"))
    64
    """
    return digest({"dataset": dataset_hash, "params": params, "scaler": scaler, "dtype": dtype})


class FeatureCache:
    """A folder of ``<key>.npz`` feature files.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> cache.load("0" * 64) is None
    True
    >>> f = AtomicFeatures(values=np.ones((1, 2)), species=[1], structure=[0])
    >>> cache.store("0" * 64, f)
    >>> cache.load("0" * 64).values.tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.entries = NpzFolder(folder if folder is not None else default_cache_dir(), "feature cache")
        self.folder = self.entries.folder

    def path(self, key: str) -> Path:
        return self.entries.path(key)

    def load(self, key: str) -> AtomicFeatures | None:
        """The cached features, or None when absent; damaged or stale entries are removed."""
        return self.entries.load(key, _read_entry)

    def store(self, key: str, features: AtomicFeatures) -> None:
        """Write an entry (atomic); an unwritable folder only warns."""
        self.entries.store(key, lambda tmp: save_features(features, tmp, overwrite=True,
                                                          extra={"cache_key": key}))

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        return self.entries.clear()


def _read_entry(path: Path, key: str) -> AtomicFeatures:
    if read_meta(path).get("cache_key") != key:
        raise CacheError("written for another key")
    return load_features(path)
