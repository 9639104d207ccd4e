"""Structure-level points for the comparison selectors: one row per structure."""

from __future__ import annotations

import functools

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError


def check_finite(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as float64, or a :class:`ParameterError` naming the first NaN/inf row."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))[0])
        raise ParameterError(
            f"{what} contains NaN or infinity (first at row {row}); remove or repair those rows"
        )
    return values


def one_blas_thread(func):
    """Run ``func`` with one BLAS/LAPACK thread.

    The selectors' products and decompositions are small or matrix-vector sized: one thread is
    as fast on an idle machine and avoids the many-fold slow-down of contended BLAS threads on a
    busy one (measured: a 228 x 40 SVD takes 7x longer with two contended threads).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def structure_points(features: AtomicFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Mean fingerprint of every structure that has atoms, and those structures' indices.

    Returns
    -------
    points : ndarray of shape (n_candidates, n_features)
        Mean of each structure's per-atom fingerprints.
    candidates : ndarray of int
        Structure index of each row of ``points`` (structures without atoms are left out).

    Examples
    --------
    >>> import numpy as np
    >>> f = AtomicFeatures(values=[[0.0], [2.0], [5.0]], species=[1, 1, 1], structure=[0, 0, 2])
    >>> points, candidates = structure_points(f)
    >>> points.ravel().tolist(), candidates.tolist()
    ([1.0, 5.0], [0, 2])
    """
    values = check_finite(features.values, "features.values")
    counts = features.atom_counts
    candidates = np.flatnonzero(counts > 0)
    order = np.argsort(features.structure, kind="stable")
    starts = (np.cumsum(counts) - counts)[candidates]
    sums = np.add.reduceat(values[order], starts, axis=0)
    return sums / counts[candidates, None], candidates
