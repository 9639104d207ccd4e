"""Per-atom fingerprints with the bookkeeping every selector needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from atomsieve.errors import ParameterError


def as_atomic_numbers(species) -> np.ndarray:
    """Atomic numbers from symbols or numbers, shape (n,)."""
    arr = np.asarray(species)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).reshape(-1)
    try:
        return np.array([atomic_numbers[str(s)] for s in arr.reshape(-1)], dtype=np.int64)
    except KeyError as exc:
        raise ParameterError(f"species: unknown chemical symbol {exc.args[0]!r}") from None


@dataclass(eq=False)
class AtomicFeatures:
    """Fingerprints of atoms: one row per atom, with its element and structure.

    Parameters
    ----------
    values : array of shape (n_atoms, n_features)
        The fingerprints (scaled or not; see ``scaler``).
    species : array of shape (n_atoms,)
        Element of each atom, as symbols or atomic numbers (stored as numbers).
    structure : array of shape (n_atoms,)
        Index of the structure each atom belongs to (0 .. n_structures - 1).
    params : dict, optional
        Descriptor parameters that produced ``values`` (JSON-serialisable);
        banks and caches compare them.
    scaler : object, optional
        The fitted scaler applied to ``values``, if any.
    feature_names : list of str, optional
        A label per column.
    n_structures : int, optional
        Number of structures; defaults to ``structure.max() + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> f = AtomicFeatures(values=np.zeros((3, 2)), species=["H", "H", "O"], structure=[0, 0, 1])
    >>> f.n_atoms, f.n_features, f.n_structures, f.elements
    (3, 2, 2, ['H', 'O'])
    >>> f.structure_means().shape
    (2, 2)
    """

    values: np.ndarray
    species: np.ndarray
    structure: np.ndarray
    params: dict[str, Any] | None = None
    scaler: Any = None
    feature_names: list[str] | None = None
    n_structures: int | None = None
    atom_index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 2:
            raise ParameterError(f"values must be 2-D (n_atoms, n_features); got shape {values.shape}")
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        # NaN and infinities survive a sum: one pass and no temporary array (the exact search runs
        # only when the sum is not finite, which finite values overflowing also reach)
        with np.errstate(over="ignore", invalid="ignore"):
            total = values.sum()
        if values.size and not np.isfinite(total):
            bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
            if len(bad):
                raise ParameterError(f"values contains NaN or infinity (first at atom {int(bad[0])})")
        self.values = values
        self.species = as_atomic_numbers(self.species)
        self.structure = np.asarray(self.structure, dtype=np.int64).reshape(-1)
        n = len(values)
        if len(self.species) != n or len(self.structure) != n:
            raise ParameterError(
                f"values has {n} rows but species has {len(self.species)} and structure {len(self.structure)}"
            )
        if n and self.structure.min() < 0:
            raise ParameterError("structure indices must be non-negative")
        inferred = int(self.structure.max()) + 1 if n else 0
        if self.n_structures is None:
            self.n_structures = inferred
        elif self.n_structures < inferred:
            raise ParameterError(
                f"n_structures={self.n_structures} but structure indices reach {inferred - 1}"
            )
        # Position of each atom within its structure (0, 1, ... per structure, in row order).
        order = np.argsort(self.structure, kind="stable")
        counts = np.bincount(self.structure, minlength=self.n_structures)
        starts = np.cumsum(counts) - counts
        within = np.empty(n, dtype=np.int64)
        within[order] = np.arange(n) - np.repeat(starts, counts)
        self.atom_index = within

    @property
    def n_atoms(self) -> int:
        return len(self.values)

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    @property
    def elements(self) -> list[str]:
        """Chemical symbols present, ordered by atomic number."""
        return [chemical_symbols[z] for z in np.unique(self.species)]

    @property
    def atom_counts(self) -> np.ndarray:
        """Atoms per structure, shape (n_structures,)."""
        return np.bincount(self.structure, minlength=self.n_structures)

    def structure_means(self) -> np.ndarray:
        """Mean fingerprint of each structure, shape (n_structures, n_features).

        Structures without atoms get zeros.
        """
        sums = np.zeros((self.n_structures, self.n_features), dtype=np.float64)
        np.add.at(sums, self.structure, self.values)
        counts = np.maximum(self.atom_counts, 1)[:, None]
        return sums / counts

    def subset_structures(self, indices) -> AtomicFeatures:
        """Rows of the structures at ``indices``, renumbered 0..len(indices)-1 in that order."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        rank = np.full(self.n_structures, -1, dtype=np.int64)
        rank[indices] = np.arange(len(indices))
        rows = np.flatnonzero(rank[self.structure] >= 0)
        rows = rows[np.argsort(rank[self.structure[rows]], kind="stable")]
        return AtomicFeatures(
            values=self.values[rows],
            species=self.species[rows],
            structure=rank[self.structure[rows]],
            params=self.params,
            scaler=self.scaler,
            feature_names=self.feature_names,
            n_structures=len(indices),
        )
