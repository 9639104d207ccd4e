"""Does a potential give physical molecular dynamics? NVT runs, RDF comparison, blow-up detection.

RMSE on a test set is not enough: in the molten-salt selection study, potentials trained on globally
selected data had fine errors yet produced non-physical short-range RDF peaks in MD. :func:`md_check`
runs Langevin NVT dynamics with the calculator under test, usually on a larger cell than it was
trained on, and compares its per-pair radial distribution functions with a reference (a reference
calculator run the same way, or reference frames such as the training pool):

- ``rdf_distance``: ``∫ |g_test − g_ref| dr`` per element pair (Å);
- short-range contacts: more than a small fraction of an element pair's distances fall below the
  closest distance the reference ever reaches (less a tolerance), the signature of a potential with
  a hole. A fraction, not the single closest pair, because the closest pair of a long run in a big
  cell is always a little closer than that of a short run in a small cell: a minimum is an extreme
  value and shrinks with the number of samples;
- blow-ups (:class:`BlowUpLimits`): NaN or infinite energies, forces or positions, the potential
  energy leaving its starting value by more than a set amount per atom, the kinetic temperature
  running away, atoms fused (closer than a floor) or lost (no neighbour within a distance), the
  calculator raising, or a wall-clock limit. The run then stops and the report says why.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator
from ase.md.langevin import Langevin

from atomsieve.errors import AtomsieveError, ParameterError
from atomsieve.evaluate.rdf import (
    RDF,
    largest_rdf_radius,
    nearest_neighbour_distances,
    radial_distribution,
    rdf_distance,
)
from atomsieve.progress import ProgressCallback, report


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


@dataclass
class MDRun:
    """Samples of one Langevin NVT run.

    ``frames`` are copies of the structure (no calculator) every ``sample_every`` steps;
    ``steps``, ``potential_energy`` (eV/atom) and ``temperature`` (K) belong to them. ``stopped`` is
    None for a completed run, else why it stopped at ``steps_run``; ``timed_out`` says the reason was
    the wall-clock limit (the run was cut short, nothing went wrong in it). ``final`` is the last state
    with its momenta (no calculator).
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


def _problem(atoms: Atoms, energy: float, e0: float, temperature: float, target: float,
             limits: BlowUpLimits, isolation: float) -> str | None:
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

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> run = run_nvt(EMT(), bulk("Cu", cubic=True).repeat(2), temperature=300, n_steps=20, sample_every=10)
    >>> run.stopped is None, run.steps.tolist(), len(run.frames)
    (True, [0, 10, 20], 3)
    """
    from atomsieve.builders.sampling import thermalize

    if n_steps < 1 or sample_every < 1 or not temperature > 0:
        raise ParameterError(
            f"need n_steps >= 1, sample_every >= 1 and temperature > 0 K; got {n_steps}, {sample_every}, "
            f"{temperature}"
        )
    limits = limits or BlowUpLimits()
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.calc = calculator
    thermalize(atoms, temperature, rng)
    nn0 = nearest_neighbour_distances(atoms)
    isolation = limits.isolation_distance or max(4.0, 2 * float(nn0[np.isfinite(nn0)].max(initial=2.0)))
    dyn = Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs,
                   fixcm=False, rng=rng)
    frames, steps, energies, temps = [], [], [], []
    started = time.perf_counter()
    stopped, done, e0, timed_out = None, 0, None, False
    while True:
        try:
            energy = float(atoms.get_potential_energy())
            e0 = energy if e0 is None else e0
            temp = float(atoms.get_temperature())
            stopped = _problem(atoms, energy, e0, temp, temperature, limits, isolation)
        except AtomsieveError:  # a wrong input (say an element the potential lacks) is not a blow-up
            raise
        except Exception as exc:  # a calculator that breaks on a wild structure is a blow-up too
            stopped = f"calculator raised {type(exc).__name__}: {exc}"
        if stopped is not None:
            break
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
        chunk = min(sample_every, n_steps - done)
        try:
            with np.errstate(all="ignore"):
                dyn.run(chunk)
        except AtomsieveError:
            raise
        except Exception as exc:
            stopped = f"calculator raised {type(exc).__name__}: {exc}"
            if not np.isfinite(atoms.positions).all():
                stopped = f"NaN or infinite energy, forces or positions ({stopped})"
            done += chunk
            break
        done += chunk
    return MDRun(frames=frames, steps=np.array(steps, dtype=int), potential_energy=np.array(energies),
                 temperature=np.array(temps), steps_requested=n_steps, steps_run=done, stopped=stopped,
                 seconds=time.perf_counter() - started, final=atoms.copy(), timed_out=timed_out)


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


@dataclass
class MDCheckReport:
    """Verdict of :func:`md_check`.

    ``verdict`` is ``"ok"``, ``"unphysical"`` (short-range contacts, or an RDF distance above the
    limit given), ``"blew-up"``, ``"inconclusive"`` (no pair distance within the RDF range, so nothing
    was compared), or ``"timed-out"`` (the wall-clock limit ended the run before any
    problem showed; the RDFs cover the steps that ran); ``reasons`` says why in words. Distances are
    in Å, energies in eV/atom, ``short_range_fraction`` the fraction of each pair's distances (below
    ``r_max``) that lie under the reference's closest distance less the tolerance, ``energy_drift``
    in eV/atom/ps (slope of the potential energy after equilibration), ``nve_drift`` the largest total-energy
    excursion per atom in the NVE segment (eV/atom; NaN when not run).
    """

    verdict: str
    reasons: list[str]
    temperature: float
    n_atoms: int
    steps_run: int
    steps_requested: int
    seconds: float
    rdf_distance: dict[str, float]
    mean_rdf_distance: float
    min_distance: dict[str, float]
    reference_min_distance: dict[str, float]
    short_range_pairs: list[str]
    short_range_fraction: dict[str, float]
    energy_drift: float
    nve_drift: float
    rdf: RDF | None = field(default=None, repr=False)
    reference_rdf: RDF | None = field(default=None, repr=False)
    run: MDRun | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict:
        """JSON-ready summary with both RDFs (no frames)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("rdf", "reference_rdf", "run")}
        out["rdf"] = None if self.rdf is None else self.rdf.to_dict()
        out["reference_rdf"] = None if self.reference_rdf is None else self.reference_rdf.to_dict()
        return _json_ready(out)

    def summary(self) -> str:
        """A few lines for people."""
        lines = [f"verdict: {self.verdict}" + (f" ({'; '.join(self.reasons)})" if self.reasons else ""),
                 f"MD: {self.steps_run}/{self.steps_requested} steps at {self.temperature:g} K, "
                 f"{self.n_atoms} atoms, {self.seconds:.1f} s; "
                 f"potential-energy trend {self.energy_drift:+.4f} eV/atom/ps; "
                 f"NVE drift {self.nve_drift:.2e} eV/atom"]
        for key, value in self.rdf_distance.items():
            closest = self.min_distance.get(key, np.inf)
            ref = self.reference_min_distance.get(key, np.inf)
            lines.append(f"  {key:<8} RDF distance {value:7.3f} Å   closest {closest:.3f} Å "
                         f"(reference {ref:.3f} Å)")
        return "\n".join(lines)


def _json_ready(value):
    """Plain JSON types; NaN and infinity become None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _reference_frames(reference, atoms: Atoms, run_kwargs: dict, equilibration_steps: int) -> list[Atoms]:
    from atomsieve.data import Dataset

    if isinstance(reference, BaseCalculator):
        ref_run = run_nvt(reference, atoms, **run_kwargs)
        if ref_run.stopped:
            raise ParameterError(f"the reference calculator's own MD stopped: {ref_run.stopped}")
        return [f for f, s in zip(ref_run.frames, ref_run.steps) if s >= equilibration_steps]
    if isinstance(reference, Dataset):
        return list(reference.atoms)
    if isinstance(reference, Atoms):
        return [reference]
    try:
        frames = list(reference)
    except TypeError:
        frames = []
    if not frames or not all(isinstance(a, Atoms) for a in frames):
        raise ParameterError("reference must be an ASE calculator, a Dataset, or a non-empty list of Atoms; "
                             f"got {type(reference).__name__}")
    return frames


def md_check(
    calculator: BaseCalculator,
    atoms: Atoms,
    reference,
    *,
    temperature: float = 1400.0,
    n_steps: int = 2000,
    equilibration_steps: int = 500,
    timestep: float = 1.0,
    friction: float = 0.01,
    sample_every: int = 20,
    seed: int = 0,
    r_max: float | None = 6.0,
    n_bins: int = 120,
    short_range_tolerance: float = 0.1,
    short_range_fraction: float = 1e-3,
    contact_distance: float | None = None,
    max_rdf_distance: float | None = None,
    nve_steps: int = 200,
    limits: BlowUpLimits | None = None,
    max_seconds: float | None = None,
    progress: ProgressCallback | None = None,
) -> MDCheckReport:
    """Run NVT MD with ``calculator`` on ``atoms`` and judge it against ``reference``.

    Parameters
    ----------
    calculator : ase Calculator
        The potential under test (e.g. a trained model's calculator).
    atoms : Atoms
        Starting structure; make it larger than the training cells (``atoms.repeat(2)``).
    reference : ase Calculator, Dataset, Atoms or list of Atoms
        A calculator is run the same way (same start, seed and settings); frames (such as the
        training pool) are used as they are.
    temperature, n_steps, equilibration_steps, timestep, friction, sample_every, seed
        MD settings (K, steps, steps discarded before RDF sampling, fs, 1/fs, steps, seed).
    r_max, n_bins : float, int
        RDF range (Å; clipped to what every cell allows, None for the largest allowed) and bins.
    short_range_tolerance, short_range_fraction : float
        An element pair is flagged as unphysical when more than ``short_range_fraction`` of its
        distances lie below the reference's closest distance minus ``short_range_tolerance`` (Å) ...
    contact_distance : float, optional
        ... and below this (Å), so that sparse pairs (two H atoms on a cluster that
        the reference never brought within 6 Å) are not flagged at long range. Default: 1.5 × the
        smallest closest distance of any pair in the reference.
    max_rdf_distance : float, optional
        Also flag a mean RDF distance above this (Å).
    nve_steps : int
        Velocity-Verlet steps run from the final NVT state to check energy conservation
        (:attr:`BlowUpLimits.max_nve_drift`); 0 skips the check.
    limits : BlowUpLimits, optional
    max_seconds : float, optional
        Wall-clock budget of the run under test.
    progress : callable, optional
        ``progress(step, n_steps, "md")``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> cell = bulk("Cu", cubic=True).repeat(3)
    >>> report = md_check(EMT(), cell, EMT(), temperature=300, n_steps=20, equilibration_steps=0,
    ...                   sample_every=10, r_max=5.0, n_bins=50, nve_steps=10)
    >>> report.verdict, report.mean_rdf_distance
    ('ok', 0.0)
    """
    if equilibration_steps >= n_steps:
        raise ParameterError(f"equilibration_steps ({equilibration_steps}) must be below n_steps ({n_steps})")
    run_kwargs = {"temperature": temperature, "n_steps": n_steps, "timestep": timestep, "friction": friction,
                  "sample_every": sample_every, "seed": seed, "limits": limits}
    ref_frames = _reference_frames(reference, atoms, run_kwargs, equilibration_steps)
    if {bool(f.pbc.any()) for f in ref_frames} != {bool(atoms.pbc.any())}:
        raise ParameterError("the reference frames and the MD system must both be periodic or both be "
                             "clusters; their RDFs are normalised differently")
    run = run_nvt(calculator, atoms, max_seconds=max_seconds, progress=progress, **run_kwargs)
    kept = [f for f, s in zip(run.frames, run.steps) if s >= equilibration_steps] or run.frames[-1:]
    allowed = largest_rdf_radius([*kept, *ref_frames]) if atoms.pbc.any() else np.inf
    radius = min(r_max or np.inf, allowed)
    if not np.isfinite(radius):
        raise ParameterError("r_max=None needs periodic structures; give an r_max in Å for clusters")
    rdf = radial_distribution(kept, radius, n_bins) if kept else None
    ref_rdf = radial_distribution(ref_frames, radius, n_bins)
    distances = rdf_distance(rdf, ref_rdf) if rdf is not None else {}
    reasons = []
    short = []
    finite = [d for d in ref_rdf.min_distance.values() if np.isfinite(d)]
    contact = contact_distance if contact_distance is not None else 1.5 * min(finite, default=np.inf)
    fractions: dict[str, float] = {}
    if rdf is not None:
        for key, counts in rdf.counts.items():
            ref_closest = ref_rdf.min_distance.get(key, np.inf)
            limit = min(ref_closest - short_range_tolerance, contact)
            total = counts.sum()
            fractions[key] = float(counts[rdf.edges[1:] <= limit].sum() / total) if total else 0.0
            if fractions[key] > short_range_fraction:
                short.append(key)
                where = (f"the reference's closest {ref_closest:.2f} Å" if np.isfinite(ref_closest)
                         else f"the reference has none within {ref_rdf.r_max:.2f} Å")
                reasons.append(f"{fractions[key]:.2%} of {key} distances below {limit:.2f} Å ({where}; "
                               f"test closest {rdf.min_distance[key]:.2f} Å)")
    mean_distance = float(np.mean(list(distances.values()))) if distances else float("nan")
    if max_rdf_distance is not None and mean_distance > max_rdf_distance:
        reasons.append(f"mean RDF distance {mean_distance:.3f} Å above the limit {max_rdf_distance} Å")
    nve_drift, nve_problem = float("nan"), None
    if not run.stopped and nve_steps > 0:
        nve_drift, nve_problem = nve_energy_drift(calculator, run.final, nve_steps, timestep, sample_every)
        max_drift = (limits or BlowUpLimits()).max_nve_drift
        if nve_problem is None and nve_drift > max_drift:
            nve_problem = (f"total energy drifted {nve_drift:.4f} eV/atom in {nve_steps} NVE steps "
                           f"(limit {max_drift} eV/atom)")
    unphysical = bool(reasons)  # what the structures show, before why the run stopped is added
    empty = [name for name, r in (("MD frames", rdf), ("reference frames", ref_rdf))
             if r is None or not any(c.sum() for c in r.counts.values())]
    if empty:  # a comparison without samples checked nothing: it must not pass
        reasons.append(f"the {' and the '.join(empty)} have no pair distance below {radius:.2f} Å, so the "
                       "RDFs compared nothing; raise r_max (it is clipped to what the cells allow)")
    if run.timed_out:
        verdict = "unphysical" if unphysical else "timed-out"
    else:
        verdict = "blew-up" if run.stopped or nve_problem else (
            "unphysical" if unphysical else "inconclusive" if empty else "ok")
    if run.stopped:
        reasons.insert(0, f"stopped at step {run.steps_run}: {run.stopped}")
    elif nve_problem:
        reasons.insert(0, nve_problem)
    after = run.steps >= equilibration_steps
    drift = 0.0
    if after.sum() >= 2:
        ps = run.steps[after] * timestep / 1000.0
        drift = float(np.polyfit(ps, run.potential_energy[after], 1)[0])
    return MDCheckReport(
        verdict=verdict, reasons=reasons, temperature=temperature, n_atoms=len(atoms),
        steps_run=run.steps_run, steps_requested=n_steps, seconds=run.seconds, rdf_distance=distances,
        mean_rdf_distance=mean_distance, min_distance=dict(rdf.min_distance) if rdf else {},
        reference_min_distance=dict(ref_rdf.min_distance), short_range_pairs=short, energy_drift=drift,
        short_range_fraction=fractions,
        nve_drift=nve_drift,
        rdf=rdf, reference_rdf=ref_rdf, run=run,
    )
