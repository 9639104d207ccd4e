"""Selection by agglomerative clustering: one structure from each of n clusters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import structure_points

LINKAGES = ("ward", "complete", "average", "single")


class AgglomerativeSelection(Selector):
    """Cluster the structures' mean fingerprints into ``n_to_select`` clusters, keep one of each.

    Clustering is scikit-learn's :class:`~sklearn.cluster.AgglomerativeClustering`
    (memory grows with the square of the number of structures: fine up to ~20,000).
    From each cluster one member is kept: a random one drawn with ``seed`` (the default),
    or the one nearest the cluster's centroid (``member="centroid"``). Clusters are
    visited from the largest to the smallest, which is the selection order.

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
        Number of clusters, hence structures.
    linkage : {"ward", "complete", "average", "single"}
    member : {"random", "centroid"}
    seed : int
        Seed for the random member of each cluster.
    progress, should_stop : callable, optional
        Taken as every selector takes them (see :class:`~atomsieve.selectors.base.Selector`); this
        selection is one step, with nothing to report or poll.

    Attributes
    ----------
    labels_ : ndarray of int
        Cluster of every structure (-1 for structures without atoms).

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0], [0.1], [5.0], [5.2], [9.0]], species=[1] * 5,
    ...                    structure=[0, 1, 2, 3, 4])
    >>> sel = AgglomerativeSelection(3, seed=0).fit(f)
    >>> sorted(sel.labels_[sel.selected_].tolist()) == [0, 1, 2], len(set(sel.selected_.tolist()))
    (True, 3)
    """

    name = "cluster"

    def __init__(
        self, n_to_select: int | float, *, linkage: str = "ward", member: str = "random",
        seed: int | None = 0, progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.linkage = linkage
        self.member = member
        self.seed = seed
        self.progress = progress
        self.should_stop = should_stop

    def _select(self, features: AtomicFeatures) -> np.ndarray:
        from sklearn.cluster import AgglomerativeClustering

        if self.linkage not in LINKAGES:
            raise ParameterError(f"linkage={self.linkage!r}: use one of {', '.join(LINKAGES)}")
        if self.member not in ("random", "centroid"):
            raise ParameterError(f"member={self.member!r}: use 'random' or 'centroid'")
        points, candidates = structure_points(features)
        count = resolve_count(self.n_to_select, len(points))
        if count == 1:
            labels = np.zeros(len(points), dtype=np.int64)
        else:
            labels = AgglomerativeClustering(n_clusters=count, linkage=self.linkage).fit_predict(points)
        self.labels_ = np.full(features.n_structures, -1, dtype=np.int64)
        self.labels_[candidates] = labels
        rng = np.random.default_rng(self.seed)
        sizes = np.bincount(labels, minlength=count)
        picked = []
        for cluster in np.argsort(-sizes, kind="stable"):
            members = np.flatnonzero(labels == cluster)
            if self.member == "random":
                picked.append(members[rng.integers(len(members))])
            else:
                centred = points[members] - points[members].mean(axis=0)
                picked.append(members[np.argmin(np.einsum("ij,ij->i", centred, centred))])
        return candidates[np.array(picked, dtype=np.int64)]
