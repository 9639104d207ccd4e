"""Pd_n H_m clusters (default Pd13H2) from Langevin MD over a temperature range, labelled with EMT.

Our stand-in for the 19,802-structure Pd13H2 set of the LE-bank paper (Li et al., J. Chem. Phys.
160, 074109 (2024)). The Pd core is a Mackay icosahedron (13, 55 or 147 atoms); the H atoms start in
distinct three-fold hollows, the cluster is relaxed with FIRE, then each trajectory runs at its own
temperature (spread evenly from ``temperatures[0]`` to ``temperatures[1]``) and keeps a snapshot every
``interval`` steps. ASE's EMT labels every snapshot (energies in eV, forces in eV/Å; EMT's H
parameters are rough, so this is a realistic *workload*, not realistic Pd–H chemistry). A trajectory
in which an atom leaves the cluster (nearest neighbour farther than ``evaporation_distance``) is
restarted, so the pool holds bound clusters only.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.optimize import FIRE

from atomsieve.builders.sampling import (
    dataset_from_trajectories,
    langevin_snapshots,
    split_evenly,
    task_seeds,
)
from atomsieve.data import Dataset
from atomsieve.errors import AtomsieveError, ParameterError
from atomsieve.parallel import run_tasks
from atomsieve.progress import ProgressCallback, StopCallback

#: Pd atoms in a Mackay icosahedron of 2, 3, 4 shells.
ICOSAHEDRAL_SIZES = {13: 2, 55: 3, 147: 4}
VACUUM = 6.0  # Å of empty space around the cluster in the (non-periodic) cell


def pdh_cluster_structure(n_pd: int = 13, n_h: int = 2, seed: int = 0, relax: bool = True) -> Atoms:
    """A relaxed Pd_n H_m cluster: icosahedral Pd core, H in distinct random surface hollows.

    >>> atoms = pdh_cluster_structure(13, 2, seed=1, relax=False)
    >>> atoms.get_chemical_formula(), bool(atoms.pbc.any())
    ('H2Pd13', False)
    """
    if n_pd not in ICOSAHEDRAL_SIZES:
        raise ParameterError(
            f"n_pd must be a Mackay icosahedron size {sorted(ICOSAHEDRAL_SIZES)}; got {n_pd}"
        )
    core = Icosahedron("Pd", ICOSAHEDRAL_SIZES[n_pd])
    centre = core.positions.mean(axis=0)
    d = core.get_all_distances()
    nearest = d[d > 0].min()
    bonded = (d > 0) & (d < 1.2 * nearest)
    surface = np.flatnonzero(bonded.sum(axis=1) < 12)  # under-coordinated atoms
    faces = [f for f in itertools.combinations(surface, 3)
             if all(bonded[a, b] for a, b in itertools.combinations(f, 2))]
    if n_h < 0 or n_h > len(faces):
        raise ParameterError(f"n_h must lie in 0..{len(faces)} (surface hollows of Pd{n_pd}); got {n_h}")
    rng = np.random.default_rng(seed)
    atoms = core.copy()
    for f in rng.choice(len(faces), n_h, replace=False):
        hollow = core.positions[list(faces[f])].mean(axis=0)
        outward = (hollow - centre) / np.linalg.norm(hollow - centre)
        atoms += Atoms("H", positions=[hollow + 1.0 * outward])
    atoms.center(vacuum=VACUUM)
    atoms.pbc = False
    if relax:
        atoms.calc = EMT()
        FIRE(atoms, logfile=None).run(fmax=0.05, steps=200)
        atoms.calc = None
    return atoms


def _evaporated(atoms: Atoms, distance: float) -> bool:
    d = atoms.get_all_distances()
    np.fill_diagonal(d, np.inf)
    return bool((d.min(axis=1) > distance).any())


def _trajectory(task: dict) -> list[Atoms]:
    rng = np.random.default_rng(task["seed"])
    start = pdh_cluster_structure(task["n_pd"], task["n_h"], seed=int(rng.integers(2**31)))
    frames: list[Atoms] = []
    for _attempt in range(task["max_restarts"] + 1):
        batch = langevin_snapshots(
            start, EMT(), temperature=task["temperature"], n_snapshots=task["n_frames"] - len(frames),
            interval=task["interval"], equilibration=task["equilibration"], rng=rng,
            timestep=task["timestep"], friction=task["friction"], info={"builder": "pdh-cluster"},
        )
        for frame in batch:
            if _evaporated(frame, task["evaporation_distance"]):
                break
            frame.center()
            frames.append(frame)
        if len(frames) == task["n_frames"]:
            return frames
    raise AtomsieveError(
        f"pdh-cluster: atoms kept leaving Pd{task['n_pd']}H{task['n_h']} at {task['temperature']:.0f} K "
        f"after {task['max_restarts']} restarts; lower the top temperature"
    )


def build_pdh_cluster(
    n_structures: int = 1000,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    scheduler=None,
    *,
    should_stop: StopCallback | None = None,
    sizes: tuple[tuple[int, int], ...] = ((13, 2),),
    temperatures: tuple[float, float] = (300.0, 1200.0),
    frames_per_trajectory: int = 20,
    interval: int = 20,
    equilibration: int = 100,
    timestep: float = 1.0,
    friction: float = 0.02,
    evaporation_distance: float = 4.0,
    max_restarts: int = 5,
) -> Dataset:
    """Snapshots of Pd_n H_m clusters from Langevin MD, labelled with EMT.

    Parameters
    ----------
    n_structures : int
        Snapshots in the pool.
    seed : int
        Seeds everything (starting hollows, velocities, thermostat noise); the result does not
        depend on ``scheduler``.
    progress : callable, optional
        ``progress(done, total, label)`` after each trajectory.
    scheduler : None, "serial", "local", address or distributed.Client
        Where trajectories run (see :mod:`atomsieve.parallel`).
    should_stop : callable ``should_stop() -> bool``, optional
        Polled between trajectories; True returns the structures of the trajectories finished so far
        (fewer than ``n_structures``; :class:`~atomsieve.errors.Stopped` if none finished).
    sizes : tuple of (n_pd, n_h)
        Cluster compositions, used in turn; n_pd in 13, 55, 147.
    temperatures : (float, float)
        Lowest and highest thermostat temperature in K.
    frames_per_trajectory, interval, equilibration : int
        Snapshots per trajectory, MD steps between snapshots, steps before the first.
    timestep, friction : float
        MD time step in fs and Langevin friction in 1/fs.
    evaporation_distance : float
        A snapshot with an atom whose nearest neighbour is farther than this (Å) restarts the
        trajectory.

    Examples
    --------
    >>> ds = build_pdh_cluster(4, seed=0, frames_per_trajectory=2, interval=5, equilibration=5)
    >>> len(ds), ds.elements, ds.atom_counts.tolist()
    (4, ['H', 'Pd'], [15, 15, 15, 15])
    """
    if n_structures < 1:
        raise ParameterError(f"n_structures must be at least 1; got {n_structures}")
    if not (0 < temperatures[0] <= temperatures[1]):
        raise ParameterError(f"temperatures must be (low, high) K with 0 < low <= high; got {temperatures}")
    chunks = split_evenly(n_structures, -(-n_structures // max(1, frames_per_trajectory)))
    temps = np.linspace(temperatures[0], temperatures[1], len(chunks))
    tasks = [
        {
            "seed": s, "n_frames": n, "temperature": float(t), "n_pd": sizes[k % len(sizes)][0],
            "n_h": sizes[k % len(sizes)][1], "interval": interval, "equilibration": equilibration,
            "timestep": timestep, "friction": friction, "evaporation_distance": evaporation_distance,
            "max_restarts": max_restarts,
        }
        for k, (s, n, t) in enumerate(zip(task_seeds(seed, len(chunks)), chunks, temps))
    ]
    for size in sizes:  # fail fast on bad sizes, before any MD
        pdh_cluster_structure(*size, relax=False)
    results = run_tasks(_trajectory, tasks, scheduler=scheduler, progress=progress, label="pdh-cluster",
                        should_stop=should_stop)
    return dataset_from_trajectories(results, "pdh-cluster")
