"""The CPU engine of local-environment-bank selection: the published per-atom loop, compiled, indexed.

The loop is the reference algorithm itself (atoms in visiting order, each compared with the bank of
its element), so there is nothing to reorder or batch; what makes it fast is how little of the bank
each atom has to look at:

* **Rotation.** Fingerprints are centred and rotated onto their principal axes (distances do not
  change). The leading coordinates then carry most of the spread, so a partial sum of squared
  differences passes ``T^2`` after a few coordinates for most bank vectors.
* **Grid.** The first ``k`` rotated coordinates (``k <= 3``) are cut into cells at least ``T`` wide. A
  bank vector within ``T`` of an atom differs by at most ``T`` in every coordinate, hence lies in one
  of the ``3^k`` cells around the atom's cell; no other vector is looked at.
* **Layout and order.** Each cell keeps its bank vectors side by side, coordinate-major, so the
  first :data:`LEAD` coordinates of a whole cell are compared at once (vectorised); only vectors
  still within reach get the rest, newest first, the atom's own cell first.

Decisions are exact. A squared distance in rotated coordinates is trusted only when it lies farther
than a rigorous rounding margin from ``T^2``; a pair inside the margin (exact ties, duplicates at
``T = 0``) is decided by :func:`exact_distance`, which computes the reference engine's
:func:`~atomsieve.selectors.lebank_engines.exact_distances` on the original float64 values bit for
bit (NumPy's pairwise summation, reproduced).
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
def _block_sum(a, lo, n):
    """NumPy's sum of at most 128 float64s: 8 accumulators, combined pairwise, then the tail."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a, lo, n):
    """``a[lo:lo+n].sum()`` exactly as NumPy adds float64 along a contiguous axis: blocks of at most
    128 (:func:`_block_sum`), longer runs halved (at a multiple of 8) and the halves added.

    NumPy recurses; this walks the same tree with an explicit stack (numba cannot cache recursion).
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    stage = np.empty(64, dtype=np.int64)
    sums = np.empty(64)
    top, done = 0, 0
    starts[0], sizes[0], stage[0] = lo, n, 0
    while top >= 0:
        start, size = starts[top], sizes[top]
        if size <= 128:
            sums[done] = _block_sum(a, start, size)
            done += 1
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        if stage[top] < 2:  # push the left half, then the right half
            first = stage[top] == 0
            stage[top] += 1
            top += 1
            starts[top] = start if first else start + half
            sizes[top] = half if first else size - half
            stage[top] = 0
        else:  # both halves summed
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
    return sums[0]


@numba.njit(cache=True, nogil=True)
def exact_distance(a, b, scratch):
    """``sqrt(sum((a - b)**2))`` with NumPy's rounding (``scratch``: space for ``len(a)`` floats).

    The reference engine's expression for one pair; bit-identical to
    :func:`~atomsieve.selectors.lebank_engines.exact_distances` (tested).
    """
    for d in range(len(a)):
        diff = a[d] - b[d]
        scratch[d] = diff * diff
    return np.sqrt(_pairwise_sum(scratch, 0, len(a)))


@numba.njit(cache=True, nogil=True)
def _scan(raw, y, cell, coords, shape, offsets, start, slot_row, store_t, n_initial, t, margin, joined):
    """The published loop over atoms (rows ``n_initial + p``; rows before them are the initial bank,
    already stored); ``joined[p]`` is set for each atom that joins."""
    n_f = y.shape[1]
    lead = min(LEAD, n_f)
    k = coords.shape[1]
    t2 = t * t
    hi = t2 + margin
    lo = t2 - margin
    fill = np.zeros(len(start), dtype=np.int64)
    partial = np.empty(len(y))
    scratch = np.empty(n_f)
    for row in range(n_initial + len(joined)):
        if row >= n_initial:
            x = y[row]
            covered = False
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
                for i in range(m):
                    partial[i] = 0.0
                for d in range(lead):
                    xd = x[d]
                    for i in range(m):
                        diff = xd - store_t[d, s0 + i]
                        partial[i] += diff * diff
                for i in range(m - 1, -1, -1):
                    s = partial[i]
                    if s > hi:
                        continue
                    for d in range(lead, n_f):
                        diff = x[d] - store_t[d, s0 + i]
                        s += diff * diff
                        if (d & 3) == 3 and s > hi:
                            break
                    if s <= lo or (s <= hi and exact_distance(raw[row], raw[slot_row[s0 + i]], scratch) <= t):
                        covered = True
                        break
                if covered:
                    break
            if covered:
                continue
            joined[row - n_initial] = True
        # Store the new bank vector (initial vectors first) in its cell's slab.
        c = cell[row]
        q = start[c] + fill[c]
        for d in range(n_f):
            store_t[d, q] = y[row, d]
        slot_row[q] = row
        fill[c] += 1


def _principal_frame(raw: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``raw`` centred and rotated onto the principal axes of ``values`` (largest spread first)."""
    mean = values.mean(axis=0)
    sample = values[:: max(1, len(values) // 8192)] - mean
    _, vectors = np.linalg.eigh(sample.T @ sample)
    rotation = np.ascontiguousarray(vectors[:, ::-1])
    y = raw @ rotation
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


def kernel_element(values: np.ndarray, threshold: float, initial: np.ndarray) -> np.ndarray:
    """Rows of one element's ``values`` (visiting order) that join a bank starting at ``initial``.

    Same contract and answer as the reference engine for one element.
    """
    n, f = values.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.ascontiguousarray(np.concatenate([initial, values]) if len(initial) else values)
    y = _principal_frame(raw, values)
    t = float(threshold)
    # Rotation and summation change a squared distance by at most ~f^2 u (|a| + |b| + T)^2, with the
    # norms before centring (the rotation is applied to the raw values).
    max_norm = float(np.sqrt(f) * np.abs(raw).max())  # bounds every row's norm
    margin = 16.0 * f * f * float(np.finfo(np.float64).eps) * (2.0 * max_norm + t) ** 2
    coords, shape, cell = _grid(y, np.sqrt(t * t + margin) * (1 + 1e-9) + 1e-12)
    # The atom's own cell first, then cells sharing a face, an edge, a corner.
    offsets = np.array(sorted(itertools.product((-1, 0, 1), repeat=coords.shape[1]),
                              key=lambda o: sum(map(abs, o))), dtype=np.int64)
    # Each cell owns a slab of store columns large enough for every vector that could fall in it.
    counts = np.bincount(cell, minlength=int(np.prod(shape)))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    joined = np.zeros(n, dtype=np.bool_)
    slot_row, store_t = np.empty(len(y), dtype=np.int64), np.empty((f, len(y)))
    _scan(raw, y, cell, coords, shape, offsets, start, slot_row, store_t, len(initial), t, margin, joined)
    return np.flatnonzero(joined)
