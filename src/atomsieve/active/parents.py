"""Parent calculators: the expensive reference that labels chunks, run as independent parallel jobs.

A *parent* is anything that builds an ASE calculator: a name from :data:`PARENTS` (``"emt"``,
ASE's effective-medium theory, the default; ``"gfn1-xtb"``, GFN1-xTB through ``tblite``, installed
with the ``atomsieve[xtb]`` extra) or a picklable zero-argument callable returning a calculator
(for example ``functools.partial(Vasp, xc="PBE")``). Each labelling job builds its own calculator
inside the worker, so the parent never has to be pickled with state, and many jobs run at once
through :class:`atomsieve.parallel.TaskRunner` (serially, on a Dask ``LocalCluster`` or on an
existing scheduler).

Units: energies eV, forces eV/Å.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from atomsieve.errors import AtomsieveError, ParameterError
from atomsieve.parallel import TaskRunner
from atomsieve.progress import ProgressCallback, StopCallback


class ParentError(AtomsieveError):
    """The parent calculator failed on a structure or cannot be built."""


def _emt() -> Calculator:
    from ase.calculators.emt import EMT

    return EMT()


def _gfn1_xtb() -> Calculator:
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise ParentError(
            "parent 'gfn1-xtb' needs the tblite package; install it with pip install 'atomsieve[xtb]'"
        ) from None
    return TBLite(method="GFN1-xTB", verbosity=0)


#: Parent names the CLI and :func:`make_parent` accept, with their calculator factories.
PARENTS: dict[str, Callable[[], Calculator]] = {"emt": _emt, "gfn1-xtb": _gfn1_xtb, "xtb": _gfn1_xtb}


def parent_factory(parent: str | Callable[[], Calculator]) -> Callable[[], Calculator]:
    """The zero-argument calculator factory behind a parent name or callable.

    Examples
    --------
    >>> parent_factory("emt")().__class__.__name__
    'EMT'
    """
    if callable(parent):
        return parent
    if isinstance(parent, str) and parent.lower() in PARENTS:
        return PARENTS[parent.lower()]
    raise ParameterError(
        f"parent {parent!r} is unknown; use one of {sorted(PARENTS)} or a callable that returns "
        "an ASE calculator"
    )


def make_parent(parent: str | Callable[[], Calculator] = "emt") -> Calculator:
    """A fresh ASE calculator for ``parent``.

    Examples
    --------
    >>> make_parent("emt").implemented_properties[:2]
    ['energy', 'free_energy']
    """
    calc = parent_factory(parent)()
    if not isinstance(calc, Calculator) and not hasattr(calc, "get_forces"):
        raise ParameterError(f"parent {parent!r} returned {type(calc).__name__}, not an ASE calculator")
    return calc


def parent_name(parent: str | Callable[[], Calculator]) -> str:
    """A short name for logs: the registered name or the callable's name."""
    if isinstance(parent, str):
        return parent.lower()
    func = getattr(parent, "func", parent)  # functools.partial
    return getattr(func, "__name__", type(func).__name__)


def _label_job(job: tuple[Callable[[], Calculator], Atoms]) -> dict[str, Any]:
    """Run one parent calculation (in a worker); plain arrays come back."""
    factory, atoms = job
    atoms = atoms.copy()
    atoms.calc = factory()
    start = time.perf_counter()
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any calculator failure is reported with the structure
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"energy": energy, "forces": forces, "seconds": time.perf_counter() - start}


def label_structures(
    structures: Sequence[Atoms],
    parent: str | Callable[[], Calculator] = "emt",
    *,
    scheduler: Any = None,
    n_workers: int | None = None,
    runner: TaskRunner | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> list[Atoms]:
    """Copies of ``structures`` carrying the parent's energy (eV) and forces (eV/Å).

    Each copy gets a :class:`~ase.calculators.singlepoint.SinglePointCalculator` with the results
    and ``info["parent_seconds"]``; ``info`` and ``arrays`` of the input (e.g. the central-atom
    flag of a chunk) are kept. Jobs run through ``runner`` if given, else a new
    :class:`TaskRunner` on ``scheduler`` (``None``/``"serial"``, ``"local"``, ``"tcp://..."``).
    ``progress(done, total, label)`` hears of the structures labelled; ``should_stop()`` is polled
    between them: True returns the copies labelled so far, in input order (fewer than given).

    Raises
    ------
    ParentError
        When the parent fails on a structure (the message names which and why).

    Examples
    --------
    >>> from ase.build import bulk
    >>> labelled = label_structures([bulk("Pt", "fcc", a=3.92, cubic=True)], "emt")
    >>> labelled[0].get_forces().shape
    (4, 3)
    """
    factory = parent_factory(parent)
    structures = list(structures)
    jobs = [(factory, a) for a in structures]
    results: list[dict | None] = [None] * len(jobs)
    own = runner is None
    runner = TaskRunner(scheduler, n_workers) if own else runner
    try:
        label = f"{parent_name(parent)} labels"
        for i, value in runner.map(_label_job, jobs, progress=progress, label=label, should_stop=should_stop):
            results[i] = value
    finally:
        if own:
            runner.close()
    labelled = []
    for i, (atoms, res) in enumerate(zip(structures, results)):
        if res is None and should_stop is not None:
            continue  # left undone by a stop
        if res is None or "error" in res:
            why = "no result" if res is None else res["error"]
            raise ParentError(
                f"parent {parent_name(parent)!r} failed on structure {i} "
                f"({atoms.get_chemical_formula()}, {len(atoms)} atoms): {why}"
            )
        out = atoms.copy()
        out.info["parent_seconds"] = res["seconds"]
        out.calc = SinglePointCalculator(out, energy=res["energy"], forces=res["forces"])
        labelled.append(out)
    return labelled
