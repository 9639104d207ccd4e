"""Born–Mayer–Huggins–Tosi–Fumi potential for NaCl as an ASE calculator.

The pair energy of ions *i*, *j* at distance *r* (Å) is

.. math::

    \\phi_{ij}(r) = \\frac{k_e q_i q_j}{r} + A_{ij} e^{(\\sigma_{ij} - r)/\\rho}
                   - \\frac{C_{ij}}{r^6} - \\frac{D_{ij}}{r^8}

with formal charges q(Na) = +1, q(Cl) = −1 and :math:`k_e = e^2/4\\pi\\varepsilon_0 = 14.3996` eV Å.

Parameters (:data:`TOSI_FUMI_NACL_CGS`, in the units of the papers):

- F. G. Fumi and M. P. Tosi, "Ionic sizes and Born repulsive parameters in the NaCl-type alkali
  halides—I", J. Phys. Chem. Solids 25, 31 (1964): repulsion ``A_ij = b c_ij`` with
  ``b = 0.338e-12 erg`` (= 0.2110 eV), Pauling factors ``c_ij = 1 + z_i/n_i + z_j/n_j`` (n = 8 outer
  electrons for Na⁺ and Cl⁻: c₊₊ = 1.25, c₊₋ = 1, c₋₋ = 0.75), hardness ``ρ = 0.317 Å`` for NaCl and
  basic radii ``σ(Na⁺) = 1.170 Å``, ``σ(Cl⁻) = 1.585 Å`` (``σ_ij = σ_i + σ_j``);
- M. P. Tosi and F. G. Fumi, "… —II The generalized Huggins-Mayer form", J. Phys. Chem. Solids 25, 45
  (1964), with the van der Waals coefficients of J. E. Mayer, J. Chem. Phys. 1, 270 (1933):
  ``C`` (10⁻⁶⁰ erg cm⁶) = 1.68 (Na–Na), 11.2 (Na–Cl), 116 (Cl–Cl) and ``D`` (10⁻⁷⁶ erg cm⁸) = 0.8,
  13.9, 233.

In eV and Å these are the values tabulated by Anwar, Frenkel & Noro, J. Chem. Phys. 118, 728 (2003):
A = 0.2637, 0.2110, 0.1582 eV; C = 1.0486, 6.9906, 72.40 eV Å⁶; D = 0.4993, 8.676, 145.4 eV Å⁸.

Long-range Coulomb is summed with the damped shifted force (DSF) method of C. J. Fennell and
J. D. Gezelter, J. Chem. Phys. 124, 234104 (2006), eq. 19, including its self term; energy and force go
smoothly to zero at the cutoff, so NVE runs conserve energy. The short-range Born–Mayer–Huggins part is
shifted the same way (energy and force zero at the cutoff). Like every Born–Mayer–Huggins model, the
potential turns over below about 1 Å (the −D/r⁸ term wins); barriers are several eV, far above k_B T
of a 2200 K melt.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import _e, _eps0
from scipy.special import erfc

from atomsieve.builders.pairs import pairs_within
from atomsieve.errors import ParameterError

#: e²/(4π ε₀) in eV Å.
COULOMB_CONSTANT = _e * 1e10 / (4 * math.pi * _eps0)
_ERG = 1e-7 / _e  # 1 erg in eV

#: The Tosi–Fumi (1964) NaCl parameters in the units of the papers (see the module docstring).
TOSI_FUMI_NACL_CGS = {
    "b_erg": 0.338e-12,
    "rho_angstrom": 0.317,
    "basic_radius_angstrom": {"Na": 1.170, "Cl": 1.585},
    "valence": {"Na": 1, "Cl": -1},
    "outer_electrons": {"Na": 8, "Cl": 8},
    "C_1e-60_erg_cm6": {("Na", "Na"): 1.68, ("Na", "Cl"): 11.2, ("Cl", "Cl"): 116.0},
    "D_1e-76_erg_cm8": {("Na", "Na"): 0.8, ("Na", "Cl"): 13.9, ("Cl", "Cl"): 233.0},
}


def tosi_fumi_nacl_parameters() -> dict[tuple[str, str], dict[str, float]]:
    """Pair parameters ``A`` (eV), ``rho`` (Å), ``sigma`` (Å), ``C`` (eV Å⁶), ``D`` (eV Å⁸).

    Converted from :data:`TOSI_FUMI_NACL_CGS`; keys are ``("Na", "Na")``, ``("Na", "Cl")``,
    ``("Cl", "Cl")``.

    >>> p = tosi_fumi_nacl_parameters()
    >>> round(p["Na", "Cl"]["A"], 4), round(p["Cl", "Cl"]["C"], 2), p["Na", "Na"]["sigma"]
    (0.211, 72.4, 2.34)
    """
    cgs = TOSI_FUMI_NACL_CGS
    b = cgs["b_erg"] * _ERG
    out = {}
    for pair in cgs["C_1e-60_erg_cm6"]:
        i, j = pair
        pauling = 1 + sum(cgs["valence"][s] / cgs["outer_electrons"][s] for s in pair)
        out[pair] = {
            "A": b * pauling,
            "rho": cgs["rho_angstrom"],
            "sigma": round(cgs["basic_radius_angstrom"][i] + cgs["basic_radius_angstrom"][j], 6),
            # 1e-60 erg cm^6 = 1e-60 erg * 1e48 Å^6; 1e-76 erg cm^8 = 1e-76 erg * 1e64 Å^8
            "C": cgs["C_1e-60_erg_cm6"][pair] * 1e-60 * 1e48 * _ERG,
            "D": cgs["D_1e-76_erg_cm8"][pair] * 1e-76 * 1e64 * _ERG,
        }
    return out


class TosiFumi(Calculator):
    """Born–Mayer–Huggins–Tosi–Fumi NaCl with damped-shifted-force Coulomb.

    Parameters
    ----------
    cutoff : float
        Cutoff radius in Å for both the Coulomb (DSF) and short-range parts (default 10).
    alpha : float
        DSF damping parameter in 1/Å (default 0.25; Fennell & Gezelter recommend 0.2–0.25 for
        9–12 Å cutoffs). With the defaults the Madelung energy of rock salt is within 0.15 %.

    Notes
    -----
    Results: ``energy`` and ``free_energy`` (eV), ``energies`` (per atom, eV; they sum to the
    energy), ``forces`` (eV/Å) and, for 3-D periodic cells, ``stress`` (eV/Å³). Only Na and Cl are
    accepted; the cell need not be neutral, but melts and crystals built here always are.

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("NaCl", "rocksalt", a=5.64)
    >>> atoms.calc = TosiFumi()
    >>> round(atoms.get_potential_energy(), 2)  # eV per NaCl pair; experiment about -8.2
    -8.04
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    default_parameters = {"cutoff": 10.0, "alpha": 0.25}
    nolabel = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.parameters.cutoff <= 0 or self.parameters.alpha < 0:
            raise ParameterError(
                f"TosiFumi needs cutoff > 0 Å and alpha >= 0 1/Å; got cutoff={self.parameters.cutoff}, "
                f"alpha={self.parameters.alpha}"
            )
        params = tosi_fumi_nacl_parameters()
        self._species = {11: 0, 17: 1}
        self._charges = np.array([1.0, -1.0])
        table = np.zeros((5, 2, 2))
        for (a, b), p in params.items():
            ia, ib = (0 if s == "Na" else 1 for s in (a, b))
            for k, name in enumerate(("A", "rho", "sigma", "C", "D")):
                table[k, ia, ib] = table[k, ib, ia] = p[name]
        self._table = table

    def _short_range(self, r: np.ndarray, si: np.ndarray, sj: np.ndarray):
        """Born–Mayer–Huggins pair energy and its derivative d/dr (eV, eV/Å), unshifted."""
        A, rho, sigma, C, D = (t[si, sj] for t in self._table)
        rep = A * np.exp((sigma - r) / rho)
        energy = rep - C / r**6 - D / r**8
        deriv = -rep / rho + 6 * C / r**7 + 8 * D / r**9
        return energy, deriv

    def _coulomb_kernel(self, r: np.ndarray):
        """erfc(αr)/r and its derivative d/dr."""
        alpha = self.parameters.alpha
        value = erfc(alpha * r) / r
        deriv = -value / r - 2 * alpha / math.sqrt(math.pi) * np.exp(-((alpha * r) ** 2)) / r
        return value, deriv

    def calculate(self, atoms: Atoms | None = None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties or self.implemented_properties, system_changes)
        atoms = self.atoms
        unknown = sorted(set(atoms.get_chemical_symbols()) - {"Na", "Cl"})
        if unknown:
            raise ParameterError(
                f"TosiFumi knows only Na and Cl; the structure also has {', '.join(unknown)}"
            )
        rc = float(self.parameters.cutoff)
        n = len(atoms)
        species = np.where(atoms.numbers == 11, 0, 1)
        charges = self._charges[species]
        i, j, r, vec = pairs_within(atoms, rc)  # vec points from i to j; each pair twice
        si, sj = species[i], species[j]
        qq = COULOMB_CONSTANT * charges[i] * charges[j]

        rc_arr = np.array([rc])
        kc, dkc = (x[0] for x in self._coulomb_kernel(rc_arr))
        k, dk = self._coulomb_kernel(r)
        pair_energy = qq * (k - kc - (r - rc) * dkc)
        pair_deriv = qq * (dk - dkc)

        sr, dsr = self._short_range(r, si, sj)
        both = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
        at_cutoff = [v.reshape(2, 2) for v in self._short_range(np.full(4, rc), *both)]  # per species pair
        sr_c, dsr_c = at_cutoff[0][si, sj], at_cutoff[1][si, sj]
        pair_energy += sr - sr_c - (r - rc) * dsr_c
        pair_deriv += dsr - dsr_c

        alpha = self.parameters.alpha
        self_energy = -COULOMB_CONSTANT * charges**2 * (kc / 2 + alpha / math.sqrt(math.pi))
        energies = 0.5 * np.bincount(i, weights=pair_energy, minlength=n) + self_energy
        # F_i = -dE/dx_i = sum_j phi'(r_ij) (x_j - x_i) / r_ij over directed pairs with first index i
        pair_force = (pair_deriv / r)[:, None] * vec
        forces = np.zeros((n, 3))
        for axis in range(3):
            forces[:, axis] = np.bincount(i, weights=pair_force[:, axis], minlength=n)

        energy = float(energies.sum())
        self.results.update(energy=energy, free_energy=energy, energies=energies, forces=forces)
        if atoms.cell.rank == 3 and atoms.pbc.all():
            virial = 0.5 * (pair_force.T @ vec)  # sum over directed pairs of phi'(r)/r D D^T, halved
            self.results["stress"] = full_3x3_to_voigt_6_stress(virial / atoms.get_volume())
