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

The run itself is :mod:`atomsieve.evaluate.md_run`, the verdict record :mod:`atomsieve.evaluate.md_report`.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from atomsieve.errors import ParameterError, Stopped
from atomsieve.evaluate.md_report import MDCheckReport
from atomsieve.evaluate.md_run import STOPPED_ON_REQUEST, BlowUpLimits, MDRun, nve_energy_drift, run_nvt
from atomsieve.evaluate.rdf import RDF, largest_rdf_radius, radial_distribution, rdf_distance
from atomsieve.progress import ProgressCallback, StopCallback

__all__ = ["BlowUpLimits", "MDCheckReport", "MDRun", "md_check", "nve_energy_drift", "run_nvt"]


def _reference_frames(reference, atoms: Atoms, run_kwargs: dict, equilibration_steps: int,
                      should_stop=None) -> list[Atoms]:
    from atomsieve.data import Dataset

    if isinstance(reference, BaseCalculator):
        ref_run = run_nvt(reference, atoms, should_stop=should_stop, **run_kwargs)
        if ref_run.stopped == STOPPED_ON_REQUEST:  # a cut reference would judge the run wrongly
            raise Stopped("md_check: the reference MD was stopped on request")
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
    should_stop: StopCallback | None = None,
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
    should_stop : callable ``should_stop() -> bool``, optional
        Polled at every sample. True during the reference calculator's run raises
        :class:`~atomsieve.errors.Stopped`; during the run under test it ends that run like
        ``max_seconds``: the frames so far are judged, verdict ``"timed-out"`` (or ``"unphysical"``)
        with the reason ``stopped at step N: stopped on request``.

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
    ref_frames = _reference_frames(reference, atoms, run_kwargs, equilibration_steps, should_stop)
    if {bool(f.pbc.any()) for f in ref_frames} != {bool(atoms.pbc.any())}:
        raise ParameterError("the reference frames and the MD system must both be periodic or both be "
                             "clusters; their RDFs are normalised differently")
    run = run_nvt(calculator, atoms, max_seconds=max_seconds, progress=progress, should_stop=should_stop,
                  **run_kwargs)
    kept = [f for f, s in zip(run.frames, run.steps) if s >= equilibration_steps] or run.frames[-1:]
    radius = _rdf_radius(atoms, [*kept, *ref_frames], r_max)
    rdf = radial_distribution(kept, radius, n_bins) if kept else None
    ref_rdf = radial_distribution(ref_frames, radius, n_bins)
    distances = rdf_distance(rdf, ref_rdf) if rdf is not None else {}
    short, fractions, reasons = _short_range_contacts(rdf, ref_rdf, short_range_tolerance,
                                                      short_range_fraction, contact_distance)
    mean_distance = float(np.mean(list(distances.values()))) if distances else float("nan")
    if max_rdf_distance is not None and mean_distance > max_rdf_distance:
        reasons.append(f"mean RDF distance {mean_distance:.3f} Å above the limit {max_rdf_distance} Å")
    nve_drift, nve_problem = float("nan"), None
    if not run.stopped and nve_steps > 0:
        nve_drift, nve_problem = _nve_check(calculator, run, nve_steps, timestep, sample_every, limits)
    verdict = _verdict(run, nve_problem, reasons, rdf, ref_rdf, radius)
    return MDCheckReport(
        verdict=verdict, reasons=reasons, temperature=temperature, n_atoms=len(atoms),
        steps_run=run.steps_run, steps_requested=n_steps, seconds=run.seconds, rdf_distance=distances,
        mean_rdf_distance=mean_distance, min_distance=dict(rdf.min_distance) if rdf else {},
        reference_min_distance=dict(ref_rdf.min_distance), short_range_pairs=short,
        energy_drift=_energy_trend(run, equilibration_steps, timestep),
        short_range_fraction=fractions,
        nve_drift=nve_drift,
        rdf=rdf, reference_rdf=ref_rdf, run=run,
    )


def _rdf_radius(atoms: Atoms, frames: list[Atoms], r_max: float | None) -> float:
    """``r_max`` clipped to what every periodic cell allows (Å)."""
    allowed = largest_rdf_radius(frames) if atoms.pbc.any() else np.inf
    radius = min(r_max or np.inf, allowed)
    if not np.isfinite(radius):
        raise ParameterError("r_max=None needs periodic structures; give an r_max in Å for clusters")
    return radius


def _short_range_contacts(rdf: RDF | None, ref_rdf: RDF, tolerance: float, max_fraction: float,
                          contact_distance: float | None) -> tuple[list[str], dict[str, float], list[str]]:
    """Element pairs with too many distances below the reference's closest, each pair's fraction of
    such distances, and the reasons in words."""
    short, reasons, fractions = [], [], {}
    finite = [d for d in ref_rdf.min_distance.values() if np.isfinite(d)]
    contact = contact_distance if contact_distance is not None else 1.5 * min(finite, default=np.inf)
    if rdf is None:
        return short, fractions, reasons
    for key, counts in rdf.counts.items():
        ref_closest = ref_rdf.min_distance.get(key, np.inf)
        limit = min(ref_closest - tolerance, contact)
        total = counts.sum()
        fractions[key] = float(counts[rdf.edges[1:] <= limit].sum() / total) if total else 0.0
        if fractions[key] > max_fraction:
            short.append(key)
            where = (f"the reference's closest {ref_closest:.2f} Å" if np.isfinite(ref_closest)
                     else f"the reference has none within {ref_rdf.r_max:.2f} Å")
            reasons.append(f"{fractions[key]:.2%} of {key} distances below {limit:.2f} Å ({where}; "
                           f"test closest {rdf.min_distance[key]:.2f} Å)")
    return short, fractions, reasons


def _nve_check(calculator, run: MDRun, nve_steps: int, timestep: float, sample_every: int,
               limits: BlowUpLimits | None) -> tuple[float, str | None]:
    """NVE drift (eV/atom) from the run's final state and the problem it shows (None when conserved)."""
    nve_drift, nve_problem = nve_energy_drift(calculator, run.final, nve_steps, timestep, sample_every)
    max_drift = (limits or BlowUpLimits()).max_nve_drift
    if nve_problem is None and nve_drift > max_drift:
        nve_problem = (f"total energy drifted {nve_drift:.4f} eV/atom in {nve_steps} NVE steps "
                       f"(limit {max_drift} eV/atom)")
    return nve_drift, nve_problem


def _verdict(run: MDRun, nve_problem: str | None, reasons: list[str], rdf: RDF | None, ref_rdf: RDF,
             radius: float) -> str:
    """The verdict word; ``reasons`` gets why the run stopped first and an empty comparison last."""
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
    return verdict


def _energy_trend(run: MDRun, equilibration_steps: int, timestep: float) -> float:
    """Slope of the potential energy per atom after equilibration (eV/atom/ps); 0 with under two samples."""
    after = run.steps >= equilibration_steps
    if after.sum() < 2:
        return 0.0
    ps = run.steps[after] * timestep / 1000.0
    return float(np.polyfit(ps, run.potential_energy[after], 1)[0])
