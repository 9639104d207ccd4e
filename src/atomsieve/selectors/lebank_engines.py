"""The two engines of local-environment-bank selection: a readable reference and a fast exact one.

Both answer the same question. Atoms are visited in order (rows of ``values``, already put in
visiting order by :class:`~atomsieve.selectors.LEBank`); atom ``k`` of element ``e`` joins the bank
when its Euclidean distance to every bank vector of element ``e`` added before it (including the
initial vectors) is strictly larger than ``T_e``. Each engine returns the visiting positions of the
atoms that joined, in increasing order.

Elements never interact (an atom is only compared with bank vectors of its own element), so the
fast engine handles each element on its own. On the CPU it runs the compiled, grid-indexed per-atom
loop of :mod:`atomsieve.selectors.lebank_kernel`. On CUDA (or when asked for with ``backend``) it runs
the batched form below:

1. the atoms are screened against the initial bank in one batched matrix operation;
2. the first ``M`` atoms still uncovered form a block; distances inside the block decide, in
   order, which of them join (a block atom can only be covered by block atoms before it, since
   everything added earlier has already removed the atoms it covers);
3. the atoms after the block are screened against the block's new bank vectors and those within
   ``T`` are dropped for good (the bank only grows, so a covered atom stays covered).

Distances are computed as ``|a|^2 + |b|^2 - 2 a.b`` (one matrix product of augmented rows) in float32
(float64 when the data's norms make float32 too coarse), with NumPy/BLAS on the CPU and torch on CUDA.
Rows and columns are sorted by their projection on the first principal axis, and a tile of rows only
meets the columns whose projection lies within T of the tile's (a projection never lengthens a
distance). Every decision whose approximate squared distance lies within a rigorous rounding bound of
``T^2`` is re-made with :func:`exact_distances`, the very float64 expression the reference engine uses,
so the two engines agree bit for bit.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import cache

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from atomsieve.device import resolve_device
from atomsieve.selectors.lebank_kernel import kernel_element

#: Largest number of entries of one distance tile (rows x columns).
TILE = 1 << 22
#: Rows per distance tile on the CPU, and the largest block of candidates resolved at once.
ROW_TILE = 256
MAX_BLOCK = 512


def exact_distances(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Euclidean distances in float64, row by row: ``sqrt(sum((points - x)**2, axis=1))``.

    The one expression both engines base their decisions on. ``x`` is one vector (broadcast) or an
    array with one row per row of ``points``.

    >>> exact_distances(np.array([[3.0, 4.0], [0.0, 0.0]]), np.zeros(2)).tolist()
    [5.0, 0.0]
    """
    return np.sqrt(((points - x) ** 2).sum(axis=1))


# ---------------------------------------------------------------------------- reference engine
def reference_engine(
    values: np.ndarray, species: np.ndarray, thresholds: dict[int, float], initial: dict[int, np.ndarray]
) -> np.ndarray:
    """The published algorithm, one atom at a time (the oracle the fast engine is tested against).

    Parameters
    ----------
    values : (n_atoms, n_features) float64, rows in visiting order
    species : (n_atoms,) atomic numbers
    thresholds : atomic number -> threshold (same units as ``values``)
    initial : atomic number -> (m, n_features) bank vectors present before the first atom

    Returns
    -------
    ndarray of int
        Positions (rows) that joined the bank, increasing.
    """
    n_features = values.shape[1]
    bank = {z: np.asarray(v, dtype=np.float64).reshape(-1, n_features) for z, v in initial.items()}
    added = []
    for k in range(len(values)):
        z = int(species[k])
        x = values[k]
        vectors = bank.get(z)
        if vectors is None or len(vectors) == 0 or exact_distances(vectors, x).min() > thresholds[z]:
            bank[z] = x[None, :] if vectors is None else np.vstack([vectors, x])
            added.append(k)
    return np.asarray(added, dtype=np.int64)


# ---------------------------------------------------------------------------- fast engine
@cache
def _threadpools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, inspected once (inspecting them costs milliseconds per call)."""
    return ThreadpoolController()


class _Arrays:
    """The few array operations the fast engine needs, on NumPy (CPU) or torch (CUDA) arrays."""

    def __init__(self, device: torch.device, backend: str | None = None):
        self.device = device
        # ``gpu`` means "torch tensors": always on CUDA; on the CPU only when asked (tests use it to
        # run the CUDA code path without a GPU).
        self.gpu = device.type != "cpu" if backend is None else backend == "torch"

    def put(self, a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device) if self.gpu else a

    def host(self, a) -> np.ndarray:
        return a.cpu().numpy() if self.gpu else a

    def take(self, a, idx: np.ndarray):
        return a[torch.from_numpy(idx).to(self.device)] if self.gpu else a[idx]

    def partial_sq(self, x_aug, b_aug):
        """``|b_j|^2 - 2 x_i.b_j`` for all i, j as one product of augmented rows ``[x, 1]`` and
        columns ``[-2b, |b|^2]`` (add ``|x_i|^2`` for squared distances)."""
        return x_aug @ b_aug.T

    def rowmin(self, g):
        return g.amin(dim=1) if self.gpu else g.min(axis=1)


def _augmented(x: np.ndarray, scale: float, last, dtype) -> np.ndarray:
    """``[scale * x, last]`` as a new ``dtype`` array with one more column."""
    out = np.empty((len(x), x.shape[1] + 1), dtype=dtype)
    np.multiply(x, scale, out=out[:, :-1], casting="unsafe")
    out[:, -1] = last
    return out


class _ElementScreen:
    """Exact "within T" decisions for one element, batched, re-made in float64 near T.

    Fingerprints are centred (distances do not change, norms and rounding errors shrink) and cast to
    float32, or kept in float64 when float32 would be too coarse for this T. For inputs rounded to the
    working precision (relative error u) the expanded form ``|a|^2 + |b|^2 - 2a.b`` is off by at most
    about ``(f + 8) u (|a|^2 + |b|^2)``; the margin used is four times that. A squared distance within
    the margin of ``T^2`` is recomputed with :func:`exact_distances` on the original float64 values.
    """

    def __init__(self, values: np.ndarray, initial: np.ndarray, threshold: float, arrays: _Arrays):
        self.values = values
        self.initial = initial
        self.threshold = float(threshold)
        self.t2 = self.threshold**2
        self.xp = arrays
        centre = values.mean(axis=0) if len(values) else np.zeros(values.shape[1])
        centred, init_centred = values - centre, initial - centre
        self.sq64 = np.einsum("ij,ij->i", centred, centred)
        self.sq_init64 = np.einsum("ij,ij->i", init_centred, init_centred)
        max_sq = max(float(self.sq64.max(initial=0.0)), float(self.sq_init64.max(initial=0.0)))
        f = values.shape[1]
        self.dtype = np.float32
        self.bound = 4.0 * (f + 8) * float(np.finfo(np.float32).eps)
        if self.t2 == 0 or self.bound * 2 * max_sq > 0.05 * self.t2:
            self.dtype = np.float64
            self.bound = 4.0 * (f + 8) * float(np.finfo(np.float64).eps)
        # Rows as [x, 1], columns as [-2x, |x|^2]: one matrix product gives |b|^2 - 2 x.b.
        self.xa = arrays.put(_augmented(centred, 1.0, 1.0, self.dtype))
        self.ba = arrays.put(_augmented(centred, -2.0, self.sq64, self.dtype))
        self.ba_init = arrays.put(_augmented(init_centred, -2.0, self.sq_init64, self.dtype))
        # Projection on a unit vector, |p(a) - p(b)| <= |a - b|: the first principal axis (of at most
        # 4096 rows; any unit vector keeps the bound valid, a good one prunes more).
        axis = np.zeros(f)
        if len(values) > 1:
            sample = centred[:: max(1, len(centred) // 4096)]
            axis = np.linalg.eigh(sample.T @ sample)[1][:, -1]
            axis /= np.linalg.norm(axis)
        self.p = centred @ axis
        self.p_init = init_centred @ axis
        self.p_slack = 1e-9 * (1.0 + max(float(np.abs(self.p).max(initial=0.0)),
                                         float(np.abs(self.p_init).max(initial=0.0)), max_sq))

    def covered(self, rows: np.ndarray, xr, cols: np.ndarray | None) -> np.ndarray:
        """For each of ``rows`` (working copies ``xr``): is some column vector within T, exactly?

        ``cols`` are row indices of this element's values, or None for the initial bank. Rows and
        columns are sorted by their projection on the first principal axis; a tile of rows is only
        compared with the columns whose projection lies within T (plus rounding slack) of the tile's,
        since a projection never lengthens a distance.
        """
        xp = self.xp
        n_cols = len(self.initial) if cols is None else len(cols)
        out = np.zeros(len(rows), dtype=bool)
        if len(rows) == 0 or n_cols == 0:
            return out
        if cols is None:
            p_cols, sq_b64 = self.p_init, self.sq_init64
        else:
            p_cols, sq_b64 = self.p[cols], self.sq64[cols]
        col_order = np.argsort(p_cols, kind="stable")
        p_cols = p_cols[col_order]
        b = xp.take(self.ba_init, col_order) if cols is None else xp.take(self.ba, cols[col_order])
        max_sq_b = float(sq_b64.max())
        row_order = np.argsort(self.p[rows], kind="stable")
        p_sorted = self.p[rows][row_order]
        x_sorted = xp.take(xr, row_order)
        tile = 4096 if xp.gpu else ROW_TILE
        col_step = max(1, TILE // tile)
        best_sorted = np.full(len(rows), np.inf)
        reach = self.threshold + self.p_slack
        for r0 in range(0, len(rows), tile):
            r1 = min(r0 + tile, len(rows))
            c_lo = int(np.searchsorted(p_cols, p_sorted[r0] - reach, side="left"))
            c_hi = int(np.searchsorted(p_cols, p_sorted[r1 - 1] + reach, side="right"))
            for c0 in range(c_lo, c_hi, col_step):
                g = xp.partial_sq(x_sorted[r0:r1], b[c0 : min(c0 + col_step, c_hi)])
                np.minimum(best_sorted[r0:r1], xp.host(xp.rowmin(g)), out=best_sorted[r0:r1])
        best = np.empty(len(rows))
        best[row_order] = best_sorted
        best += self.sq64[rows]
        margin = self.bound * (self.sq64[rows] + max_sq_b)
        out = best <= self.t2 - margin
        unsure = np.flatnonzero((best <= self.t2 + margin) & (best > self.t2 - margin))
        if len(unsure):
            vectors = self.initial if cols is None else self.values[cols]
            for i in unsure:
                out[i] = bool((exact_distances(vectors, self.values[rows[i]]) <= self.threshold).any())
        return out

    def within_block(self, block: np.ndarray, xb) -> np.ndarray:
        """Boolean (m, m) matrix: exact ``d(block[i], block[j]) <= T`` (``xb``: the rows' working copies)."""
        xp = self.xp
        sq64 = self.sq64[block]
        d2 = xp.host(xp.partial_sq(xb, xp.take(self.ba, block)))
        d2 += sq64.astype(d2.dtype)[:, None]
        margin = self.bound * 2 * float(sq64.max())
        sure = d2 <= self.t2 - margin
        unsure = d2 <= self.t2 + margin
        unsure &= ~sure
        if unsure.any():
            i, j = np.nonzero(unsure)
            sure[i, j] = exact_distances(self.values[block[j]], self.values[block[i]]) <= self.threshold
        return sure


def _first_in_order(within: np.ndarray, max_rounds: int = 8) -> np.ndarray:
    """Block positions that join the bank: each one not within T of an earlier joiner.

    Decided in rounds while that is quick (an undecided position whose earlier neighbours are all
    decided joins; positions with an earlier joiner as neighbour drop out), then one by one.
    """
    m = len(within)
    earlier = np.tril(within, -1).astype(np.float32)  # earlier[i, j]: j < i and j within T of i
    undecided = np.ones(m, dtype=bool)
    joined = np.zeros(m, dtype=bool)
    for _ in range(max_rounds):
        if not undecided.any():
            return np.flatnonzero(joined)
        ready = undecided & ~((earlier @ undecided.astype(np.float32)) > 0)
        joined |= ready
        undecided &= ~ready
        undecided &= ~((earlier @ ready.astype(np.float32)) > 0)
    for j in np.flatnonzero(undecided):
        # Sequential finish: j joins unless an earlier joiner is within T.
        if not (earlier[j] * joined).any():
            joined[j] = True
    return np.flatnonzero(joined)


def fast_element(
    values: np.ndarray,
    threshold: float,
    initial: np.ndarray,
    device: torch.device,
    block: int = 128,
    backend: str | None = None,
) -> np.ndarray:
    """Rows of one element's ``values`` (visiting order) that join the bank, increasing."""
    xp = _Arrays(device, backend)
    screen = _ElementScreen(values, initial, threshold, xp)
    remaining = np.arange(len(values), dtype=np.int64)
    x_rem = screen.xa
    keep = ~screen.covered(remaining, x_rem, None)
    remaining, x_rem = remaining[keep], x_rem[xp.put(keep)] if xp.gpu else x_rem[keep]
    joined_all = []
    size = block
    while len(remaining):
        head, x_head = remaining[:size], x_rem[:size]
        joined = head[_first_in_order(screen.within_block(head, x_head))]
        joined_all.append(joined)
        rest, x_rest = remaining[size:], x_rem[size:]
        if len(rest):
            keep = ~screen.covered(rest, x_rest, joined)
            rest, x_rest = rest[keep], (x_rest[xp.put(keep)] if xp.gpu else x_rest[keep])
        remaining, x_rem = rest, x_rest
        # Grow the block while most of it joins (sparse data), shrink it while few do (dense data).
        share = len(joined) / len(head)
        if share > 0.5:
            size = min(size * 2, MAX_BLOCK)
        elif share < 0.125:
            size = max(size // 2, 32)
    return np.concatenate(joined_all) if joined_all else np.zeros(0, dtype=np.int64)


def fast_engine(
    values: np.ndarray,
    species: np.ndarray,
    thresholds: dict[int, float],
    initial: dict[int, np.ndarray],
    device: str | torch.device | None = "auto",
    backend: str | None = None,
) -> np.ndarray:
    """Same contract and same answer as :func:`reference_engine`, element by element.

    ``backend``: None picks the compiled per-atom loop (:mod:`~atomsieve.selectors.lebank_kernel`) on
    the CPU and the batched engine on torch on CUDA; ``"numba"``, ``"numpy"`` (batched, NumPy) or
    ``"torch"`` (batched, torch) force one.
    """
    dev = resolve_device(device)
    n_features = values.shape[1]
    out = []
    # One BLAS thread: the tiles are small, and on a busy machine OpenBLAS threads spin-wait and cost
    # several times the work they share.
    limit = _threadpools().limit(limits=1, user_api="blas") if dev.type == "cpu" else nullcontext()
    with limit:
        for z in np.unique(species):
            rows = np.flatnonzero(species == z)
            init = np.asarray(initial.get(int(z), np.zeros((0, n_features))), dtype=np.float64).reshape(
                -1, n_features
            )
            x = values[rows] if len(rows) < len(values) else values  # one element: no copy
            x = np.ascontiguousarray(x, dtype=np.float64)
            if backend == "numba" or (backend is None and dev.type == "cpu"):
                joined = kernel_element(x, thresholds[int(z)], init)
            else:
                joined = fast_element(x, thresholds[int(z)], init, dev, backend=backend)
            out.append(rows[joined])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)
