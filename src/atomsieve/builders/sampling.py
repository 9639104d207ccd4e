"""What every builder shares: seeds per task, Langevin dynamics and snapshots, labelling, the final Dataset.

Labelled frames carry a :class:`~ase.calculators.singlepoint.SinglePointCalculator` with the energy
(eV), forces (eV/Å) and per-atom energies (eV), and the per-atom energies also as the ``energies``
array. (ASE's extxyz reader moves an ``energies`` column into the calculator results, so after
``atomsieve.load`` they are in ``atoms.calc.results["energies"]``; :func:`per_atom_energies` looks in
both places.)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin

from atomsieve.data import Dataset
from atomsieve.errors import DataError


def task_seeds(seed: int, n_tasks: int) -> list[int]:
    """Independent 32-bit seeds for ``n_tasks`` jobs, the same whatever runs them.

    >>> task_seeds(0, 3) == task_seeds(0, 3), len(set(task_seeds(0, 100)))
    (True, 100)
    """
    children = np.random.SeedSequence(seed).spawn(n_tasks)
    return [int(c.generate_state(1)[0]) for c in children]


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` items in ``parts`` nearly equal non-zero chunks (fewer chunks when total < parts).

    >>> split_evenly(10, 3)
    [4, 3, 3]
    """
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (k < extra) for k in range(parts)]


def thermalize(atoms: Atoms, temperature: float, rng: np.random.Generator) -> None:
    """Maxwell–Boltzmann momenta at ``temperature`` K, centre-of-mass motion removed."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.29
        vd.thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    vd.Stationary(atoms)


def langevin(atoms: Atoms, calc, *, temperature: float, rng: np.random.Generator, timestep: float = 1.0,
             friction: float = 0.02) -> Langevin:
    """Langevin NVT dynamics of ``atoms`` (changed in place: ``calc`` attached, momenta drawn).

    The one way we start thermostatted MD: the builders' snapshots and
    :func:`atomsieve.evaluate.md_run.run_nvt` both run what this returns.

    Parameters
    ----------
    temperature : float
        Thermostat temperature (K); the momenta are drawn at it with ``rng``.
    timestep, friction : float
        Time step (fs) and friction (1/fs).
    """
    atoms.calc = calc
    thermalize(atoms, temperature, rng)
    return Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs,
                    fixcm=False, rng=rng)


def label(atoms: Atoms, calc: Calculator, info: dict | None = None) -> Atoms:
    """A copy of ``atoms`` labelled by ``calc``: energy, forces and per-atom energies stored."""
    atoms = atoms.copy()
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.array(atoms.get_forces())
    energies = np.array(atoms.get_potential_energies())
    if not (np.isfinite(energy) and np.isfinite(forces).all() and np.isfinite(energies).all()):
        raise DataError(f"{type(calc).__name__} returned NaN or infinity for {atoms.get_chemical_formula()}")
    atoms.calc = None
    atoms.arrays.pop("momenta", None)
    if atoms.pbc.any():
        atoms.wrap()
    atoms.arrays["energies"] = energies
    atoms.info.update(info or {})
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, energies=energies)
    return atoms


def langevin_snapshots(
    atoms: Atoms,
    calc: Calculator,
    *,
    temperature: float,
    n_snapshots: int,
    interval: int,
    equilibration: int,
    rng: np.random.Generator,
    timestep: float = 1.0,
    friction: float = 0.02,
    info: dict | None = None,
) -> list[Atoms]:
    """Labelled snapshots of Langevin NVT dynamics.

    Parameters
    ----------
    temperature : float
        Thermostat temperature in K.
    n_snapshots, interval, equilibration : int
        Snapshots to keep, MD steps between them, steps run before the first.
    timestep : float
        In fs. ``friction`` is in 1/fs.
    """
    atoms = atoms.copy()
    dyn = langevin(atoms, calc, temperature=temperature, rng=rng, timestep=timestep, friction=friction)
    if equilibration:
        dyn.run(equilibration)
    frames = []
    for k in range(n_snapshots):
        dyn.run(interval)
        frame_info = {"temperature_K": float(temperature), "md_step": equilibration + (k + 1) * interval}
        frame_info.update(info or {})
        frames.append(label(atoms, calc, frame_info))
    return frames


def dataset_from_frames(frames: list[Atoms], source: str) -> Dataset:
    """A :class:`Dataset` of labelled frames (energy key ``"energy"``, forces key ``"forces"``)."""
    energies = np.array([a.calc.results["energy"] for a in frames])
    forces = np.concatenate([a.calc.results["forces"] for a in frames])
    return Dataset(frames, energies=energies, forces=forces, energy_key="energy", forces_key="forces",
                   source=source)


def dataset_from_trajectories(results: list, source: str) -> Dataset:
    """:func:`dataset_from_frames` of the frames of every trajectory :func:`atomsieve.parallel.run_tasks`
    finished, in task order; a trajectory a caller's ``should_stop()`` left undone (None) is left
    out, and :class:`~atomsieve.errors.Stopped` is raised when none finished."""
    frames = [f for trajectory in results if trajectory is not None for f in trajectory]
    if not frames:
        from atomsieve.errors import Stopped

        raise Stopped(f"{source}: stopped on request before any trajectory finished")
    return dataset_from_frames(frames, source)


def per_atom_energies(dataset: Dataset) -> np.ndarray:
    """Per-atom energies (eV) of every atom, shape (n_atoms,), from the ``energies`` array or the
    calculator results (where ASE puts them when reading extxyz).

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> ds = dataset_from_frames([label(bulk("Cu", cubic=True), EMT())], "example")
    >>> per_atom_energies(ds).round(4).tolist()
    [-0.0057, -0.0057, -0.0057, -0.0057]
    """
    parts = []
    for i, atoms in enumerate(dataset.atoms):
        value = atoms.arrays.get("energies")
        if value is None and atoms.calc is not None:
            value = atoms.calc.results.get("energies")
        if value is None:
            raise DataError(f"{dataset.source or 'dataset'}: structure {i} has no per-atom energies "
                            "(an 'energies' array or calculator result)")
        parts.append(np.asarray(value, dtype=float).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0)
