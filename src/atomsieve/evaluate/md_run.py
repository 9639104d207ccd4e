"""Langevin NVT dynamics that stop cleanly at the first sign of a blow-up, and an NVE energy check.

The dynamics half of :func:`atomsieve.evaluate.md_check.md_check`; usable alone to run a trained
potential and see whether, and why, it blows up (:class:`BlowUpLimits`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator

from atomsieve.errors import AtomsieveError, ParameterError
from atomsieve.evaluate.rdf import nearest_neighbour_distances
from atomsieve.progress import ProgressCallback, StopCallback, report


@dataclass
class BlowUpLimits:
    """When an MD run counts as blown up.

    Attributes
    ----------
    max_energy_change : float
        Largest allowed change of potential energy per atom from the start (eV/atom).
    max_nve_drift : float
        Largest allowed excursion of the total energy per atom (eV/atom) in the NVE segment that
        follows the NVT run in :func:`md_check`: energy must be conserved.
    max_temperature_factor : float
        Largest allowed kinetic temperature as a multiple of the thermostat temperature.
    min_distance : float
        Two atoms closer than this (Å) have fused.
    isolation_distance : float or None
        An atom with no neighbour within this (Å) is lost; None: twice the largest nearest-neighbour
        distance of the starting structure, at least 4 Å.
    """

    max_energy_change: float = 1.0
    max_nve_drift: float = 0.01
    max_temperature_factor: float = 3.0
    min_distance: float = 0.5
    isolation_distance: float | None = None


#: :attr:`MDRun.stopped` of a run that a caller's ``should_stop()`` ended.
STOPPED_ON_REQUEST = "stopped on request"


@dataclass
class MDRun:
    """Samples of one Langevin NVT run.

    ``frames`` are copies of the structure (no calculator) every ``sample_every`` steps;
    ``steps``, ``potential_energy`` (eV/atom) and ``temperature`` (K) belong to them. ``stopped`` is
    None for a completed run, else why it stopped at ``steps_run``; ``timed_out`` says the run was cut
    short from outside, by the wall-clock limit or by ``should_stop()`` (``stopped`` is then
    :data:`STOPPED_ON_REQUEST`), and nothing went wrong in it. ``final`` is the last state with its
    momenta (no calculator).
    """

    frames: list[Atoms]
    steps: np.ndarray
    potential_energy: np.ndarray
    temperature: np.ndarray
    steps_requested: int
    steps_run: int
    stopped: str | None
    seconds: float
    final: Atoms | None = field(default=None, repr=False)
    timed_out: bool = False


def blow_up_reason(atoms: Atoms, energy: float, e0: float, temperature: float, target: float,
             limits: BlowUpLimits, isolation: float) -> str | None:
    """Why the state ``atoms`` (potential energy ``energy``, eV; kinetic ``temperature``, K) counts as
    blown up, or None; ``e0`` is the starting energy, ``target`` the thermostat temperature."""
    n = len(atoms)
    if not (np.isfinite(energy) and np.isfinite(atoms.positions).all()
            and np.isfinite(atoms.get_forces()).all()):
        return "NaN or infinite energy, forces or positions"
    if abs(energy - e0) / n > limits.max_energy_change:
        return (f"potential energy moved {(energy - e0) / n:+.3f} eV/atom from the start "
                f"(limit {limits.max_energy_change} eV/atom)")
    if temperature > limits.max_temperature_factor * target:
        return f"temperature ran away to {temperature:.0f} K (thermostat at {target:.0f} K)"
    nn = nearest_neighbour_distances(atoms)
    if nn.min() < limits.min_distance:
        return f"atoms fused: two atoms {nn.min():.3f} Å apart (floor {limits.min_distance} Å)"
    if n > 1 and nn.max() > isolation:
        return (f"atom {int(nn.argmax())} lost: nearest neighbour {nn.max():.2f} Å away "
                f"(limit {isolation:.2f} Å)")
    return None


def run_nvt(
    calculator: BaseCalculator,
    atoms: Atoms,
    *,
    temperature: float,
    n_steps: int,
    timestep: float = 1.0,
    friction: float = 0.01,
    sample_every: int = 10,
    seed: int = 0,
    limits: BlowUpLimits | None = None,
    max_seconds: float | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> MDRun:
    """Langevin NVT MD that stops cleanly at the first sign of a blow-up.

    Parameters
    ----------
    calculator : ase Calculator
        The potential that drives the dynamics.
    atoms : Atoms
        Starting structure (copied; velocities drawn at ``temperature`` with ``seed``).
    temperature : float
        Thermostat temperature (K).
    n_steps, sample_every : int
        MD steps, and steps between samples (checks happen at every sample).
    timestep, friction : float
        Time step (fs) and Langevin friction (1/fs).
    limits : BlowUpLimits, optional
    max_seconds : float, optional
        Wall-clock budget; the run stops with a reason when it is spent.
    progress : callable, optional
        ``progress(steps_done, n_steps, label)`` at every sample.
    should_stop : callable ``should_stop() -> bool``, optional
        Polled at every sample; True ends the run there like the wall-clock limit: the samples so far
        are returned, ``stopped`` is :data:`STOPPED_ON_REQUEST` and ``timed_out`` True.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> run = run_nvt(EMT(), bulk("Cu", cubic=True).repeat(2), temperature=300, n_steps=20, sample_every=10)
    >>> run.stopped is None, run.steps.tolist(), len(run.frames)
    (True, [0, 10, 20], 3)
    """
    from atomsieve.builders.sampling import langevin

    if n_steps < 1 or sample_every < 1 or not temperature > 0:
        raise ParameterError(
            f"need n_steps >= 1, sample_every >= 1 and temperature > 0 K; got {n_steps}, {sample_every}, "
            f"{temperature}"
        )
    limits = limits or BlowUpLimits()
    atoms = atoms.copy()
    dyn = langevin(atoms, calculator, temperature=temperature, rng=np.random.default_rng(seed),
                   timestep=timestep, friction=friction)
    isolation = limits.isolation_distance or _default_isolation(atoms)
    frames, steps, energies, temps = [], [], [], []
    started = time.perf_counter()
    stopped, done, e0, timed_out = None, 0, None, False
    while True:
        energy, temp, stopped = _sample(atoms, e0, temperature, limits, isolation)
        if stopped is not None:
            break
        e0 = energy if e0 is None else e0
        frames.append(Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc))
        steps.append(done)
        energies.append(energy / len(atoms))
        temps.append(temp)
        report(progress, done, n_steps, "md")
        if done >= n_steps:
            break
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            stopped = f"wall-clock limit of {max_seconds:g} s reached"
            timed_out = True
            break
        if should_stop is not None and should_stop():
            stopped, timed_out = STOPPED_ON_REQUEST, True
            break
        chunk = min(sample_every, n_steps - done)
        stopped = _advance(dyn, atoms, chunk)
        done += chunk
        if stopped is not None:
            break
    return MDRun(frames=frames, steps=np.array(steps, dtype=int), potential_energy=np.array(energies),
                 temperature=np.array(temps), steps_requested=n_steps, steps_run=done, stopped=stopped,
                 seconds=time.perf_counter() - started, final=atoms.copy(), timed_out=timed_out)


def _default_isolation(atoms: Atoms) -> float:
    """Twice the largest nearest-neighbour distance of the start, at least 4 Å."""
    nn0 = nearest_neighbour_distances(atoms)
    return max(4.0, 2 * float(nn0[np.isfinite(nn0)].max(initial=2.0)))


def _sample(atoms: Atoms, e0: float | None, target: float, limits: BlowUpLimits,
            isolation: float) -> tuple[float, float, str | None]:
    """Potential energy (eV), kinetic temperature (K) and the blow-up reason (None) of the state now."""
    energy = temp = float("nan")
    try:
        energy = float(atoms.get_potential_energy())
        temp = float(atoms.get_temperature())
        stopped = blow_up_reason(atoms, energy, energy if e0 is None else e0, temp, target, limits, isolation)
    except AtomsieveError:  # a wrong input (say an element the potential lacks) is not a blow-up
        raise
    except Exception as exc:  # a calculator that breaks on a wild structure is a blow-up too
        stopped = f"calculator raised {type(exc).__name__}: {exc}"
    return energy, temp, stopped


def _advance(dyn, atoms: Atoms, n_steps: int) -> str | None:
    """Run ``n_steps`` of ``dyn``; why it broke off (the calculator raised), or None."""
    try:
        with np.errstate(all="ignore"):
            dyn.run(n_steps)
    except AtomsieveError:
        raise
    except Exception as exc:
        stopped = f"calculator raised {type(exc).__name__}: {exc}"
        if not np.isfinite(atoms.positions).all():
            stopped = f"NaN or infinite energy, forces or positions ({stopped})"
        return stopped
    return None


def nve_energy_drift(calculator: BaseCalculator, atoms: Atoms, n_steps: int, timestep: float = 1.0,
                     sample_every: int = 10) -> tuple[float, str | None]:
    """Largest |E_total(t) − E_total(0)| per atom (eV/atom) in velocity-Verlet NVE from ``atoms``
    (positions and momenta), and why it stopped early (None when it did not)."""
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calculator
    dyn = VelocityVerlet(atoms, timestep * units.fs)
    totals, done = [], 0
    try:
        while True:
            totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
            if not np.isfinite(totals[-1]):
                return float("inf"), "NaN or infinite energy in NVE"
            if done >= n_steps:
                break
            with np.errstate(all="ignore"):
                dyn.run(min(sample_every, n_steps - done))
            done += min(sample_every, n_steps - done)
    except AtomsieveError:
        raise
    except Exception as exc:
        return float("inf"), f"calculator raised {type(exc).__name__} in NVE: {exc}"
    return float(np.max(np.abs(np.array(totals) - totals[0])) / len(atoms)), None
