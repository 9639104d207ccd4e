"""Random selection of structures: the baseline every method must beat."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite


class RandomSelection(Selector):
    """Structures drawn uniformly at random without replacement.

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
        Structures to pick.
    seed : int
        Seed of the generator; the same seed gives the same selection.
    progress, should_stop : callable, optional
        Taken as every selector takes them (see :class:`~atomsieve.selectors.base.Selector`); this
        selection is one step, with nothing to report or poll.

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0]] * 5, species=[1] * 5, structure=[0, 1, 2, 3, 4])
    >>> a = RandomSelection(3, seed=7).fit(f).selected_
    >>> b = RandomSelection(3, seed=7).fit(f).selected_
    >>> len(a), a.tolist() == b.tolist()
    (3, True)
    """

    name = "random"

    def __init__(self, n_to_select: int | float, *, seed: int | None = 0,
                 progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None):
        self.n_to_select = n_to_select
        self.seed = seed
        self.progress = progress
        self.should_stop = should_stop

    def _select(self, features: AtomicFeatures) -> np.ndarray:
        check_finite(features.values, "features.values")
        candidates = np.flatnonzero(features.atom_counts > 0)
        count = resolve_count(self.n_to_select, len(candidates))
        return np.random.default_rng(self.seed).permutation(candidates)[:count]
