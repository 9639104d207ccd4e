"""An ASE calculator for any atomsieve potential (linear, BPNN or ensemble)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

if TYPE_CHECKING:  # the calculator only calls a Potential's methods; potential.py imports this module
    from atomsieve.potentials.potential import Potential


class AtomsieveCalculator(Calculator):
    """ASE calculator: energy (eV), forces (eV/Å) and per-atom energies (eV).

    For an ensemble the results also hold ``force_uncertainty`` (δ_i per atom, eV/Å, see
    :mod:`atomsieve.potentials.ensemble`) and ``uncertainty`` (max δ_i), e.g.
    ``calc.get_property("force_uncertainty", atoms)``; other models do not provide them.

    Parameters
    ----------
    potential : Potential
        A fitted potential (see :func:`atomsieve.potentials.fit_potential`).

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.descriptors import preset
    >>> from atomsieve.potentials import LinearModel, fit_potential
    >>> ds = load_default("test").subset([0, 1])
    >>> calc = fit_potential(ds, LinearModel(), preset(None, ["Ge"], r_cut=3.0)).calculator()
    >>> atoms = ds.atoms[0].copy()
    >>> atoms.calc = calc
    >>> atoms.get_forces().shape
    (63, 3)
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "force_uncertainty",
                              "uncertainty"]

    def __init__(self, potential: Potential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not {"forces", "force_uncertainty", "uncertainty"} & set(properties):
            # Energies need the fingerprints only, not their derivatives.
            energies = self.potential.atomic_energies_only(self.atoms)
            self.results["energies"] = energies
            self.results["energy"] = self.results["free_energy"] = float(energies.sum())
            return
        data = self.potential.prepare(self.atoms)
        model = self.potential.model
        if hasattr(model, "predict_uncertainty"):
            out = model.predict_uncertainty(data)
            energies, forces = out["energies"], out["forces"]
            self.results["force_uncertainty"] = out["delta"]
            self.results["uncertainty"] = float(out["delta"].max()) if len(out["delta"]) else 0.0
        else:
            energies, forces = model.predict(data)
        self.results["energy"] = float(energies[0])
        self.results["free_energy"] = float(energies[0])
        self.results["forces"] = np.asarray(forces, dtype=np.float64)
        self.results["energies"] = np.asarray(model.atomic_energies(data), dtype=np.float64)

