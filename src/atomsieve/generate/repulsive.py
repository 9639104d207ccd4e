"""The short-range repulsion that keeps entropy-driven atoms apart, and minimum-image pair geometry.

Karabin & Perez (J. Chem. Phys. 153, 094110 (2020)) use a Mie (n, m) pair potential
truncated just past its minimum and shifted to zero there, so only its repulsive wall acts:

    E_rep = Σ_i Σ_{j≠i} φ(r_ij),
    φ(r) = E0/(n−m) [m (r0/r)^n − n (r0/r)^m] − φ_mie(r_cut)   for r < r_cut, else 0.

The double sum is taken as written in the paper: every pair is counted twice (once from each
atom), so a pair at distance r costs 2 φ(r). Energies in eV, distances in Å, forces in eV/Å.
"""

from __future__ import annotations

import numpy as np
import torch

from atomsieve.errors import ParameterError


def perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    """Distances (Å) between opposite faces of a cell, shape (3,).

    >>> perpendicular_widths(np.diag([2.0, 3.0, 4.0])).round(6).tolist()
    [2.0, 3.0, 4.0]
    """
    cell = np.asarray(cell, dtype=np.float64)
    volume = abs(np.linalg.det(cell))
    areas = [np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return volume / np.array(areas)


def check_minimum_image(cell: np.ndarray, r_cut: float, what: str = "r_cut") -> None:
    """Raise :class:`ParameterError` unless ``r_cut`` is below half of every cell width.

    The minimum-image convention used here sees each neighbour once only under that condition.
    """
    widths = perpendicular_widths(cell)
    if not np.all(np.isfinite(widths)) or widths.min() <= 0:
        raise ParameterError(f"cell {np.asarray(cell).tolist()} is degenerate; "
                             "give three independent vectors (Å)")
    if r_cut >= widths.min() / 2:
        raise ParameterError(
            f"{what}={r_cut} Å is not below half the smallest cell width ({widths.min() / 2:.3f} Å); "
            "use a larger cell or a shorter cutoff"
        )


def minimum_image_vectors(positions: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Displacements r_j − r_i under the minimum-image convention, shape (A, A, 3).

    Exact for pairs closer than half the smallest cell width (see :func:`check_minimum_image`).
    Differentiable with respect to ``positions``.

    >>> import torch
    >>> cell = torch.eye(3, dtype=torch.float64) * 10
    >>> pos = torch.tensor([[0.5, 0, 0], [9.5, 0, 0]], dtype=torch.float64)
    >>> [round(x, 6) for x in minimum_image_vectors(pos, cell)[0, 1].tolist()]
    [-1.0, 0.0, 0.0]
    """
    diff = positions[None, :, :] - positions[:, None, :]
    inverse = torch.linalg.inv(cell)
    frac = diff @ inverse
    frac = frac - torch.round(frac.detach())
    return frac @ cell


def mie(r, e0: float, n: int, m: int, r0: float):
    """The untruncated Mie (n, m) pair energy in eV (works on floats, numpy arrays and tensors)."""
    return e0 / (n - m) * (m * (r0 / r) ** n - n * (r0 / r) ** m)


class RepulsivePotential:
    """Truncated and shifted Mie (n, m) repulsion; the paper's values by default.

    Parameters
    ----------
    e0 : float
        Well depth E0 in eV (paper: 1 eV).
    n, m : int
        Repulsive and attractive exponents, n > m (paper: 8 and 4).
    r0 : float
        Position of the Mie minimum in Å (paper: 2.7 Å).
    r_cut : float
        Truncation radius in Å, at least ``r0`` (paper: 2.71 Å); the pair energy is
        shifted to zero there, so beyond ``r0`` it is nearly flat and only the wall acts.

    Examples
    --------
    >>> import numpy as np
    >>> pot = RepulsivePotential()
    >>> energy, forces = pot.energy_and_forces(np.array([[0, 0, 0], [2.0, 0, 0]]), np.eye(3) * 10)
    >>> round(energy, 4), round(float(forces[1, 0]), 3)
    (10.7784, 61.687)
    >>> pot.energy_and_forces(np.array([[0, 0, 0], [3.0, 0, 0]]), np.eye(3) * 10)[0]
    0.0
    """

    def __init__(self, e0: float = 1.0, n: int = 8, m: int = 4, r0: float = 2.7, r_cut: float = 2.71):
        self.e0 = e0
        self.n = n
        self.m = m
        self.r0 = r0
        self.r_cut = r_cut
        self._validate()

    def _validate(self) -> None:
        if not (self.e0 >= 0 and np.isfinite(self.e0)):
            raise ParameterError(f"e0={self.e0}: the well depth must be a finite energy ≥ 0 eV")
        if not (self.n > self.m > 0):
            raise ParameterError(f"exponents n={self.n}, m={self.m}: need n > m > 0 (paper: 8, 4)")
        if not (self.r0 > 0 and self.r_cut >= self.r0):
            raise ParameterError(f"r0={self.r0}, r_cut={self.r_cut}: need 0 < r0 ≤ r_cut (Å)")

    @property
    def shift(self) -> float:
        """φ_mie(r_cut) in eV, subtracted so the pair energy is zero at the cutoff."""
        return float(mie(self.r_cut, self.e0, self.n, self.m, self.r0))

    def pair_energy(self, r):
        """φ(r) in eV for pair distances ``r`` (Å) below the cutoff (tensor or array)."""
        return mie(r, self.e0, self.n, self.m, self.r0) - self.shift

    def energy(self, positions: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Total repulsive energy in eV (a 0-d tensor, differentiable in ``positions``)."""
        vectors = minimum_image_vectors(positions, cell)
        a = len(positions)
        upper = torch.triu(torch.ones(a, a, dtype=torch.bool, device=positions.device), diagonal=1)
        distances = vectors[upper].norm(dim=-1)
        close = distances < self.r_cut
        if not bool(close.any()):
            return positions.sum() * 0.0
        return 2.0 * self.pair_energy(distances[close]).sum()

    def energy_and_forces(self, positions: np.ndarray, cell: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and analytic forces (eV/Å, shape (A, 3)) in numpy, without autograd."""
        positions = np.asarray(positions, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64)
        diff = positions[None, :, :] - positions[:, None, :]
        frac = diff @ np.linalg.inv(cell)
        vectors = (frac - np.round(frac)) @ cell
        r = np.linalg.norm(vectors, axis=-1)
        np.fill_diagonal(r, np.inf)
        close = r < self.r_cut
        rc = np.where(close, r, 1.0)
        energy = float(np.where(close, self.pair_energy(rc), 0.0).sum())
        # dφ/dr = E0 n m /((n−m) r) [(r0/r)^m − (r0/r)^n]
        x = self.r0 / rc
        prefactor = self.e0 * self.n * self.m / (self.n - self.m)
        dphi = np.where(close, prefactor / rc * (x**self.m - x**self.n), 0.0)
        # F_i = 2 Σ_j dφ/dr (r_j − r_i)/r  (each pair appears twice in the double sum)
        forces = 2.0 * ((dphi / rc)[:, :, None] * vectors).sum(axis=1)
        return energy, forces
