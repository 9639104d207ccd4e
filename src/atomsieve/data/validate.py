"""Checks that a structure is physically usable: atoms present, finite numbers, no coincident atoms."""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from atomsieve.errors import DataError

#: Two atoms closer than this (Å, periodic images included) are "at the same position".
COINCIDENT_TOLERANCE = 1e-4


def coincident_pair(atoms: Atoms, tol: float = COINCIDENT_TOLERANCE) -> tuple[int, int] | None:
    """Indices of two atoms closer than ``tol`` Å (minimum image), or None.

    Uses a k-d tree on wrapped positions plus shifted copies of atoms that lie
    within ``tol`` of a periodic face, so pairs across a boundary are found too.

    >>> from ase import Atoms
    >>> coincident_pair(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0]]))
    (0, 1)
    >>> coincident_pair(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])) is None
    True
    """
    n = len(atoms)
    if n < 2:
        return None
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = atoms.cell.array
    if pbc.any() and abs(np.linalg.det(cell)) > 1e-9:
        frac = np.linalg.solve(cell.T, atoms.positions.T).T
        frac[:, pbc] %= 1.0
        lengths = atoms.cell.lengths()
        delta = np.minimum(2 * tol / lengths, 0.5)
        points, owners = [frac @ cell], [np.arange(n)]
        near = (frac < delta) & pbc
        for i in np.flatnonzero(near.any(axis=1)):
            dims = np.flatnonzero(near[i])
            for k in range(1, len(dims) + 1):
                for subset in itertools.combinations(dims, k):
                    shifted = frac[i].copy()
                    shifted[list(subset)] += 1.0
                    points.append((shifted @ cell)[None])
                    owners.append(np.array([i]))
        points, owners = np.concatenate(points), np.concatenate(owners)
    else:
        points, owners = atoms.positions, np.arange(n)
    for a, b in sorted(cKDTree(points).query_pairs(tol)):
        i, j = sorted((int(owners[a]), int(owners[b])))
        if i != j:
            return i, j
    return None


def validate_structure(atoms: Atoms, where: str) -> None:
    """Raise :class:`DataError` naming ``where`` if the structure cannot be used."""
    if len(atoms) == 0:
        raise DataError(f"{where}: structure has no atoms")
    if not np.isfinite(atoms.positions).all():
        raise DataError(f"{where}: positions contain NaN or infinity")
    if not np.isfinite(atoms.cell.array).all():
        raise DataError(f"{where}: cell contains NaN or infinity")
    if np.abs(atoms.positions).max() > 1e6 or np.abs(atoms.cell.array).max() > 1e6:
        raise DataError(f"{where}: coordinates or cell larger than 1e6 Å; the file is probably garbled")
    lengths = atoms.cell.lengths()
    if (atoms.pbc & (lengths < 1e-6)).any():
        raise DataError(f"{where}: periodic along a direction whose cell vector has zero length")
    if (atoms.numbers <= 0).any() or (atoms.numbers > 118).any():
        raise DataError(f"{where}: atomic numbers must lie in 1..118")
    pair = coincident_pair(atoms)
    if pair is not None:
        raise DataError(
            f"{where}: atoms {pair[0]} and {pair[1]} are at the same position "
            f"(closer than {COINCIDENT_TOLERANCE} Å)"
        )
