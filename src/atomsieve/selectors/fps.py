"""Farthest point sampling (FPS) of structures, flat and hierarchical (two-level).

FPS picks, one after another, the point whose distance to everything picked so far is
largest. Structures are points through the mean of their atoms' fingerprints.

The engine, :func:`farthest_point_sampling`, is exact and prunes work with the triangle
inequality (each point remembers its nearest pick c, and a new pick p can only come closer
to a point x when |c - p| < 2 |x - c|) and with a lower bound from a few principal
components, so late picks recompute the distances of few points.
:func:`farthest_point_sampling_reference` is the plain loop it is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, report
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite, one_blas_thread, structure_points

FirstPoint = str | int | Sequence[int]


def first_points(points: np.ndarray, first: FirstPoint, seed: int | None) -> list[int]:
    """Index (or indices) FPS starts from.

    ``"farthest-from-mean"``: the point farthest from the mean of all points (deterministic);
    ``"random"``: one point drawn with ``seed``; an int or a list of ints: those rows.
    """
    n = len(points)
    if isinstance(first, str):
        if first == "farthest-from-mean":
            centred = points - points.mean(axis=0)
            return [int(np.argmax(np.einsum("ij,ij->i", centred, centred)))]
        if first == "random":
            return [int(np.random.default_rng(seed).integers(n))]
        raise ParameterError(
            f"first={first!r}: use 'farthest-from-mean', 'random', an index or a list of indices"
        )
    chosen = np.atleast_1d(np.asarray(first))
    if chosen.dtype.kind not in "iu" or chosen.ndim != 1 or chosen.size == 0:
        raise ParameterError(f"first={first!r}: indices must be integers")
    if chosen.min() < 0 or chosen.max() >= n:
        raise ParameterError(f"first={first!r}: indices must lie in [0, {n})")
    if len(np.unique(chosen)) != len(chosen):
        raise ParameterError(f"first={first!r}: indices repeat")
    return [int(i) for i in chosen]


def _prepare(points, n_to_select, min_distance) -> tuple[np.ndarray, int]:
    X = check_finite(points, "points")
    if X.ndim != 2 or len(X) == 0:
        raise ParameterError(
            f"points must be a non-empty 2-D array (n_points, n_features); got shape {X.shape}"
        )
    if n_to_select is None:
        if min_distance is None:
            raise ParameterError("give n_to_select, min_distance or both")
        return X, len(X)
    return X, resolve_count(n_to_select, len(X), "points")


class _ProjectedBound:
    """A cheap lower bound on squared distances from a few principal components.

    With x = y + e (y in the span of the leading principal axes, e orthogonal to it),
    |x - p|^2 = |y_x - y_p|^2 + |e_x - e_p|^2 >= |y_x - y_p|^2 + (|e_x| - |e_p|)^2
    = |x|^2 + |p|^2 - 2 (y_x.y_p + |e_x| |e_p|): the exact formula on r + 1 columns.
    Points whose bound already exceeds their current distance need no exact distance.
    """

    def __init__(self, reduced: np.ndarray, margin: float):
        self.reduced = reduced  # (n, r + 1): leading components and the residual norm
        self.margin = margin  # covers rounding in the bound and in the exact distances
        self.kept_fraction = 0.0  # running mean; the bound switches itself off when useless
        self.active = True

    @classmethod
    def build(cls, X: np.ndarray, sq: np.ndarray, variance_left: float = 1e-3) -> _ProjectedBound | None:
        n, d = X.shape
        if d < 8 or n < 2000:
            return None
        eigval, eigvec = np.linalg.eigh(X.T @ X)
        eigval, eigvec = np.maximum(eigval[::-1], 0.0), eigvec[:, ::-1]
        left = 1.0 - np.cumsum(eigval) / max(eigval.sum(), 1e-300)
        r = min(int(np.searchsorted(-left, -variance_left)) + 1, d // 4)
        basis = eigvec[:, :r]
        Y = X @ basis
        residual = np.linalg.norm(X - Y @ basis.T, axis=1)
        reduced = np.ascontiguousarray(np.column_stack([Y, residual]))
        return cls(reduced, margin=1e-9 * float(sq.max()) * d)

    def candidates(self, idx: np.ndarray | None, p: int, d2: np.ndarray, sq: np.ndarray) -> np.ndarray:
        if idx is None:
            lower = sq - 2.0 * (self.reduced @ self.reduced[p])
            kept = np.flatnonzero(lower < d2 - sq[p] + self.margin)
            total = len(d2)
        else:
            lower = sq[idx] - 2.0 * (np.take(self.reduced, idx, axis=0) @ self.reduced[p])
            kept = idx[lower < d2[idx] - sq[p] + self.margin]
            total = len(idx)
        self.kept_fraction = 0.9 * self.kept_fraction + 0.1 * len(kept) / max(total, 1)
        self.active = self.kept_fraction < 0.7
        return kept


def farthest_point_sampling(
    points: np.ndarray,
    n_to_select: int | float | None,
    *,
    first: FirstPoint = "farthest-from-mean",
    min_distance: float | None = None,
    seed: int | None = 0,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact farthest point sampling of the rows of ``points`` (Euclidean distance).

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    n_to_select : int, float in (0, 1] or None
        How many rows to pick; None picks until ``min_distance`` stops it.
    first : {"farthest-from-mean", "random"}, int or list of int
        Where to start (see :func:`first_points`); ``first=0`` matches scikit-matter's default.
    min_distance : float, optional
        Stop once the farthest remaining row is closer than this to the picked ones.
    seed : int, optional
        Used only by ``first="random"``.
    progress : callable, optional
        ``progress(done, total, label)``.

    Returns
    -------
    order : ndarray of int
        Picked rows, in picking order.
    distances : ndarray of float
        Distance of each pick to the ones before it (``inf`` for the starting points).

    Examples
    --------
    >>> order, dist = farthest_point_sampling([[0.0], [1.0], [4.0], [10.0]], 3, first=0)
    >>> order.tolist(), dist[1:].tolist()
    ([0, 3, 2], [10.0, 4.0])
    """
    return _farthest_point_sampling(points, n_to_select, first, min_distance, seed, progress)


@one_blas_thread
def _farthest_point_sampling(points, n_to_select, first, min_distance, seed, progress):
    X, count = _prepare(points, n_to_select, min_distance)
    initial = first_points(X, first, seed)
    if len(initial) > count:
        raise ParameterError(
            f"first gives {len(initial)} starting points but only {count} are to be selected"
        )
    n = len(X)
    X = X - X.mean(axis=0)  # distances do not change; smaller norms, smaller rounding
    sq = np.einsum("ij,ij->i", X, X)
    bound = _ProjectedBound.build(X, sq)
    d2 = np.full(n, np.inf)
    limit = np.full(n, np.inf)  # 4 d2 (+ rounding room): the triangle test's bound per point
    slack = 1e-13 * float(sq.max()) + 1e-300  # rounding of the norm-expanded distances
    owner = np.zeros(n, dtype=np.int64)  # position (in the picks) of each point's nearest pick
    centres = np.empty((count, X.shape[1]))
    centre_sq = np.zeros(count)
    order = np.empty(count, dtype=np.int64)
    picked_d2 = np.empty(count)
    min_d2 = None if min_distance is None else float(min_distance) ** 2
    every = max(1, count // 100)
    n_done = count
    for step in range(count):
        if step < len(initial):
            p = initial[step]
        else:
            p = int(np.argmax(d2))
            if min_d2 is not None and d2[p] < min_d2:
                n_done = step
                break
        order[step], picked_d2[step] = p, d2[p]
        centres[step], centre_sq[step] = X[p], sq[p]
        idx = None
        if step > 0:
            # |x - p| >= |c - p| - |x - c|: a point can only come closer to p when its own
            # nearest pick c lies within twice its distance (squared: |c - p|^2 < 4 |x - c|^2).
            dc2 = (centre_sq[:step] + sq[p]) - 2.0 * (centres[:step] @ X[p])
            idx = np.flatnonzero(dc2[owner] < limit)
            if len(idx) > 0.6 * n:
                idx = None
            if bound is not None and bound.active:
                idx = bound.candidates(idx, p, d2, sq)
        if idx is None:
            new = (sq + sq[p]) - 2.0 * (X @ X[p])
            closer = new < d2
            moved = np.flatnonzero(closer)
        else:
            new = (sq[idx] + sq[p]) - 2.0 * (np.take(X, idx, axis=0) @ X[p])
            closer = new < d2[idx]
            moved = idx[closer]
        d2[moved] = new[closer]
        limit[moved] = 4.0 * (1.0 + 1e-9) * d2[moved] + slack
        owner[moved] = step
        d2[p] = limit[p] = -np.inf
        if progress is not None and (step % every == 0 or step == count - 1):
            report(progress, step + 1, count, "farthest point sampling")
    distances = np.sqrt(np.maximum(picked_d2[:n_done], 0.0))
    distances[: len(initial)] = np.inf
    return order[:n_done], distances


def farthest_point_sampling_reference(
    points: np.ndarray, n_to_select: int, *, first: FirstPoint = "farthest-from-mean", seed: int | None = 0
) -> np.ndarray:
    """The plain FPS loop (every distance recomputed each step); the engine's test oracle.

    >>> farthest_point_sampling_reference([[0.0], [1.0], [4.0], [10.0]], 3, first=0).tolist()
    [0, 3, 2]
    """
    X = np.asarray(points, dtype=np.float64)
    order = list(first_points(X, first, seed))
    nearest = np.min([np.linalg.norm(X - X[i], axis=1) for i in order], axis=0)
    while len(order) < n_to_select:
        nearest[order] = -np.inf
        i = int(np.argmax(nearest))
        order.append(i)
        nearest = np.minimum(nearest, np.linalg.norm(X - X[i], axis=1))
    return np.array(order[:n_to_select], dtype=np.int64)


class FPS(Selector):
    """Farthest point sampling of structures by their mean fingerprint.

    Parameters
    ----------
    n_to_select : int, float in (0, 1] or None
        Structures to pick; None picks until ``min_distance`` stops it.
    min_distance : float, optional
        Stopping score: stop once the farthest remaining structure is closer than this
        (in fingerprint units) to the picked ones.
    first : {"farthest-from-mean", "random"}, int or list of int
        The first pick: by default the structure farthest from the mean of all
        structures (deterministic); ``"random"`` draws it with ``seed``; an index or a
        list of indices starts from those structures (e.g. an existing training set).
    seed : int
        Used by ``first="random"``.
    progress : callable, optional
        ``progress(done, total, label)``.

    Attributes
    ----------
    selected_ : ndarray of int
        Structure indices in selection order.
    distances_ : ndarray of float
        Distance of each pick to those before it (``inf`` for the first).

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0], [1.0], [4.0], [10.0]], species=[1] * 4, structure=[0, 1, 2, 3])
    >>> FPS(n_to_select=3).fit(f).selected_.tolist()
    [3, 0, 2]
    """

    name = "fps"

    def __init__(
        self,
        n_to_select: int | float | None = None,
        *,
        min_distance: float | None = None,
        first: FirstPoint = "farthest-from-mean",
        seed: int | None = 0,
        progress: ProgressCallback | None = None,
    ):
        self.n_to_select = n_to_select
        self.min_distance = min_distance
        self.first = first
        self.seed = seed
        self.progress = progress

    def _select(self, features: AtomicFeatures) -> np.ndarray:
        points, candidates = structure_points(features)
        count = None if self.n_to_select is None else resolve_count(self.n_to_select, len(points))
        order, distances = farthest_point_sampling(
            points, count, first=self.first, min_distance=self.min_distance,
            seed=self.seed, progress=self.progress,
        )
        self.distances_ = distances
        return candidates[order]

    def _extra(self) -> dict:
        last = float(self.distances_[-1]) if len(self.distances_) > 1 else float("inf")
        return {"last_distance": last}


class HierarchicalFPS(Selector):
    """Two-level farthest point sampling: first over structure sizes, then over fingerprints.

    Level one runs FPS on the number of atoms of the structures, starting from the
    smallest size: that orders the distinct sizes so that small cells come first and
    the sizes are spread out. Level two then takes turns over the sizes in that order;
    each turn picks, among the structures of that size, the one whose mean fingerprint
    is farthest from everything picked so far (the very first pick: farthest from the
    mean of all structures). Sizes that run out are skipped. This is the scheme used to
    choose small, diverse initial training cells in nearsighted force training.

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
        Structures to pick.
    first_size : {"smallest", "largest"}
        Where level one starts.
    progress : callable, optional
        ``progress(done, total, label)``.

    Attributes
    ----------
    size_order_ : ndarray of int
        The distinct atom counts in level-one order.

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0], [1.0], [5.0], [2.0], [3.0], [9.0]], species=[1] * 6,
    ...                    structure=[0, 1, 1, 2, 2, 2])
    >>> sel = HierarchicalFPS(n_to_select=3).fit(f)
    >>> sel.size_order_.tolist(), sel.selected_.tolist()
    ([1, 3, 2], [0, 2, 1])
    """

    name = "hfps"

    def __init__(
        self,
        n_to_select: int | float,
        *,
        first_size: str = "smallest",
        progress: ProgressCallback | None = None,
    ):
        self.n_to_select = n_to_select
        self.first_size = first_size
        self.progress = progress

    @one_blas_thread
    def _select(self, features: AtomicFeatures) -> np.ndarray:
        if self.first_size not in ("smallest", "largest"):
            raise ParameterError(f"first_size={self.first_size!r}: use 'smallest' or 'largest'")
        points, candidates = structure_points(features)
        count = resolve_count(self.n_to_select, len(points))
        sizes = features.atom_counts[candidates]
        distinct = np.unique(sizes)
        start = 0 if self.first_size == "smallest" else len(distinct) - 1
        level_one, _ = farthest_point_sampling(distinct[:, None].astype(float), len(distinct), first=start)
        self.size_order_ = distinct[level_one]
        groups = [np.flatnonzero(sizes == s) for s in self.size_order_]
        centred = points - points.mean(axis=0)
        d2 = np.einsum("ij,ij->i", centred, centred)  # before the first pick: distance to the mean
        sq = np.einsum("ij,ij->i", points, points)
        picked: list[int] = []
        every = max(1, count // 100)
        while len(picked) < count:
            for group in groups:
                if len(picked) == count:
                    break
                left = group[d2[group] > -np.inf]
                if left.size == 0:
                    continue
                p = int(left[np.argmax(d2[left])])
                new = (sq + sq[p]) - 2.0 * (points @ points[p])
                d2 = new if not picked else np.minimum(d2, new)
                picked.append(p)
                d2[picked] = -np.inf
                if self.progress is not None and (len(picked) % every == 0 or len(picked) == count):
                    report(self.progress, len(picked), count, "hierarchical FPS")
        return candidates[np.array(picked, dtype=np.int64)]
