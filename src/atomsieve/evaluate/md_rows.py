"""MD verdicts for learning-curve rows: train on a selection, run NVT MD, compare RDFs.

``learning_curves(..., md_check=True)`` calls :func:`selection_md_row` for every (method, size,
repeat) job: the job's model is fitted on the selection, wrapped as an ASE calculator and run
through :func:`atomsieve.evaluate.md_check.md_check` on the MD system. The row gains two columns,
:data:`MD_COLUMNS`:

- ``md_verdict``: ``"ok"``, ``"unphysical"`` (short-range contacts the reference never makes),
  ``"blew-up"``, ``"inconclusive"`` (no distance within the RDF range, so nothing was compared) or
  ``"timed-out"`` (the wall-clock limit cut the run short; see
  :class:`~atomsieve.evaluate.md_check.MDCheckReport`);
- ``rdf_distance``: mean over element pairs of ``∫ |g − g_ref| dr`` (Å); NaN when the run stopped
  before any frame was kept.

The reference is resolved once per study (:func:`resolve_md_options`): a reference calculator
is run on the same system with the same settings, and its frames (after equilibration) serve every
row, so a perfect potential scores a distance of zero. Reference frames (such as the pool) are
used as they are; with small training cells that leaves a finite-size floor of a few tenths of an
Å (see ``benchmarks/README.md``).

MD with a trained model is slow (fingerprints and their derivatives are recomputed every step), so
the defaults are short: 200 steps of 1 fs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from atomsieve.errors import ParameterError

#: Columns ``learning_curves(..., md_check=True)`` adds to every row.
MD_COLUMNS = ("md_verdict", "rdf_distance")

#: Default MD settings of a row (K, steps, steps, fs, steps, Å, bins, steps).
MD_DEFAULTS: dict[str, Any] = {
    "temperature": 1400.0,
    "n_steps": 200,
    "equilibration_steps": 50,
    "timestep": 1.0,
    "sample_every": 10,
    "r_max": 6.0,
    "n_bins": 60,
    "nve_steps": 50,
}
_SETTINGS = (*MD_DEFAULTS, "friction", "seed", "limits", "max_seconds", "short_range_tolerance",
             "short_range_fraction", "contact_distance", "max_rdf_distance")


def md_system(system, pool=None, seed: int = 0) -> Atoms:
    """The MD starting structure from ``system``.

    ``system`` is an :class:`~ase.Atoms` (copied), a builder name (``"molten-nacl"``: see
    :func:`atomsieve.builders.md_structure`), a ``(name, n_atoms)`` pair, or None: the pool's
    largest structure, repeated twice along each periodic direction.

    >>> md_system(("molten-nacl", 16)).get_chemical_formula()
    'Cl8Na8'
    """
    from atomsieve.builders import md_structure

    if isinstance(system, Atoms):
        return system.copy()
    if isinstance(system, str):
        return md_structure(system, seed=seed)
    if isinstance(system, tuple | list) and len(system) == 2 and isinstance(system[0], str):
        return md_structure(system[0], int(system[1]), seed=seed)
    if system is None and pool is not None and len(pool):
        largest = max(pool.atoms, key=len)
        atoms = Atoms(largest.numbers, largest.positions, cell=largest.cell, pbc=largest.pbc)
        return atoms.repeat([2 if p else 1 for p in atoms.pbc])
    raise ParameterError(
        f"MD system {system!r}: give an ase.Atoms, a builder name such as 'molten-nacl', a "
        "(name, n_atoms) pair, or None with a pool to repeat its largest structure")


def resolve_md_options(options: dict | None, pool=None) -> dict[str, Any]:
    """Settings for :func:`md_check_row` with the system built and the reference turned into frames.

    ``options`` may hold ``system`` (see :func:`md_system`), ``reference`` (an ASE calculator, run
    once here on the system with the row settings; a Dataset or list of frames; default: the pool)
    and any keyword of :func:`~atomsieve.evaluate.md_check.md_check` (defaults :data:`MD_DEFAULTS`).

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> opts = resolve_md_options({"system": bulk("Cu", cubic=True).repeat(3), "reference": EMT(),
    ...                            "temperature": 300, "n_steps": 20, "equilibration_steps": 10})
    >>> len(opts["reference"]), len(opts["system"])
    (2, 108)
    """
    from atomsieve.evaluate.md_check import run_nvt

    options = dict(options or {})
    unknown = sorted(set(options) - {*_SETTINGS, "system", "reference"})
    if unknown:
        raise ParameterError(f"md_options has no {', '.join(unknown)}; it accepts "
                             f"{', '.join(sorted({*_SETTINGS, 'system', 'reference'}))}")
    settings = {**MD_DEFAULTS, **{k: v for k, v in options.items() if k in _SETTINGS}}
    atoms = md_system(options.get("system"), pool, seed=int(settings.get("seed", 0)))
    reference = options.get("reference", pool)
    if reference is None:
        raise ParameterError("md_options needs a 'reference' (ASE calculator or frames) without a pool")
    if isinstance(reference, BaseCalculator):
        run_keys = ("temperature", "n_steps", "timestep", "friction", "sample_every", "seed", "limits")
        run = run_nvt(reference, atoms, **{k: settings[k] for k in run_keys if k in settings})
        if run.stopped:
            raise ParameterError(f"the reference calculator's own MD stopped: {run.stopped}")
        reference = [f for f, s in zip(run.frames, run.steps) if s >= settings["equilibration_steps"]]
    return {**settings, "system": atoms, "reference": reference}


def md_check_row(model, reference, system: Atoms, *, keep_report: bool = False,
                 **settings) -> dict[str, Any]:
    """MD verdict and mean RDF distance of one potential, as row columns.

    Parameters
    ----------
    model : ase Calculator or Potential
        The potential under test (a :class:`~atomsieve.potentials.Potential` is wrapped in its
        calculator).
    reference : ase Calculator, Dataset or list of Atoms
        As for :func:`~atomsieve.evaluate.md_check.md_check`.
    system : Atoms
        The MD starting structure.
    keep_report : bool
        Also return the full report under ``"md_report"`` (RDFs for plots).
    **settings
        Keywords of :func:`~atomsieve.evaluate.md_check.md_check`; :data:`MD_DEFAULTS` otherwise.

    Returns
    -------
    dict
        ``md_verdict`` (str) and ``rdf_distance`` (Å, float), plus ``md_report`` when asked.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> md_check_row(EMT(), EMT(), bulk("Cu", cubic=True).repeat(3), temperature=300, n_steps=20,
    ...              equilibration_steps=10, nve_steps=10, r_max=5.0)
    {'md_verdict': 'ok', 'rdf_distance': 0.0}
    """
    from atomsieve.evaluate.md_check import md_check

    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise ParameterError(f"md_check_row has no setting {', '.join(unknown)}; it accepts "
                             f"{', '.join(sorted(_SETTINGS))}")
    calculator = model if isinstance(model, BaseCalculator) else _calculator_of(model)
    report = md_check(calculator, system, reference, **{**MD_DEFAULTS, **settings})
    distance = report.mean_rdf_distance
    row: dict[str, Any] = {"md_verdict": report.verdict,
                           "rdf_distance": float(distance) if np.isfinite(distance) else float("nan")}
    if keep_report:
        row["md_report"] = report
    return row


def _calculator_of(model) -> BaseCalculator:
    if hasattr(model, "calculator") and callable(model.calculator):
        return model.calculator()
    raise ParameterError(f"model must be an ASE calculator or a fitted Potential; got {type(model).__name__}")


def selection_potential(context, selected, seed: int = 0):
    """The context's model fitted on the pool structures ``selected``, as a
    :class:`~atomsieve.potentials.Potential` (same model and settings as the curve row's)."""
    from atomsieve.descriptors import SymmetryFunctions
    from atomsieve.evaluate.jobs import make_model
    from atomsieve.potentials import Potential

    selected = np.asarray(selected, dtype=np.int64)
    if selected.size == 0:
        raise ParameterError("selection_potential: the selection is empty")
    model = make_model(context.model, context.model_params, seed)
    model.fit(context.prepared, structures=selected)
    descriptor = SymmetryFunctions.from_params(context.features.params)
    return Potential(model=model, descriptor=descriptor, scaler=context.features.scaler)


def selection_md_row(context, selected, seed: int = 0, *, system: Atoms, reference,
                     **settings) -> dict[str, Any]:
    """:func:`md_check_row` for the context's model trained on ``selected`` (options from
    :func:`resolve_md_options`)."""
    potential = selection_potential(context, selected, seed)
    return md_check_row(potential, reference, system, **settings)
