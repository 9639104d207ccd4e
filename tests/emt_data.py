"""Small EMT-labelled structures the tests share (eV, eV/Å), labelled by the library's own
:func:`atomsieve.active.parents.label_structures`: Cu (and Cu/Au) icosahedra, two Cu cells."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.cluster import Icosahedron

from atomsieve import Dataset
from atomsieve.active.parents import label_structures


def emt_labelled(frames: list[Atoms]) -> Dataset:
    """A Dataset of ``frames`` (left without a calculator) with EMT energies and forces."""
    labelled = label_structures(frames, "emt")
    return Dataset(list(frames), energies=[a.get_potential_energy() for a in labelled],
                   forces=np.concatenate([a.get_forces() for a in labelled]))


def emt_clusters(n: int, seed: int = 0, gold: float = 0.0, strain: float = 0.04,
                 rattle: float | None = None) -> Dataset:
    """Rattled Cu13 icosahedra (a share ``gold`` of atoms turned into Au), labelled by EMT.

    The lattice constant is 3.6 Å × (1 + ``strain`` × a normal draw); atoms move by ``rattle`` Å
    (None: a random 0.05–0.15 Å per cluster).
    """
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = Icosahedron("Cu", 2, latticeconstant=3.6 * (1 + strain * rng.standard_normal()))
        if gold:
            symbols = np.array(atoms.get_chemical_symbols())
            symbols[rng.random(len(atoms)) < gold] = "Au"
            symbols[0] = "Au"
            atoms.set_chemical_symbols(symbols.tolist())
        amount = 0.05 + 0.1 * rng.random() if rattle is None else rattle
        atoms.rattle(amount, seed=int(rng.integers(1 << 30)))
        frames.append(atoms)
    return emt_labelled(frames)


def emt_copper_cells(rattle: float = 0.0) -> list[Atoms]:
    """Two fcc Cu cells (a = 3.55 and 3.6 Å; atoms moved by ``rattle`` Å, seeds 0 and 1) carrying
    EMT energies and forces (single-point results)."""
    cells = []
    for i, a in enumerate((3.55, 3.6)):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        if rattle:
            atoms.rattle(rattle, seed=i)
        cells.append(atoms)
    return label_structures(cells, "emt")
