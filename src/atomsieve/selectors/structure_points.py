"""Structure-level points for the comparison selectors: one row per structure."""

from __future__ import annotations

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
    check_finite(features.values, "features.values")
    candidates = np.flatnonzero(features.atom_counts > 0)
    return features.structure_means()[candidates], candidates
