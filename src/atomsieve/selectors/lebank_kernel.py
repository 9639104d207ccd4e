"""The CPU engine of local-environment-bank selection: the published per-atom loop, compiled, indexed.

The loop is the reference algorithm itself (atoms in visiting order, each compared with the bank of
its element), so there is nothing to reorder or batch; what makes it fast is how little of the bank
each atom has to look at:

* **Rotation.** Fingerprints are centred and rotated onto their principal axes (distances do not
  change). The leading coordinates then carry most of the spread, so a partial sum of squared
  differences passes ``T^2`` after a few coordinates for most bank vectors, and the comparison stops
  there.
* **Grid.** The first ``k`` rotated coordinates (``k <= 3``) are cut into cells at least ``T`` wide. A
  bank vector within ``T`` of an atom differs by at most ``T`` in every coordinate, hence lies in one
  of the ``3^k`` cells around the atom's cell; no other vector is looked at.
* **Order.** The atom's own cell comes first and each cell lists its newest vectors first (neighbours
  in the same structure), so an atom that is covered usually finds its cover in a few comparisons.

Decisions are exact. A squared distance in rotated coordinates is trusted only when it lies farther
than a rigorous rounding margin from ``T^2``; an atom with only such unsure pairs (and no sure cover)
is handed back to Python, which decides it with
:func:`~atomsieve.selectors.lebank_engines.exact_distances` — the very expression of the reference
engine — and resumes the loop. Such atoms are rare (exact ties, duplicates at ``T = 0``).
"""

from __future__ import annotations

import itertools

import numba
import numpy as np

#: At most this many grid cells per bank vector (the grid is dense, so it must stay small).
CELLS_PER_VECTOR = 4
MAX_GRID_DIMS = 3
#: Leading coordinates compared for a whole cell at once, before any vector is ruled out.
LEAD = 8


@numba.njit(cache=True, nogil=True)
def _insert(row, y, cell, start, fill, store_t):
    """Append row ``row`` of ``y`` to its cell's slab (columns of ``store_t``, one row per coordinate)."""
    c = cell[row]
    q = start[c] + fill[c]
    for d in range(y.shape[1]):
        store_t[d, q] = y[row, d]
    fill[c] += 1


@numba.njit(cache=True, nogil=True)
def _scan(y, cell, coords, shape, offsets, start, fill, store_t, first, n_initial, t2, margin, joined,
          partial):
    """Visit atoms ``first, first+1, ...`` (rows ``n_initial + p`` of ``y``); return ``len(joined)`` when
    done, or the position of the first atom that only an exact float64 check can decide. ``partial``:
    scratch space for the largest cell."""
    n_atoms = len(joined)
    n_f = y.shape[1]
    lead = min(LEAD, n_f)
    k = coords.shape[1]
    hi = t2 + margin
    lo = t2 - margin
    for p in range(first, n_atoms):
        row = n_initial + p
        x = y[row]
        covered = False
        unsure = False
        for o in range(offsets.shape[0]):
            c = 0
            inside = True
            for d in range(k):
                cd = coords[row, d] + offsets[o, d]
                if cd < 0 or cd >= shape[d]:
                    inside = False
                    break
                c = c * shape[d] + cd
            if not inside or fill[c] == 0:
                continue
            s0, m = start[c], fill[c]
            # The leading coordinates for the whole cell at once (contiguous, vectorised) ...
            for i in range(m):
                partial[i] = 0.0
            for d in range(lead):
                xd = x[d]
                for i in range(s0, s0 + m):
                    diff = xd - store_t[d, i]
                    partial[i - s0] += diff * diff
            # ... then the rest for the few vectors still within reach, newest first (an atom is most
            # often covered by a neighbour from its own structure), stopping as soon as past T.
            for i in range(m - 1, -1, -1):
                s = partial[i]
                if s > hi:
                    continue
                for d in range(lead, n_f):
                    diff = x[d] - store_t[d, s0 + i]
                    s += diff * diff
                    if (d & 3) == 3 and s > hi:
                        break
                if s <= lo:
                    covered = True
                    break
                if s <= hi:
                    unsure = True
            if covered:
                break
        if covered:
            continue
        if unsure:
            return p
        joined[p] = True
        _insert(row, y, cell, start, fill, store_t)
    return n_atoms


def _principal_frame(values: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Initial vectors then atoms, centred and rotated onto principal axes (largest spread first)."""
    mean = values.mean(axis=0)
    sample = values[:: max(1, len(values) // 8192)] - mean
    _, vectors = np.linalg.eigh(sample.T @ sample)
    rotation = np.ascontiguousarray(vectors[:, ::-1])
    both = np.concatenate([initial, values]) if len(initial) else values
    y = both @ rotation
    y -= mean @ rotation
    return y


def _grid(y: np.ndarray, min_width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell of each row over the first ``k`` coordinates; cells at least ``min_width`` wide."""
    k = min(MAX_GRID_DIMS, y.shape[1])
    lead = y[:, :k]
    lo, span = lead.min(axis=0), np.ptp(lead, axis=0)
    per_dim = max(1, int((CELLS_PER_VECTOR * len(y)) ** (1.0 / k)))
    width = np.maximum(min_width, span / per_dim)
    width = np.where(width > 0, width, 1.0)
    coords = np.floor((lead - lo) / width).astype(np.int64)
    shape = coords.max(axis=0) + 1
    cell = np.ravel_multi_index(coords.T, shape)
    return coords, shape.astype(np.int64), cell.astype(np.int64)


def kernel_element(values: np.ndarray, threshold: float, initial: np.ndarray, exact_distances) -> np.ndarray:
    """Rows of one element's ``values`` (visiting order) that join a bank starting at ``initial``.

    Same contract and answer as the reference engine for one element; ``exact_distances`` is its
    distance function, used for the atoms the rotated float64 sums cannot decide.
    """
    n, f = values.shape
    m = len(initial)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    y = _principal_frame(values, initial)
    t = float(threshold)
    t2 = t * t
    # Rotation and summation each change a squared distance by at most ~f^2 u (|a| + |b| + T)^2, with
    # norms before centring (the rotation is applied to the raw values).
    both = np.concatenate([initial, values]) if m else values
    max_norm = float(np.sqrt(np.einsum("ij,ij->i", both, both).max()))
    margin = 16.0 * f * f * float(np.finfo(np.float64).eps) * (2.0 * max_norm + t) ** 2
    coords, shape, cell = _grid(y, (np.sqrt(t2 + margin) * (1 + 1e-9) + 1e-12))
    # The atom's own cell first, then cells sharing a face, an edge, a corner.
    offsets = np.array(sorted(itertools.product((-1, 0, 1), repeat=coords.shape[1]),
                              key=lambda o: sum(map(abs, o))), dtype=np.int64)
    # Each cell owns a slab of rows large enough for every vector that could fall in it, so the bank
    # vectors of a cell lie next to each other in memory.
    counts = np.bincount(cell, minlength=int(np.prod(shape)))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    fill = np.zeros(len(counts), dtype=np.int64)
    store_t = np.empty((f, len(y)))
    for row in range(m):
        _insert(row, y, cell, start, fill, store_t)
    joined = np.zeros(n, dtype=np.bool_)
    partial = np.empty(int(counts.max()))
    p = 0
    while p < n:
        p = _scan(y, cell, coords, shape, offsets, start, fill, store_t, p, m, t2, margin, joined, partial)
        if p == n:
            break
        bank = np.concatenate([initial, values[:p][joined[:p]]])
        if len(bank) == 0 or exact_distances(bank, values[p]).min() > t:
            joined[p] = True
            _insert(m + p, y, cell, start, fill, store_t)
        p += 1
    return np.flatnonzero(joined)
