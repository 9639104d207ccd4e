"""The trained ensemble as an ASE calculator, reporting per-atom uncertainty alongside forces."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes


class EnsembleCalculator(Calculator):
    """ASE calculator of an :class:`~atomsieve.active.model.EnsembleModel` (ensemble means).

    ``results`` hold ``energy`` and ``free_energy`` (eV), ``forces`` (eV/Å), and the per-atom
    ``uncertainty`` δ_i = 2.58 σ_f (eV/Å), whose maximum is the structure uncertainty; read them
    with ``atoms.calc.results["uncertainty"]`` after a force call.
    """

    implemented_properties = ["energy", "free_energy", "forces", "uncertainty"]

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.model.predict(self.atoms, cache=False)
        self.results = {"energy": out["energy"], "free_energy": out["energy"], "forces": out["forces"],
                        "uncertainty": out["delta"]}
