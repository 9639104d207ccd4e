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

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors._greedy import FirstPoint, GreedyScore, first_points, greedy_select
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite, one_blas_thread, structure_points


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
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact farthest point sampling of the rows of ``points`` (Euclidean distance).

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    n_to_select : int, float in (0, 1] or None
        How many rows to pick; None picks until ``min_distance`` stops it.
    first : {"farthest-from-mean", "random"}, int or list of int
        Where to start (see :func:`~atomsieve.selectors._greedy.first_points`); ``first=0``
        matches scikit-matter's default.
    min_distance : float, optional
        Stop once the farthest remaining row is closer than this to the picked ones.
    seed : int, optional
        Used only by ``first="random"``.
    progress : callable, optional
        ``progress(done, total, label)``.
    should_stop : callable, optional
        Polled before every pick after the first; True ends the search with the picks so far.

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
    return _farthest_point_sampling(points, n_to_select, first, min_distance, seed, progress, should_stop)


def spread_from_mean(points: np.ndarray) -> np.ndarray:
    """Squared distance of each point from the mean of all: the ``"farthest-from-mean"`` start."""
    centred = points - points.mean(axis=0)
    return np.einsum("ij,ij->i", centred, centred)


class _PrunedDistances(GreedyScore):
    """FPS's score (squared distance to the nearest pick) kept up to date with pruning.

    A point can only come closer to a new pick p when its own nearest pick c lies within twice
    its distance (|x - p| >= |c - p| - |x - c|; squared: |c - p|^2 < 4 |x - c|^2), and only when
    the projected lower bound does not already exceed its distance.
    """

    label = "farthest point sampling"

    def __init__(self, X: np.ndarray, count: int, min_distance: float | None):
        n = len(X)
        self.X = X = X - X.mean(axis=0)  # distances do not change; smaller norms, smaller rounding
        self.sq = sq = np.einsum("ij,ij->i", X, X)
        self.bound = _ProjectedBound.build(X, sq)
        self.d2 = np.full(n, np.inf)
        self.limit = np.full(n, np.inf)  # 4 d2 (+ rounding room): the triangle test's bound per point
        self.slack = 1e-13 * float(sq.max()) + 1e-300  # rounding of the norm-expanded distances
        self.owner = np.zeros(n, dtype=np.int64)  # position (in the picks) of each point's nearest pick
        self.centres = np.empty((count, X.shape[1]))
        self.centre_sq = np.zeros(count)
        self.min_d2 = None if min_distance is None else float(min_distance) ** 2

    def best(self) -> tuple[int, float]:
        p = int(np.argmax(self.d2))
        return p, self.d2[p]

    def stop(self, score: float) -> bool:
        return self.min_d2 is not None and score < self.min_d2

    def update(self, p: int, step: int) -> None:
        X, sq, d2, limit = self.X, self.sq, self.d2, self.limit
        self.centres[step], self.centre_sq[step] = X[p], sq[p]
        idx = None
        if step > 0:
            dc2 = (self.centre_sq[:step] + sq[p]) - 2.0 * (self.centres[:step] @ X[p])
            idx = np.flatnonzero(dc2[self.owner] < limit)
            if len(idx) > 0.6 * len(X):
                idx = None
            if self.bound is not None and self.bound.active:
                idx = self.bound.candidates(idx, p, d2, sq)
        if idx is None:
            new = (sq + sq[p]) - 2.0 * (X @ X[p])
            closer = new < d2
            moved = np.flatnonzero(closer)
        else:
            new = (sq[idx] + sq[p]) - 2.0 * (np.take(X, idx, axis=0) @ X[p])
            closer = new < d2[idx]
            moved = idx[closer]
        d2[moved] = new[closer]
        limit[moved] = 4.0 * (1.0 + 1e-9) * d2[moved] + self.slack
        self.owner[moved] = step
        d2[p] = limit[p] = -np.inf


@one_blas_thread
def _farthest_point_sampling(points, n_to_select, first, min_distance, seed, progress, should_stop):
    X, count = _prepare(points, n_to_select, min_distance)
    initial = first_points(first, len(X), seed, lambda: spread_from_mean(X))
    run = greedy_select(_PrunedDistances(X, count, min_distance), count, initial=initial,
                        progress=progress, should_stop=should_stop)
    return run.order, np.sqrt(np.maximum(run.scores, 0.0))


def farthest_point_sampling_reference(
    points: np.ndarray, n_to_select: int, *, first: FirstPoint = "farthest-from-mean", seed: int | None = 0
) -> np.ndarray:
    """The plain FPS loop (every distance recomputed each step); the engine's test oracle.

    >>> farthest_point_sampling_reference([[0.0], [1.0], [4.0], [10.0]], 3, first=0).tolist()
    [0, 3, 2]
    """
    X = np.asarray(points, dtype=np.float64)
    order = first_points(first, len(X), seed, lambda: spread_from_mean(X))
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
    progress, should_stop : callable, optional
        ``progress(done, total, label)`` and ``should_stop()``, as every selector takes them
        (see :class:`~atomsieve.selectors.base.Selector`).

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
        should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.min_distance = min_distance
        self.first = first
        self.seed = seed
        self.progress = progress
        self.should_stop = should_stop

    def _select(self, features: AtomicFeatures) -> np.ndarray:
        points, candidates = structure_points(features)
        count = None if self.n_to_select is None else resolve_count(self.n_to_select, len(points))
        order, distances = farthest_point_sampling(
            points, count, first=self.first, min_distance=self.min_distance,
            seed=self.seed, progress=self.progress, should_stop=self.should_stop,
        )
        self.distances_ = distances
        return candidates[order]

    def _extra(self) -> dict:
        last = float(self.distances_[-1]) if len(self.distances_) > 1 else float("inf")
        return {"last_distance": last}


class _SizeTurns(GreedyScore):
    """Hierarchical FPS's score: the sizes take turns (skipping spent ones); each turn's pick is the
    structure of that size farthest from all picks (before the first: from the mean)."""

    label = "hierarchical FPS"

    def __init__(self, points: np.ndarray, groups: list[np.ndarray]):
        self.points, self.groups, self.turn = points, groups, 0
        self.d2 = spread_from_mean(points)  # before the first pick: distance to the mean
        self.sq = np.einsum("ij,ij->i", points, points)

    def best(self) -> tuple[int, float]:
        left = self.groups[self.turn][self.d2[self.groups[self.turn]] > -np.inf]
        while left.size == 0:
            self.turn = (self.turn + 1) % len(self.groups)
            left = self.groups[self.turn][self.d2[self.groups[self.turn]] > -np.inf]
        p = int(left[np.argmax(self.d2[left])])
        return p, float(self.d2[p])

    def update(self, p: int, step: int) -> None:
        new = (self.sq + self.sq[p]) - 2.0 * (self.points @ self.points[p])
        self.d2 = new if step == 0 else np.minimum(self.d2, new)
        self.d2[p] = -np.inf
        self.turn = (self.turn + 1) % len(self.groups)


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
    progress, should_stop : callable, optional
        ``progress(done, total, label)`` and ``should_stop()``, as every selector takes them
        (see :class:`~atomsieve.selectors.base.Selector`).

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
        should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.first_size = first_size
        self.progress = progress
        self.should_stop = should_stop

    @one_blas_thread
    def _select(self, features: AtomicFeatures, atom_counts=None) -> np.ndarray:
        """``atom_counts``: the structures' sizes when ``features`` holds one row per structure (their
        mean fingerprints, as a streamed feature store gives them)."""
        if self.first_size not in ("smallest", "largest"):
            raise ParameterError(f"first_size={self.first_size!r}: use 'smallest' or 'largest'")
        points, candidates = structure_points(features)
        count = resolve_count(self.n_to_select, len(points))
        counts = features.atom_counts if atom_counts is None else np.asarray(atom_counts, dtype=np.int64)
        if len(counts) != features.n_structures:
            raise ParameterError(
                f"atom_counts has {len(counts)} entries for {features.n_structures} structures")
        sizes = counts[candidates]
        distinct = np.unique(sizes)
        start = 0 if self.first_size == "smallest" else len(distinct) - 1
        level_one, _ = farthest_point_sampling(distinct[:, None].astype(float), len(distinct), first=start)
        self.size_order_ = distinct[level_one]
        groups = [np.flatnonzero(sizes == s) for s in self.size_order_]
        run = greedy_select(_SizeTurns(points, groups), count, progress=self.progress,
                            should_stop=self.should_stop)
        return candidates[run.order]
