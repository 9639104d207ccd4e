"""The trained ensemble as an ASE calculator, reporting per-atom uncertainty alongside forces."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes


class EnsembleCalculator(Calculator):
    """ASE calculator of an :class:`~atomsieve.active.model.NFTEnsemble` (ensemble means).

    ``results`` hold ``energy`` and ``free_energy`` (eV), ``forces`` (eV/Å), the per-atom
    ``force_uncertainty`` δ_i = 2.58 σ_f (eV/Å) and ``uncertainty``, their maximum (the structure
    uncertainty, eV/Å): the same keys with the same meaning as
    :class:`atomsieve.potentials.AtomsieveCalculator` of an ensemble. Read them with
    ``atoms.calc.results["force_uncertainty"]`` after a force call.
    """

    implemented_properties = ["energy", "free_energy", "forces", "force_uncertainty", "uncertainty"]

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.model.predict(self.atoms, cache=False)
        delta = out["delta"]
        self.results = {"energy": out["energy"], "free_energy": out["energy"], "forces": out["forces"],
                        "force_uncertainty": delta, "uncertainty": float(delta.max()) if len(delta) else 0.0}
