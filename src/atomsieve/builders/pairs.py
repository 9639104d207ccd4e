"""All atom pairs within a cutoff, periodic images included, in vectorised numpy.

ASE's ``neighbor_list`` bins space, which is slow when the cell is only about as wide as the
cutoff (a 100-ion salt box with a 10 Å Coulomb cutoff). Here every pair is tried against the
lattice translations that can bring it within the cutoff, in chunks of bounded memory; a periodic
orthorhombic box wider than twice the cutoff goes to a periodic k-d tree (scipy) instead.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

_CHUNK_ELEMENTS = 2_000_000  # pair-image candidates per chunk (16 MB of squared distances)


def pairs_within(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs ``(i, j, distance, vector)`` with ``distance < cutoff`` (Å).

    Each unordered pair appears twice, as ``(i, j)`` and ``(j, i)``; ``vector`` points from atom
    ``i`` to the image of ``j``, as in ``ase.neighborlist.neighbor_list("ijdD", ...)``, and a periodic
    image of an atom itself counts as a pair when it lies within the cutoff.

    >>> from ase.build import bulk
    >>> i, j, d, D = pairs_within(bulk("Cu", "fcc", a=3.6), 2.6)
    >>> len(i), round(float(d.min()), 3)  # 12 nearest neighbours of the one atom
    (12, 2.546)
    """
    positions = atoms.positions
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool) & (atoms.cell.rank == 3)
    cell = atoms.cell.array
    if pbc.any():
        inverse = np.linalg.inv(cell)
        widths = 1.0 / np.linalg.norm(inverse, axis=0)  # perpendicular widths of the cell
        frac = positions @ inverse
        reach = [int(np.floor(cutoff / w + 0.5)) if p else 0 for w, p in zip(widths, pbc)]
    else:
        frac, reach = None, [0, 0, 0]
    if pbc.all() and not any(reach) and np.allclose(cell, np.diag(np.diag(cell))):
        return _orthorhombic_pairs(atoms, cutoff)
    shifts = np.array(list(itertools.product(*[range(-m, m + 1) for m in reach])), dtype=float)
    shift_vectors = shifts @ cell if pbc.any() else np.zeros((1, 3))
    shift_norm2 = np.einsum("sk,sk->s", shift_vectors, shift_vectors)
    rows = max(1, _CHUNK_ELEMENTS // max(1, n * len(shifts)))
    out_i, out_j, out_d, out_v = [], [], [], []
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        if frac is not None:
            dfrac = frac[None, :, :] - frac[start:stop, None, :]
            dfrac -= np.round(dfrac) * pbc  # minimum image along periodic directions
            base = dfrac @ cell
        else:
            base = positions[None, :, :] - positions[start:stop, None, :]
        # |b + s|^2 = |b|^2 + 2 b.s + |s|^2 for every base vector b and lattice shift s, by BLAS
        dist2 = (np.einsum("abk,abk->ab", base, base)[:, :, None] + 2 * base @ shift_vectors.T
                 + shift_norm2[None, None, :])
        flat = np.flatnonzero(dist2 < cutoff**2)  # much faster than a 3-D np.nonzero
        ii, rest = np.divmod(flat, n * len(shift_vectors))
        jj, ss = np.divmod(rest, len(shift_vectors))
        vec = base[ii, jj] + shift_vectors[ss]
        dist = np.sqrt(np.einsum("pk,pk->p", vec, vec))
        keep = (dist < cutoff) & ((ii + start != jj) | (dist > 1e-12))
        out_i.append(ii[keep] + start)
        out_j.append(jj[keep])
        out_d.append(dist[keep])
        out_v.append(vec[keep])
    return (
        np.concatenate(out_i).astype(np.int64),
        np.concatenate(out_j).astype(np.int64),
        np.concatenate(out_d),
        np.concatenate(out_v).reshape(-1, 3),
    )


def _orthorhombic_pairs(atoms: Atoms, cutoff: float):
    """Pairs by a periodic k-d tree: an orthorhombic, fully periodic box wider than 2 × cutoff."""
    from scipy.spatial import cKDTree

    lengths = np.diag(atoms.cell.array).copy()
    wrapped = np.mod(atoms.positions, lengths)
    wrapped[wrapped >= lengths] = 0.0  # np.mod can return the box length itself by rounding
    i, j = cKDTree(wrapped, boxsize=lengths).query_pairs(cutoff, output_type="ndarray").T
    vec = atoms.positions[j] - atoms.positions[i]
    vec -= np.round(vec / lengths) * lengths
    dist = np.sqrt(np.einsum("pk,pk->p", vec, vec))
    keep = dist < cutoff
    i, j, vec, dist = i[keep], j[keep], vec[keep], dist[keep]
    return (
        np.concatenate([i, j]).astype(np.int64),
        np.concatenate([j, i]).astype(np.int64),
        np.concatenate([dist, dist]),
        np.concatenate([vec, -vec]),
    )
