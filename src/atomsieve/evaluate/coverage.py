"""Coverage without a model: how far test environments lie from the training environments.

For every test atom, the Euclidean distance in fingerprint space to the nearest training atom of
the same element (Karabin & Perez, J. Chem. Phys. 153, 094110 (2020), Table I). Small mean and,
above all, small maximum distances mean the training set covers the test set; a test element
with no training atom of its kind has distance infinity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from ase.data import chemical_symbols

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError


@dataclass
class Coverage:
    """Nearest-training-neighbour distances of the test atoms.

    Attributes
    ----------
    distances : ndarray (n_test_atoms,)
        Distance of each test atom to its nearest same-element training atom (fingerprint units).
    species : ndarray (n_test_atoms,)
        Atomic number of each test atom.
    mean, median, max : float
        Over all test atoms.
    by_element : dict
        ``{symbol: {"mean", "median", "max", "n_test", "n_train"}}``.
    """

    distances: np.ndarray
    species: np.ndarray
    mean: float
    median: float
    max: float
    by_element: dict = field(default_factory=dict)

    @classmethod
    def from_distances(cls, distances: np.ndarray, species: np.ndarray, n_train: dict[int, int]) -> Coverage:
        """The summary of per-atom ``distances`` (test atoms of atomic numbers ``species``), with
        ``n_train`` training atoms per atomic number: how :func:`coverage` summarises, for distances
        gathered a chunk of test atoms at a time."""
        distances, species = np.asarray(distances, dtype=np.float64), np.asarray(species, dtype=np.int64)
        by_element = {}
        for z in np.unique(species):
            d = distances[species == z]
            by_element[chemical_symbols[z]] = {**_stats(d), "n_test": len(d),
                                               "n_train": n_train.get(int(z), 0)}
        return cls(distances=distances, species=species, **_stats(distances), by_element=by_element)

    def as_row(self) -> dict:
        """``{"mean", "median", "max", "n_test"}`` for a table."""
        return {"mean": self.mean, "median": self.median, "max": self.max, "n_test": len(self.distances)}


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Distance from each query row to its nearest reference row (blocked, float64).

    The nearest row is found with the expanded form |q|² + |r|² − 2q·r, and its distance is
    then computed directly.

    >>> nearest_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0]])).tolist()
    [0.0, 5.0]
    """
    queries = np.asarray(queries, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    if len(references) == 0:
        return np.full(len(queries), np.inf)
    ref = torch.as_tensor(references)
    ref_sq = (ref * ref).sum(1)
    out = np.empty(len(queries))
    block = max(1, 8_000_000 // len(references))
    for lo in range(0, len(queries), block):
        q = torch.as_tensor(queries[lo : lo + block])
        # |q - r|² = |q|² + |r|² - 2 q·r, then the exact distance of the best candidate.
        sq = (q * q).sum(1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T
        best = sq.argmin(1)
        out[lo : lo + block] = torch.linalg.norm(q - ref[best], dim=1).numpy()
    return out


def _stats(d: np.ndarray) -> dict:
    if not len(d):
        return {"mean": np.nan, "median": np.nan, "max": np.nan}
    return {"mean": float(np.mean(d)), "median": float(np.median(d)), "max": float(np.max(d))}


def coverage(train: AtomicFeatures, test: AtomicFeatures) -> Coverage:
    """Nearest-neighbour distances from every test environment to the training environments.

    Parameters
    ----------
    train, test : AtomicFeatures
        Fingerprints made by the same descriptor and scaler (same columns).

    Examples
    --------
    >>> import numpy as np
    >>> a = AtomicFeatures(values=[[0.0], [1.0]], species=["Ge", "Ge"], structure=[0, 0])
    >>> b = AtomicFeatures(values=[[0.25], [3.0]], species=["Ge", "Ge"], structure=[0, 1])
    >>> c = coverage(a, b)
    >>> c.mean, c.median, c.max
    (1.125, 1.125, 2.0)
    """
    for name, f in (("train", train), ("test", test)):
        if not isinstance(f, AtomicFeatures):
            raise ParameterError(f"coverage: {name} must be AtomicFeatures; got {type(f).__name__}")
    if train.n_features != test.n_features:
        raise ParameterError(
            f"coverage: train has {train.n_features} features per atom and test {test.n_features}; "
            "compute both with the same descriptor"
        )
    if train.params is not None and test.params is not None and train.params != test.params:
        raise ParameterError("coverage: train and test were computed with different descriptor parameters")
    distances = np.full(test.n_atoms, np.inf)
    n_train = {}
    for z in np.unique(test.species):
        q = np.flatnonzero(test.species == z)
        r = np.flatnonzero(train.species == z)
        distances[q] = nearest_distances(test.values[q], train.values[r])
        n_train[int(z)] = len(r)
    return Coverage.from_distances(distances, test.species.copy(), n_train)


def coverage_table(sets: Mapping[str, AtomicFeatures]) -> list[dict]:
    """Train-on-A / test-on-B distances for every ordered pair of named sets (A ≠ B).

    Returns rows ``{"train", "test", "mean", "median", "max", "n_test"}``.

    >>> a = AtomicFeatures(values=[[0.0]], species=["Ge"], structure=[0])
    >>> b = AtomicFeatures(values=[[2.0]], species=["Ge"], structure=[0])
    >>> [(r["train"], r["test"], r["max"]) for r in coverage_table({"A": a, "B": b})]
    [('A', 'B', 2.0), ('B', 'A', 2.0)]
    """
    rows = []
    for train_name, train in sets.items():
        for test_name, test in sets.items():
            if train_name != test_name:
                rows.append({"train": train_name, "test": test_name, **coverage(train, test).as_row()})
    return rows
