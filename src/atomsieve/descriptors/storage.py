"""Saving and loading :class:`AtomicFeatures` as ``.npz`` (no pickle), with a checksum.

The format of one features file (roles of storage, cache and store: :mod:`atomsieve.descriptors`).

The file holds arrays ``values`` (n_atoms, n_features) float64, ``species`` (atomic numbers),
``structure`` and a JSON string ``meta`` with ``params``, ``scaler`` (``to_dict()``),
``feature_names``, ``n_structures``, ``format`` and ``checksum`` (SHA-256 of the arrays).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import CacheError, DataError

FORMAT = "atomsieve-features-1"


def checksum(values: np.ndarray, species: np.ndarray, structure: np.ndarray) -> str:
    """SHA-256 over the three arrays' bytes (fixed dtypes)."""
    h = hashlib.sha256()
    for arr, dtype in ((values, np.float64), (species, np.int64), (structure, np.int64)):
        a = np.ascontiguousarray(arr, dtype=dtype)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_features(features: AtomicFeatures, path: str | os.PathLike, *, overwrite: bool = False,
                  extra: dict | None = None) -> Path:
    """Write ``features`` to ``path`` (``.npz``) atomically; ``extra`` goes into the metadata.

    >>> import numpy as np, tempfile, os
    >>> f = AtomicFeatures(values=np.ones((2, 3)), species=[1, 8], structure=[0, 0])
    >>> p = os.path.join(tempfile.mkdtemp(), "f.npz")
    >>> _ = save_features(f, p)
    >>> load_features(p).values.shape
    (2, 3)
    """
    from atomsieve.data import atomic_path

    scaler = features.scaler
    meta = {
        "format": FORMAT,
        "params": features.params,
        "scaler": scaler.to_dict() if hasattr(scaler, "to_dict") else None,
        "feature_names": features.feature_names,
        "n_structures": int(features.n_structures),
        "checksum": checksum(features.values, features.species, features.structure),
    }
    if extra:
        meta.update(extra)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as fh:  # a file object keeps numpy from appending ".npz"
            np.savez(fh, values=np.asarray(features.values, dtype=np.float64), species=features.species,
                     structure=features.structure, meta=np.array(json.dumps(meta)))
    return path


def check_features_match(path: str | os.PathLike, features: AtomicFeatures, dataset) -> None:
    """Refuse a features file that was not computed from ``dataset``'s structures (:class:`CacheError`).

    Identity is checked by content, not by counts: the atoms' elements in order, then the structure
    hash the file records (files written by ``atomsieve featurize`` carry one).
    """
    if features.n_atoms != dataset.n_atoms or features.n_structures != len(dataset):
        raise CacheError(
            f"{path}: {features.n_atoms} atoms in {features.n_structures} structures, but "
            f"{dataset.source or 'the dataset'} holds {dataset.n_atoms} atoms in {len(dataset)} structures"
        )
    species = np.asarray(features.species, dtype=np.int64)
    numbers = np.asarray(dataset.numbers, dtype=np.int64)
    if not np.array_equal(species, numbers):
        first = int(np.flatnonzero(species != numbers)[0])
        from ase.data import chemical_symbols

        raise CacheError(
            f"{path}: computed from other structures than {dataset.source or 'the dataset'} (atom {first} is "
            f"{chemical_symbols[species[first]]} in the features file, {chemical_symbols[numbers[first]]} "
            "in the dataset); featurize this dataset again"
        )
    recorded = read_meta(path).get("structure_hash")
    if recorded is not None and recorded != dataset.structure_hash():
        raise CacheError(
            f"{path}: computed from other structures than {dataset.source or 'the dataset'} (same elements "
            "and counts, other positions or cells); featurize this dataset again"
        )


def read_meta(path: str | os.PathLike) -> dict:
    """The metadata of a features file (without loading the values)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"]))
    except Exception as exc:
        raise CacheError(
            f"{path}: not a readable atomsieve features file ({type(exc).__name__}: {exc})"
        ) from None


def load_features(path: str | os.PathLike) -> AtomicFeatures:
    """Read a file written by :func:`save_features`; a damaged file raises :class:`CacheError`, a missing
    one :class:`DataError` (as a missing structure file does)."""
    from atomsieve.descriptors.scaling import scaler_from_dict

    try:
        with np.load(path, allow_pickle=False) as data:
            values, species, structure = data["values"], data["species"], data["structure"]
            meta = json.loads(str(data["meta"]))
    except FileNotFoundError:
        raise DataError(f"{path}: no such features file") from None
    except Exception as exc:
        raise CacheError(
            f"{path}: not a readable atomsieve features file ({type(exc).__name__}: {exc})"
        ) from None
    if meta.get("format") != FORMAT:
        raise CacheError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    if checksum(values, species, structure) != meta.get("checksum"):
        raise CacheError(f"{path}: checksum mismatch; the file is corrupt")
    scaler = scaler_from_dict(meta["scaler"]) if meta.get("scaler") else None
    return AtomicFeatures(values=values, species=species, structure=structure, params=meta.get("params"),
                          scaler=scaler, feature_names=meta.get("feature_names"),
                          n_structures=meta.get("n_structures"))
