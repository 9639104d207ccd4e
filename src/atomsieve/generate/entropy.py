"""Nearest-neighbour entropy of a cloud of descriptor vectors, differentiable in torch.

Karabin & Perez (J. Chem. Phys. 153, 094110 (2020)) bias dynamics by the entropy of the
distribution of the atoms' descriptor vectors q_1..q_N, estimated from nearest-neighbour
distances (a Kozachenko–Leonenko estimator without its constants):

    S = (1/N) Σ_j ln(N · min_{l≠j} |q_j − q_l|).

:func:`kozachenko_leonenko_entropy` is the full estimator, with the dimension and the
constants that make it converge to the differential entropy (nats) of the sampled density.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from atomsieve.errors import ParameterError

#: Smallest nearest-neighbour distance used inside the logarithm, so two identical descriptor
#: vectors give a large finite penalty instead of −inf (and finite gradients).
MIN_DISTANCE = 1e-8


def _as_points(q) -> torch.Tensor:
    points = q if isinstance(q, torch.Tensor) else torch.as_tensor(np.asarray(q, dtype=np.float64))
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2:
        raise ParameterError(
            f"descriptor vectors must be 2-D (n_points, n_features); got shape {tuple(points.shape)}")
    if points.shape[0] < 2:
        raise ParameterError(f"the nearest-neighbour entropy needs at least 2 points; got {points.shape[0]}")
    return points


def nearest_neighbour_distances(q) -> torch.Tensor:
    """Euclidean distance from each row of ``q`` to its nearest other row, shape (N,).

    Differentiable; the gradient of each distance flows to the pair that attains it.

    >>> nearest_neighbour_distances([[0.0], [1.0], [3.0]]).tolist()
    [1.0, 1.0, 2.0]
    """
    points = _as_points(q)
    squared = (points[:, None, :] - points[None, :, :]).pow(2).sum(-1)
    eye = torch.eye(len(points), dtype=torch.bool, device=points.device)
    squared = squared.masked_fill(eye, math.inf)
    nearest = squared.min(dim=1).values
    return nearest.clamp_min(MIN_DISTANCE**2).sqrt()


def nearest_neighbour_entropy(q) -> torch.Tensor:
    """The paper's S = (1/N) Σ_j ln(N · δ_j), δ_j the nearest-neighbour distance of row j.

    Parameters
    ----------
    q : tensor or array of shape (N, F)
        Descriptor vectors (rescaled to order one), one row per atom.

    Returns
    -------
    torch.Tensor
        A 0-d tensor (dimensionless), differentiable with respect to ``q``.

    Examples
    --------
    >>> round(float(nearest_neighbour_entropy([[0.0], [1.0], [3.0]])), 6)  # (2 ln 3 + ln 6) / 3
    1.329661
    """
    distances = nearest_neighbour_distances(q)
    return torch.log(len(distances) * distances).mean()


def unit_ball_log_volume(dimension: int) -> float:
    """ln of the volume of the unit ball in ``dimension`` dimensions.

    >>> round(math.exp(unit_ball_log_volume(3)), 6) == round(4 / 3 * math.pi, 6)
    True
    """
    return dimension / 2 * math.log(math.pi) - math.lgamma(dimension / 2 + 1)


def kozachenko_leonenko_entropy(x) -> float:
    """Kozachenko–Leonenko estimate of the differential entropy (nats) of the density sampled by ``x``.

    H = d·mean_j ln δ_j + ln V_d + γ + ln(N − 1), with δ_j the nearest-neighbour distance,
    V_d the unit-ball volume and γ Euler's constant. It relates to the paper's biasing entropy
    by H = d·S − d·ln N + ln V_d + γ + ln(N − 1); for d = 1 the two differ by a constant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> h = kozachenko_leonenko_entropy(rng.normal(size=(3000, 3)))
    >>> abs(h - 1.5 * math.log(2 * math.pi * math.e)) < 0.1  # a standard normal in 3-D: 4.257 nats
    True
    """
    points = _as_points(x).detach().double()
    n, d = points.shape
    distances = nearest_neighbour_distances(points)
    euler_gamma = 0.5772156649015329
    return float(d * torch.log(distances).mean() + unit_ball_log_volume(d) + euler_gamma + math.log(n - 1))
