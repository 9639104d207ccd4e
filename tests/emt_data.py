"""Small labelled datasets the tests share: EMT-labelled Cu (and Cu/Au) icosahedra (eV, eV/Å)."""

from __future__ import annotations

import numpy as np
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from atomsieve import Dataset


def emt_clusters(n: int, seed: int = 0, gold: float = 0.0) -> Dataset:
    """Rattled Cu13 icosahedra (a share ``gold`` of atoms turned into Au), labelled by EMT."""
    rng = np.random.default_rng(seed)
    frames, energies, forces = [], [], []
    for _ in range(n):
        atoms = Icosahedron("Cu", 2, latticeconstant=3.6 * (1 + 0.04 * rng.standard_normal()))
        if gold:
            symbols = np.array(atoms.get_chemical_symbols())
            symbols[rng.random(len(atoms)) < gold] = "Au"
            symbols[0] = "Au"
            atoms.set_chemical_symbols(symbols.tolist())
        atoms.rattle(0.05 + 0.1 * rng.random(), seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        atoms.calc = None
        frames.append(atoms)
    return Dataset(frames, energies=energies, forces=np.concatenate(forces))
