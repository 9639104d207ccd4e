"""A one-element candidate pool for an EMT metal (default Cu), made the way the Ge set was made.

Kinds of structures (fractions set by ``mix``):

- ``bulk``: fcc supercell, Langevin MD snapshots at 100 K up to 0.8 × the melting point;
- ``strained``: the supercell scaled to 0.8–1.5 × the equilibrium nearest-neighbour spacing, with a
  random ±3 % anisotropic strain and a small rattle (single points, no MD);
- ``surface``: (100), (110) and (111) slabs with 8 Å of vacuum, MD snapshots up to 0.6 × T_m;
- ``vacancy``: the supercell minus one or two atoms, MD snapshots up to 0.8 × T_m;
- ``liquid``: a 4 % expanded cell melted at 2 × T_m, snapshots at 1.1–1.6 × T_m;
- ``amorphous``: the melt quenched by a strong thermostat at 300 K, snapshots during and after.

ASE's EMT (Jacobsen, Stoltze & Nørskov, Surf. Sci. 366, 394 (1996)) labels everything: energies in
eV, forces in eV/Å, per-atom energies. EMT knows Al, Ni, Cu, Pd, Ag, Pt and Au (all fcc).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100, fcc110, fcc111
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from atomsieve.builders.sampling import (
    dataset_from_trajectories,
    label,
    langevin_snapshots,
    split_evenly,
    task_seeds,
)
from atomsieve.data import Dataset
from atomsieve.errors import ParameterError
from atomsieve.parallel import run_tasks
from atomsieve.progress import ProgressCallback, StopCallback

#: Experimental melting points (K) of the fcc metals EMT parameterises (CRC Handbook).
MELTING_POINT = {
    "Al": 933.5, "Ni": 1728.0, "Cu": 1357.8, "Pd": 1828.1, "Ag": 1234.9, "Pt": 2041.4, "Au": 1337.3,
}
DEFAULT_MIX = {
    "bulk": 0.2, "strained": 0.25, "surface": 0.15, "vacancy": 0.15, "liquid": 0.15, "amorphous": 0.1,
}


def emt_lattice_constant(element: str) -> float:
    """The fcc lattice constant (Å) that minimises EMT's energy for ``element``.

    >>> round(emt_lattice_constant("Cu"), 3)
    3.59
    """
    if element not in MELTING_POINT:
        raise ParameterError(f"element must be an EMT fcc metal {sorted(MELTING_POINT)}; got {element!r}")

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    guess = bulk(element, "fcc").cell.cellpar()[0] * np.sqrt(2)
    return float(minimize_scalar(energy, bounds=(0.9 * guess, 1.1 * guess), method="bounded",
                                 options={"xatol": 1e-5}).x)


def _supercell(element: str, a: float, size: int) -> Atoms:
    return bulk(element, "fcc", a=a, cubic=True).repeat(size)


def _strained(task: dict, rng: np.random.Generator) -> list[Atoms]:
    frames = []
    for _ in range(task["n_frames"]):
        scale = rng.uniform(0.8, 1.5)
        atoms = _supercell(task["element"], task["a"], task["size"])
        strain = np.eye(3) * scale + scale * rng.uniform(-0.03, 0.03, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.rattle(0.03 * scale, seed=int(rng.integers(2**31)))
        frames.append(label(atoms, EMT(), {"builder": "one-element", "kind": "strained",
                                           "spacing_scale": float(scale)}))
    return frames


def _start(task: dict, rng: np.random.Generator) -> Atoms:
    element, a, size, kind = task["element"], task["a"], task["size"], task["kind"]
    if kind == "surface":
        maker = (fcc100, fcc110, fcc111)[int(rng.integers(3))]
        return maker(element, size=(size, size, 2 * size), a=a, vacuum=8.0, periodic=True)
    atoms = _supercell(element, a, size)
    if kind == "vacancy":
        del atoms[list(rng.choice(len(atoms), int(rng.integers(1, 3)), replace=False))]
    if kind in ("liquid", "amorphous"):
        atoms.set_cell(atoms.cell.array * 1.04 ** (1 / 3), scale_atoms=True)
    return atoms


def _trajectory(task: dict) -> list[Atoms]:
    rng = np.random.default_rng(task["seed"])
    if task["kind"] == "strained":
        return _strained(task, rng)
    tm = MELTING_POINT[task["element"]]
    info = {"builder": "one-element", "kind": task["kind"]}
    common = {"n_snapshots": task["n_frames"], "interval": task["interval"], "rng": rng,
              "timestep": task["timestep"], "info": info}
    atoms = _start(task, rng)
    if task["kind"] in ("liquid", "amorphous"):
        melt = langevin_snapshots(atoms, EMT(), temperature=2.0 * tm, n_snapshots=1,
                                  interval=task["equilibration"], equilibration=0, rng=rng,
                                  timestep=task["timestep"])[0]
        if task["kind"] == "liquid":
            return langevin_snapshots(melt, EMT(), temperature=rng.uniform(1.1, 1.6) * tm,
                                      equilibration=task["equilibration"] // 2, friction=0.02, **common)
        # the quench: a strong thermostat at 300 K takes the melt down within ~100 fs
        return langevin_snapshots(melt, EMT(), temperature=300.0, equilibration=0, friction=0.2, **common)
    top = 0.6 if task["kind"] == "surface" else 0.8
    return langevin_snapshots(atoms, EMT(), temperature=rng.uniform(100.0, top * tm),
                              equilibration=task["equilibration"], friction=0.02, **common)


def build_one_element(
    n_structures: int = 500,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    scheduler=None,
    *,
    should_stop: StopCallback | None = None,
    element: str = "Cu",
    mix: dict[str, float] | None = None,
    supercell: int = 2,
    frames_per_trajectory: int = 10,
    interval: int = 20,
    equilibration: int = 100,
    timestep: float = 2.0,
) -> Dataset:
    """Bulk, strained, surface, vacancy, liquid and amorphous frames of one EMT metal.

    Parameters
    ----------
    n_structures : int
        Structures in the pool, shared among the kinds by ``mix`` (largest remainders).
    seed : int
        Seeds everything; the result does not depend on ``scheduler``.
    progress : callable, optional
        ``progress(done, total, label)`` after each trajectory or batch.
    scheduler : None, "serial", "local", address or distributed.Client
        Where the work runs (see :mod:`atomsieve.parallel`).
    should_stop : callable ``should_stop() -> bool``, optional
        Polled between trajectories and batches; True returns the structures of those finished so
        far (fewer than ``n_structures``; :class:`~atomsieve.errors.Stopped` if none finished).
    element : str
        An EMT fcc metal: Al, Ni, Cu, Pd, Ag, Pt, Au.
    mix : dict, optional
        Weight of each kind (``bulk``, ``strained``, ``surface``, ``vacancy``, ``liquid``,
        ``amorphous``); default :data:`DEFAULT_MIX`.
    supercell : int
        Repeats of the 4-atom cubic cell per direction (2 gives 32-atom cells).
    frames_per_trajectory, interval, equilibration : int
        Snapshots per trajectory (or per batch of strained cells), MD steps between snapshots,
        steps before the first.
    timestep : float
        MD time step in fs.

    Examples
    --------
    >>> ds = build_one_element(6, mix={"strained": 1, "bulk": 1}, supercell=1, frames_per_trajectory=3,
    ...                        interval=2, equilibration=2)
    >>> len(ds), ds.elements, sorted({a.info["kind"] for a in ds.atoms})
    (6, ['Cu'], ['bulk', 'strained'])
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = sorted(set(mix) - set(DEFAULT_MIX))
    if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise ParameterError(
            f"mix must give non-negative weights to kinds among {sorted(DEFAULT_MIX)}; got {mix}"
        )
    if n_structures < 1:
        raise ParameterError(f"n_structures must be at least 1; got {n_structures}")
    a = emt_lattice_constant(element)
    weights = np.array(list(mix.values()), dtype=float) / sum(mix.values())
    counts = np.floor(weights * n_structures).astype(int)
    for k in np.argsort(-(weights * n_structures - counts))[: n_structures - counts.sum()]:
        counts[k] += 1
    tasks = []
    for kind, count in zip(mix, counts):
        for n in split_evenly(int(count), -(-int(count) // max(1, frames_per_trajectory))) if count else []:
            tasks.append({"kind": kind, "n_frames": n, "element": element, "a": a, "size": supercell,
                          "interval": interval, "equilibration": equilibration, "timestep": timestep})
    for task, s in zip(tasks, task_seeds(seed, len(tasks))):
        task["seed"] = s
    results = run_tasks(_trajectory, tasks, scheduler=scheduler, progress=progress, label="one-element",
                        should_stop=should_stop)
    return dataset_from_trajectories(results, f"one-element-{element}")
