"""The effective potential V = E_repulsive − K·S({q}) and an ASE calculator for it.

K (eV) is the bias strength; S is the nearest-neighbour entropy of the atoms' scaled descriptor
vectors (:mod:`atomsieve.generate.entropy`). Forces are −∂V/∂r by autograd through the
descriptors. Energies in eV, positions in Å, forces in eV/Å.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from atomsieve.generate.descriptor import ConfigurationDescriptor
from atomsieve.generate.entropy import nearest_neighbour_entropy
from atomsieve.generate.repulsive import RepulsivePotential


class Evaluation(NamedTuple):
    """One evaluation of the effective potential."""

    energy: float
    """V = E_repulsive − K·S, eV."""
    repulsive_energy: float
    """E_repulsive, eV."""
    entropy: float
    """S (dimensionless); NaN when it was not asked for."""
    forces: np.ndarray
    """−∂V/∂r, shape (A, 3), eV/Å."""


class EntropyBiasedPotential:
    """V = E_repulsive − K·S for one periodic configuration.

    Parameters
    ----------
    descriptor : ConfigurationDescriptor
        Scaled descriptor vectors of the atoms (it carries the cell).
    repulsive : RepulsivePotential, optional
        The short-range wall; the paper's by default.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.generate.descriptor import default_symmetry_functions
    >>> cell = np.eye(3) * 8.0
    >>> d = ConfigurationDescriptor(default_symmetry_functions("W"), [74] * 3, cell)
    >>> pot = EntropyBiasedPotential(d)
    >>> e = pot.evaluate(np.array([[0.0, 0, 0], [2.5, 0, 0], [0, 3.0, 0]]), bias_strength=10.0)
    >>> e.forces.shape, round(e.energy - (e.repulsive_energy - 10.0 * e.entropy), 12)
    ((3, 3), 0.0)
    """

    def __init__(self, descriptor: ConfigurationDescriptor, repulsive: RepulsivePotential | None = None):
        self.descriptor = descriptor
        self.repulsive = RepulsivePotential() if repulsive is None else repulsive
        self.cell = descriptor.cell[0]

    def entropy(self, positions: np.ndarray) -> float:
        """S of a configuration (no gradient)."""
        with torch.no_grad():
            q = self.descriptor(torch.as_tensor(positions, dtype=torch.float64))
            return float(nearest_neighbour_entropy(q))

    def evaluate(self, positions: np.ndarray, bias_strength: float, *,
                 with_entropy: bool = True) -> Evaluation:
        """V, its parts and the forces at ``positions`` (A, 3) Å for bias strength K (eV).

        With K = 0 the descriptors are only computed when ``with_entropy`` is True.
        """
        positions = np.asarray(positions, dtype=np.float64)
        if bias_strength == 0:
            e_rep, forces = self.repulsive.energy_and_forces(positions, self.cell.numpy())
            entropy = self.entropy(positions) if with_entropy else float("nan")
            return Evaluation(e_rep, e_rep, entropy, forces)
        x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
        e_rep = self.repulsive.energy(x, self.cell)
        s = nearest_neighbour_entropy(self.descriptor(x))
        v = e_rep - bias_strength * s
        (grad,) = torch.autograd.grad(v, x)
        return Evaluation(float(v.detach()), float(e_rep.detach()), float(s.detach()), -grad.numpy())


class EntropyBiasCalculator(Calculator):
    """ASE calculator of V = E_repulsive − K·S (energy in eV, forces in eV/Å).

    Parameters
    ----------
    potential : EntropyBiasedPotential
        Built for the atoms' cell and atomic numbers.
    bias_strength : float
        K in eV; change it with ``calc.set(bias_strength=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ase import Atoms
    >>> from atomsieve.generate.descriptor import default_symmetry_functions
    >>> atoms = Atoms("W3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 3, 0]], cell=np.eye(3) * 8, pbc=True)
    >>> d = ConfigurationDescriptor(default_symmetry_functions("W"), atoms.numbers, atoms.cell)
    >>> atoms.calc = EntropyBiasCalculator(EntropyBiasedPotential(d), bias_strength=5.0)
    >>> atoms.get_forces().shape
    (3, 3)
    """

    implemented_properties = ["energy", "forces"]
    default_parameters = {"bias_strength": 0.0}

    def __init__(self, potential: EntropyBiasedPotential, bias_strength: float = 0.0, **kwargs):
        super().__init__(bias_strength=bias_strength, **kwargs)
        self.potential = potential

    def set(self, **kwargs):
        changed = super().set(**kwargs)
        if changed:  # a new K changes every result
            self.reset()
        return changed

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        result = self.potential.evaluate(self.atoms.positions, float(self.parameters.bias_strength))
        self.results = {"energy": result.energy, "free_energy": result.energy, "forces": result.forces}
