"""The local-environment bank: fingerprints that were far enough from everything before them.

An :class:`EnvironmentBank` is what :class:`~atomsieve.selectors.LEBank` builds and what it can
start from: the bank vectors with their element and where they came from, plus the descriptor
parameters, the scaler and the thresholds that made them. Banks are saved as ``.npz`` files with a
SHA-256 checksum (no pickle), so a damaged file is detected on load.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from atomsieve.descriptors.features import AtomicFeatures, as_atomic_numbers
from atomsieve.errors import CacheError, DataError, ParameterError
from atomsieve.jsonable import jsonable

#: Version of the bank file layout.
BANK_FORMAT = 1

_ARRAYS = ("vectors", "species", "source_structure", "source_atom", "batch")


def params_equal(a: dict | None, b: dict | None) -> bool:
    """Descriptor parameters compared as canonical JSON (tuples equal lists, numpy equals Python)."""
    return json.dumps(jsonable(a), sort_keys=True) == json.dumps(jsonable(b), sort_keys=True)


def params_difference(a: dict | None, b: dict | None) -> str:
    """Which descriptor parameters differ, in words: ``"r_cut 6 against 4.5, angular"``.

    Examples
    --------
    >>> params_difference({"r_cut": 6.0, "preset": "x"}, {"r_cut": 4.5, "preset": "x"})
    'r_cut 6.0 against 4.5'
    """
    a, b = jsonable(a or {}), jsonable(b or {})
    parts = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True):
            continue
        short = all(isinstance(v, (int, float, str, type(None))) for v in (left, right)) or (
            len(json.dumps(left)) + len(json.dumps(right)) < 80
        )
        parts.append(f"{key} {left} against {right}" if short else f"{key} (lists differ)")
    return ", ".join(parts) or "nothing recorded"


def encode_scaler(scaler: Any) -> dict | None:
    """A JSON description of a fitted scaler, or None.

    Accepted: None; an object with ``to_dict()`` (atomsieve's scalers; restored with the class's
    ``from_dict`` or its module's ``scaler_from_dict``); any other object whose public attributes are
    numbers or arrays (stored by name).
    """
    if scaler is None:
        return None
    cls = type(scaler)
    state = scaler.to_dict() if hasattr(scaler, "to_dict") else {
        k: v for k, v in vars(scaler).items() if not k.startswith("_")
    }
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "state": jsonable(state)}


def decode_scaler(data: dict | None) -> Any:
    """The scaler :func:`encode_scaler` described; only classes from atomsieve are imported."""
    if data is None:
        return None
    module, _, qualname = data["class"].partition(":")
    if not (module == "atomsieve" or module.startswith("atomsieve.")):
        raise CacheError(f"bank file names a scaler class outside atomsieve ({data['class']!r}); refusing")
    try:
        mod = importlib.import_module(module)
        obj: Any = mod
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise CacheError(f"bank file names a scaler class that does not exist: {data['class']!r}") from None
    state = data["state"]
    if hasattr(obj, "from_dict"):
        return obj.from_dict(state)
    if hasattr(mod, "scaler_from_dict"):
        return mod.scaler_from_dict(state)
    scaler = obj.__new__(obj)
    for k, v in state.items():
        setattr(scaler, k, np.asarray(v) if isinstance(v, list) else v)
    return scaler


@dataclass(eq=False)
class EnvironmentBank:
    """Bank vectors of a local-environment-bank selection.

    Parameters
    ----------
    vectors : ndarray of shape (n_vectors, n_features)
        The fingerprints in the bank, in the order they joined it.
    species : ndarray of shape (n_vectors,)
        Atomic number of each vector's atom (symbols are accepted).
    source_structure, source_atom : ndarray of shape (n_vectors,)
        Structure index (in the data of its fit) and position of the atom within that structure.
    batch : ndarray of shape (n_vectors,), optional
        Which fit the vector came from (0 for the first; each incremental fit or merge adds one),
        so ``source_structure`` can be traced back to its dataset. Zeros by default.
    params : dict, optional
        Descriptor parameters of the fingerprints.
    scaler : object, optional
        The scaler applied to the fingerprints.
    thresholds : dict, optional
        Threshold (fingerprint distance) per element symbol used to build the bank.

    Examples
    --------
    >>> import numpy as np
    >>> bank = EnvironmentBank(np.eye(2), ["H", "O"], [0, 3], [1, 0], thresholds={"H": 0.1, "O": 0.2})
    >>> len(bank), bank.elements, bank.counts_per_element()
    (2, ['H', 'O'], {'H': 1, 'O': 1})
    """

    vectors: np.ndarray
    species: np.ndarray
    source_structure: np.ndarray
    source_atom: np.ndarray
    batch: np.ndarray | None = None
    params: dict[str, Any] | None = None
    scaler: Any = None
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float64)
        if self.vectors.ndim != 2:
            raise ParameterError(
                f"bank vectors must be 2-D (n_vectors, n_features); got {self.vectors.shape}"
            )
        n = len(self.vectors)
        self.species = as_atomic_numbers(self.species) if n else np.zeros(0, dtype=np.int64)
        self.source_structure = np.asarray(self.source_structure, dtype=np.int64).reshape(-1)
        self.source_atom = np.asarray(self.source_atom, dtype=np.int64).reshape(-1)
        self.batch = (
            np.zeros(n, dtype=np.int64)
            if self.batch is None
            else np.asarray(self.batch, dtype=np.int64).reshape(-1)
        )
        for name in _ARRAYS[1:]:
            if len(getattr(self, name)) != n:
                raise ParameterError(f"bank {name} has {len(getattr(self, name))} entries for {n} vectors")
        self.thresholds = {str(k): float(v) for k, v in (self.thresholds or {}).items()}

    @classmethod
    def empty(cls, n_features: int, params: dict | None = None, scaler: Any = None) -> EnvironmentBank:
        """A bank with no vectors."""
        z = np.zeros(0, dtype=np.int64)
        return cls(np.zeros((0, n_features)), z, z, z, z, params=params, scaler=scaler)

    @classmethod
    def from_rows(
        cls, features: AtomicFeatures, rows: np.ndarray, thresholds: dict[str, float] | None = None
    ) -> EnvironmentBank:
        """The bank of the fingerprints at ``rows`` of ``features`` (in that order), with where each
        came from and the features' parameters and scaler.

        >>> f = AtomicFeatures(values=[[0.0], [1.0], [2.0]], species=["H"] * 3, structure=[0, 0, 1])
        >>> bank = EnvironmentBank.from_rows(f, np.array([2, 1]))
        >>> bank.vectors.ravel().tolist(), bank.source_structure.tolist(), bank.source_atom.tolist()
        ([2.0, 1.0], [1, 0], [0, 1])
        """
        rows = np.asarray(rows, dtype=np.int64)
        return cls(
            vectors=features.values[rows], species=features.species[rows],
            source_structure=features.structure[rows], source_atom=features.atom_index[rows],
            params=features.params, scaler=features.scaler, thresholds=thresholds,
        )

    def __len__(self) -> int:
        return len(self.vectors)

    def __repr__(self) -> str:
        return (
            f"EnvironmentBank({len(self)} vectors, {self.counts_per_element()}, thresholds={self.thresholds})"
        )

    @property
    def n_features(self) -> int:
        return self.vectors.shape[1]

    @property
    def elements(self) -> list[str]:
        """Chemical symbols present in the bank, ordered by atomic number."""
        return [chemical_symbols[z] for z in np.unique(self.species)]

    def counts_per_element(self) -> dict[str, int]:
        """Number of bank vectors of each element."""
        zs, counts = np.unique(self.species, return_counts=True)
        return {chemical_symbols[z]: int(c) for z, c in zip(zs, counts)}

    # ------------------------------------------------------------------ compatibility
    def check_compatible(self, features: AtomicFeatures, what: str = "features") -> None:
        """Raise :class:`CacheError` unless ``features`` can be screened against this bank.

        The number of fingerprint columns must agree, and so must the descriptor parameters and the
        scaler when both sides record them.
        """
        if features.n_features != self.n_features:
            raise CacheError(
                f"the bank holds {self.n_features}-column fingerprints but the {what} have "
                f"{features.n_features} columns; compute them with the bank's descriptor parameters"
            )
        if (
            self.params is not None
            and features.params is not None
            and not params_equal(self.params, features.params)
        ):
            raise CacheError(
                f"the bank was made with other descriptor parameters than the {what}: "
                f"{params_difference(self.params, features.params)} (bank against {what})"
            )
        if self.scaler is not None and features.scaler is not None:
            if encode_scaler(self.scaler) != encode_scaler(features.scaler):
                raise CacheError(
                    f"the {what} were scaled with another scaler than the bank; scale new fingerprints "
                    "with the bank's scaler (bank.scaler) so distances are comparable"
                )

    def merge(self, other: EnvironmentBank) -> EnvironmentBank:
        """A new bank with this bank's vectors followed by ``other``'s.

        ``other``'s batch numbers are shifted after this bank's. Both must hold fingerprints made with
        the same descriptor parameters and scaler. Thresholds are combined (this bank's win on
        conflicts). No screening happens: to keep only ``other``'s vectors that are new, fit
        ``LEBank(...).fit(features, bank=self)`` instead.

        >>> import numpy as np
        >>> a = EnvironmentBank(np.zeros((1, 2)), ["H"], [0], [0])
        >>> b = EnvironmentBank(np.ones((2, 2)), ["H", "H"], [0, 1], [0, 0])
        >>> m = a.merge(b)
        >>> len(m), m.batch.tolist()
        (3, [0, 1, 1])
        """
        if not isinstance(other, EnvironmentBank):
            raise ParameterError(f"merge needs an EnvironmentBank; got {type(other).__name__}")
        if other.n_features != self.n_features:
            raise CacheError(
                f"cannot merge banks of {self.n_features}- and {other.n_features}-column fingerprints"
            )
        if (
            self.params is not None
            and other.params is not None
            and not params_equal(self.params, other.params)
        ):
            raise CacheError("cannot merge banks made with different descriptor parameters")
        if (
            self.scaler is not None
            and other.scaler is not None
            and encode_scaler(self.scaler) != encode_scaler(other.scaler)
        ):
            raise CacheError("cannot merge banks whose fingerprints were scaled differently")
        shift = int(self.batch.max()) + 1 if len(self) else 0
        return EnvironmentBank(
            vectors=np.concatenate([self.vectors, other.vectors]),
            species=np.concatenate([self.species, other.species]),
            source_structure=np.concatenate([self.source_structure, other.source_structure]),
            source_atom=np.concatenate([self.source_atom, other.source_atom]),
            batch=np.concatenate([self.batch, other.batch + shift]),
            params=self.params if self.params is not None else other.params,
            scaler=self.scaler if self.scaler is not None else other.scaler,
            thresholds={**other.thresholds, **self.thresholds},
        )

    # ------------------------------------------------------------------ persistence
    def _payload(self) -> tuple[dict[str, np.ndarray], str]:
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}
        meta = json.dumps(
            {
                "format": BANK_FORMAT,
                "params": jsonable(self.params),
                "scaler": encode_scaler(self.scaler),
                "thresholds": self.thresholds,
            },
            sort_keys=True,
        )
        return arrays, meta

    @staticmethod
    def _checksum(arrays: dict[str, np.ndarray], meta: str) -> str:
        h = hashlib.sha256()
        for name in _ARRAYS:
            a = arrays[name]
            h.update(name.encode())
            h.update(str(a.dtype).encode())
            h.update(repr(a.shape).encode())
            h.update(a.tobytes())
        h.update(meta.encode())
        return h.hexdigest()

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the bank to ``path`` (``.npz``), atomically, with a checksum.

        Refuses to replace an existing file unless ``overwrite``.
        """
        from atomsieve.data import atomic_path

        arrays, meta = self._payload()
        path = Path(path)
        with atomic_path(path, overwrite) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(meta), checksum=np.array(self._checksum(arrays, meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> EnvironmentBank:
        """Read a bank written by :meth:`save`; :class:`CacheError` when it is damaged, :class:`DataError`
        when it is missing (as a missing structure file is)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"bank file {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
                meta = str(data["meta"])
                checksum = str(data["checksum"])
        except Exception as exc:  # zipfile, KeyError, ValueError, OSError: all mean a damaged file
            raise CacheError(
                f"bank file {str(path)!r} cannot be read ({type(exc).__name__}: {exc})"
            ) from None
        if cls._checksum(arrays, meta) != checksum:
            raise CacheError(f"bank file {str(path)!r} is corrupt: its checksum does not match its content")
        info = json.loads(meta)
        if info.get("format") != BANK_FORMAT:
            raise CacheError(
                f"bank file {str(path)!r} has format {info.get('format')}; expected {BANK_FORMAT}"
            )
        return cls(
            params=info["params"],
            scaler=decode_scaler(info["scaler"]),
            thresholds=info["thresholds"],
            **arrays,
        )
