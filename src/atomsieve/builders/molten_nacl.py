"""Molten NaCl boxes (default 50 Na + 50 Cl) from Langevin MD at 900–2200 K and several densities.

The candidate pool of the molten-salt selection study ("Efficient data selection methods for the
development of machine learned potentials"), labelled with the Born–Mayer–Huggins–Tosi–Fumi potential
(:class:`~atomsieve.builders.tosi_fumi.TosiFumi`, damped-shifted-force Coulomb). Each trajectory starts
from ions on random sites of a cubic grid (Na on one sublattice, Cl on the other), relaxes briefly
with FIRE, is thermalised at its temperature and then keeps a snapshot every ``interval`` steps.
Temperatures are spread evenly over the range; densities (g/cm³, fixed cubic box) are used in turn.
For reference, molten NaCl has 1.55 g/cm³ at its melting point (1074 K) and the rock-salt crystal
2.165 g/cm³ at room temperature.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.optimize import FIRE
from ase.units import _Nav

from atomsieve.builders.sampling import (
    dataset_from_trajectories,
    langevin_snapshots,
    split_evenly,
    task_seeds,
)
from atomsieve.builders.tosi_fumi import TosiFumi
from atomsieve.data import Dataset
from atomsieve.errors import ParameterError
from atomsieve.parallel import run_tasks
from atomsieve.progress import ProgressCallback, StopCallback

NACL_MOLAR_MASS = float(atomic_masses[atomic_numbers["Na"]] + atomic_masses[atomic_numbers["Cl"]])  # g/mol


def box_length(n_pairs: int, density: float) -> float:
    """Edge (Å) of the cubic box holding ``n_pairs`` NaCl units at ``density`` g/cm³.

    >>> round(box_length(50, 1.55), 2)
    14.63
    """
    volume_cm3 = n_pairs * NACL_MOLAR_MASS / (_Nav * density)
    return float((volume_cm3 * 1e24) ** (1 / 3))


def molten_nacl_structure(n_pairs: int = 50, density: float = 1.5, seed: int = 0,
                          relax: bool = True) -> Atoms:
    """A periodic cubic box of ``n_pairs`` Na⁺ and ``n_pairs`` Cl⁻ at ``density`` g/cm³.

    Ions sit on random sites of an even simple-cubic grid, Na on one sublattice and Cl on the
    other, so no two like ions are nearest grid neighbours; ``relax`` runs 30 FIRE steps with
    :class:`TosiFumi` to take the worst strain out.

    >>> atoms = molten_nacl_structure(4, 1.5, seed=0, relax=False)
    >>> atoms.get_chemical_formula(), bool(atoms.pbc.all())
    ('Cl4Na4', True)
    """
    if n_pairs < 1 or not density > 0:
        raise ParameterError(f"need n_pairs >= 1 and density > 0 g/cm³; got {n_pairs}, {density}")
    length = box_length(n_pairs, density)
    m = int(np.ceil((2 * n_pairs) ** (1 / 3)))
    m += m % 2  # an even grid keeps the two sublattices apart across the periodic boundary
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    parity = grid.sum(axis=1) % 2
    rng = np.random.default_rng(seed)
    na_sites = rng.choice(np.flatnonzero(parity == 0), n_pairs, replace=False)
    cl_sites = rng.choice(np.flatnonzero(parity == 1), n_pairs, replace=False)
    positions = (grid[np.concatenate([na_sites, cl_sites])] + 0.5) * (length / m)
    atoms = Atoms(f"Na{n_pairs}Cl{n_pairs}", positions=positions, cell=[length] * 3, pbc=True)
    if relax:
        atoms.calc = TosiFumi()
        FIRE(atoms, logfile=None).run(fmax=0.1, steps=30)
        atoms.calc = None
        atoms.wrap()
    return atoms


def _trajectory(task: dict) -> list[Atoms]:
    rng = np.random.default_rng(task["seed"])
    start = molten_nacl_structure(task["n_pairs"], task["density"], seed=int(rng.integers(2**31)))
    return langevin_snapshots(
        start, TosiFumi(cutoff=task["cutoff"], alpha=task["alpha"]), temperature=task["temperature"],
        n_snapshots=task["n_frames"], interval=task["interval"], equilibration=task["equilibration"],
        rng=rng, timestep=task["timestep"], friction=task["friction"],
        info={"builder": "molten-nacl", "density_g_cm3": task["density"]},
    )


def build_molten_nacl(
    n_structures: int = 500,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    scheduler=None,
    *,
    should_stop: StopCallback | None = None,
    n_pairs: int = 50,
    temperatures: tuple[float, float] = (900.0, 2200.0),
    densities: tuple[float, ...] = (1.25, 1.4, 1.55, 1.7),
    frames_per_trajectory: int = 10,
    interval: int = 25,
    equilibration: int = 300,
    timestep: float = 2.0,
    friction: float = 0.01,
    cutoff: float = 10.0,
    alpha: float = 0.25,
) -> Dataset:
    """Snapshots of molten NaCl from Langevin MD, labelled with the Tosi–Fumi potential.

    Parameters
    ----------
    n_structures : int
        Snapshots in the pool.
    seed : int
        Seeds everything; the result does not depend on ``scheduler``.
    progress : callable, optional
        ``progress(done, total, label)`` after each trajectory.
    scheduler : None, "serial", "local", address or distributed.Client
        Where trajectories run (see :mod:`atomsieve.parallel`).
    should_stop : callable ``should_stop() -> bool``, optional
        Polled between trajectories; True returns the structures of the trajectories finished so far
        (fewer than ``n_structures``; :class:`~atomsieve.errors.Stopped` if none finished).
    n_pairs : int
        NaCl units per box (50: the 100-atom boxes of the study).
    temperatures : (float, float)
        Lowest and highest thermostat temperature in K.
    densities : tuple of float
        Box densities in g/cm³, used in turn.
    frames_per_trajectory, interval, equilibration : int
        Snapshots per trajectory, MD steps between snapshots, steps before the first.
    timestep, friction : float
        MD time step in fs and Langevin friction in 1/fs.
    cutoff, alpha : float
        :class:`TosiFumi` cutoff (Å) and DSF damping (1/Å).

    Examples
    --------
    >>> ds = build_molten_nacl(2, n_pairs=4, frames_per_trajectory=1, interval=2, equilibration=2)
    >>> len(ds), ds.elements, sorted({a.info["density_g_cm3"] for a in ds.atoms})
    (2, ['Na', 'Cl'], [1.25, 1.4])
    """
    if n_structures < 1:
        raise ParameterError(f"n_structures must be at least 1; got {n_structures}")
    if not (0 < temperatures[0] <= temperatures[1]):
        raise ParameterError(f"temperatures must be (low, high) K with 0 < low <= high; got {temperatures}")
    if not densities or min(densities) <= 0:
        raise ParameterError(f"densities must be positive values in g/cm³; got {densities}")
    chunks = split_evenly(n_structures, -(-n_structures // max(1, frames_per_trajectory)))
    temps = np.linspace(temperatures[0], temperatures[1], len(chunks))
    tasks = [
        {
            "seed": s, "n_frames": n, "temperature": float(t),
            "density": float(densities[k % len(densities)]), "n_pairs": n_pairs, "interval": interval,
            "equilibration": equilibration, "timestep": timestep,
            "friction": friction, "cutoff": cutoff, "alpha": alpha,
        }
        for k, (s, n, t) in enumerate(zip(task_seeds(seed, len(chunks)), chunks, temps))
    ]
    results = run_tasks(_trajectory, tasks, scheduler=scheduler, progress=progress, label="molten-nacl",
                        should_stop=should_stop)
    return dataset_from_trajectories(results, "molten-nacl")
