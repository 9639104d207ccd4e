"""Budget calibration: the thresholds that make local-environment-bank selection pick a given amount.

Choosing the threshold is the open problem the LE-bank paper names. :func:`calibrate_thresholds`
turns a labelling budget (structures, atoms, or a fraction of either) into per-element thresholds.

Method
------
All thresholds move together through one scale parameter ``s``:

- ``mode="ratio"``: ``T_e = s * r_e`` with user-given ratios ``r_e`` (default 1 for every element, i.e.
  one shared threshold; the thresholds given to the CLI are used as ratios);
- ``mode="retention"``: ``s`` is a retention fraction ``q`` in (0, 1]; for each element ``T_e`` is found
  (by bisection on that element alone; elements never interact in the bank) so that the bank keeps
  the same fraction ``q`` of its atoms for every element.

The count selected (structures or atoms) falls as ``s`` grows, but **not strictly monotonically**:
raising a threshold can change which atoms join earlier and so, rarely, add a structure later. The
calibration therefore bisects on ``s`` keeping a bracket ``count(lo) > target >= count(hi)``, records
every evaluation, and returns the evaluated thresholds whose count is closest to the target (ties go
to the count not above the target). It stops as soon as a count lies within the tolerance
``floor(rel_tol * target)`` of the target (default ``rel_tol = 0.02``; 0 asks for the exact count),
after ``max_iter`` evaluations, or when the bracket cannot be split further. Counts move in steps
(one threshold change can add several structures at once), so a target may be unreachable
exactly; ``CalibrationResult.met`` says whether the tolerance was met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ase.data import atomic_numbers

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, report
from atomsieve.selectors.lebank import LEBank, normalise_thresholds

KINDS = ("structures", "atoms")
MODES = ("ratio", "retention")


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate_thresholds`.

    Attributes
    ----------
    thresholds : dict
        Threshold per element symbol.
    count : int
        Structures (or atoms) selected with ``thresholds``.
    target : int
        The count asked for.
    kind : str
        ``"structures"`` or ``"atoms"``.
    tolerance : int
        Largest accepted ``|count - target|``.
    met : bool
        Whether ``|count - target| <= tolerance``.
    history : list of (dict, int)
        Every evaluation: thresholds and count.
    """

    thresholds: dict[str, float]
    count: int
    target: int
    kind: str
    tolerance: int
    met: bool
    history: list[tuple[dict[str, float], int]] = field(default_factory=list)


def resolve_target(budget: int | float, total: int) -> int:
    """An integer target from a count or a fraction in (0, 1).

    >>> resolve_target(0.2, 228), resolve_target(50, 228)
    (46, 50)
    """
    if isinstance(budget, bool):
        raise ParameterError(f"budget must be a count or a fraction; got {budget!r}")
    if isinstance(budget, float) and 0 < budget < 1:
        return max(1, int(round(budget * total)))
    if float(budget) != int(budget) or int(budget) < 1:
        raise ParameterError(f"budget must be a whole number >= 1 or a fraction in (0, 1); got {budget!r}")
    if int(budget) > total:
        raise ParameterError(f"budget {int(budget)} is larger than the {total} available")
    return int(budget)


def _element_rows(features: AtomicFeatures, element: str) -> np.ndarray:
    return features.species == atomic_numbers[element]


def _element_features(features: AtomicFeatures, element: str) -> AtomicFeatures:
    rows = _element_rows(features, element)
    return AtomicFeatures(
        features.values[rows],
        features.species[rows],
        features.structure[rows],
        n_structures=features.n_structures,
    )


def _retention_threshold(
    features: AtomicFeatures, element: str, q: float, options: dict, upper: float, iters: int = 30
) -> float:
    """Threshold of ``element`` keeping about a fraction ``q`` of its atoms in the bank."""
    sub = _element_features(features, element)
    want = q * sub.n_atoms
    lo, hi = 0.0, upper
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        kept = len(LEBank({element: mid}, **options).fit(sub).bank_)
        if kept > want:
            lo = mid
        else:
            hi = mid
    return hi


def _check_budget(features: AtomicFeatures, budget, kind: str, mode: str, rel_tol: float) -> tuple[int, int]:
    """The budget as a count of structures or atoms, and the accepted error around it."""
    if kind not in KINDS:
        raise ParameterError(f"kind must be one of {KINDS}; got {kind!r}")
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {MODES}; got {mode!r}")
    total = features.n_structures if kind == "structures" else features.n_atoms
    target = resolve_target(budget, total)
    if not 0 <= rel_tol < 1:
        raise ParameterError(f"rel_tol must lie in [0, 1); got {rel_tol}")
    return target, int(rel_tol * target)


def _diameters(features: AtomicFeatures) -> dict[str, float]:
    """Per element, a threshold beyond its fingerprints' diameter: it selects the minimum."""
    diameter = {}
    for e in features.elements:
        x = features.values[_element_rows(features, e)]
        diameter[e] = 2.0 * float(np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1).max())) + 1e-12
    return diameter


def _threshold_path(features: AtomicFeatures, mode: str, ratios: dict[str, float] | None,
                    options: dict) -> tuple[Callable[[float], dict[str, float]], float]:
    """``thresholds_at(s)``, the per-element thresholds along one scalar ``s``, and the end of the
    range of ``s`` that selects least (``"ratio"``: a common scale; ``"retention"``: the fraction of
    each element's atoms kept in the bank)."""
    elements, diameter = features.elements, _diameters(features)
    if mode == "ratio":
        r = normalise_thresholds(ratios) if ratios else 1.0
        r = {e: (r if isinstance(r, float) else r.get(e)) for e in elements}
        missing = [e for e, v in r.items() if v is None]
        if missing:
            raise ParameterError(f"ratios: no value for element(s) {', '.join(missing)}")
        if any(v <= 0 for v in r.values()):
            raise ParameterError(f"ratios must all be > 0; got {r}")
        return (lambda s: {e: s * r[e] for e in elements}), max(diameter[e] / r[e] for e in elements)
    cache: dict[float, dict[str, float]] = {}
    inner = {**options, "init": "empty", "shuffle": False}

    def thresholds_at(s: float) -> dict[str, float]:
        if s not in cache:
            cache[s] = {e: _retention_threshold(features, e, s, inner, diameter[e]) for e in elements}
        return cache[s]

    return thresholds_at, 1.0


def _bisect(evaluate: Callable[[float], int], a: float, b: float, target: int, tolerance: int,
            max_iter: int, should_stop: Callable[[], bool] | None) -> None:
    """Bisect ``s`` between ``a`` (selects most) and ``b`` (selects least) until ``evaluate(s)`` is
    within ``tolerance`` of ``target``, ``max_iter`` selections are spent or ``should_stop()``."""
    def stop() -> bool:
        return should_stop is not None and should_stop()

    count = evaluate(b)
    if abs(count - target) <= tolerance or stop():
        return
    count = evaluate(a)
    for _ in range(max_iter - 2):
        if abs(count - target) <= tolerance or stop():
            return
        mid = 0.5 * (a + b)
        if mid in (a, b):
            return
        count = evaluate(mid)
        if count > target:
            a = mid
        else:
            b = mid


def calibrate_thresholds(
    features: AtomicFeatures,
    budget: int | float,
    *,
    kind: str = "structures",
    mode: str = "ratio",
    ratios: dict[str, float] | None = None,
    rel_tol: float = 0.02,
    max_iter: int = 40,
    seed: int = 0,
    shuffle: bool = False,
    init: str = "random",
    device: str = "auto",
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CalibrationResult:
    """Per-element thresholds whose LE-bank selection meets a budget (see the module docstring).

    Parameters
    ----------
    features : AtomicFeatures
    budget : int or float
        Number of structures (or atoms, with ``kind="atoms"``) to select, or a fraction in (0, 1) of
        all structures (atoms).
    kind : {"structures", "atoms"}
        What the budget counts; atoms are the atoms of the selected structures (the DFT cost).
    mode : {"ratio", "retention"}
        Keep the ratios between thresholds, or equalise the per-element share of atoms kept in the bank.
    ratios : dict, optional
        Relative thresholds per element for ``mode="ratio"`` (default: all equal).
    rel_tol : float
        Relative tolerance; the accepted error is ``floor(rel_tol * target)``.
    max_iter : int
        Largest number of selections run by the outer bisection.
    seed, shuffle, init, device
        As in :class:`LEBank`.
    progress : callable, optional
        ``progress(done, max_iter, label)``.
    should_stop : callable, optional
        Polled before every selection after the first; True ends the search with the best
        thresholds so far (``met`` says whether they meet the budget).

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(np.arange(20.0)[:, None], ["H"] * 20, np.arange(20))
    >>> res = calibrate_thresholds(f, 5, init="empty")
    >>> res.met, res.count
    (True, 5)
    """
    target, tolerance = _check_budget(features, budget, kind, mode, rel_tol)
    options = {"seed": seed, "shuffle": shuffle, "init": init, "device": device}
    thresholds_at, hi = _threshold_path(features, mode, ratios, options)

    def count_at(thresholds: dict[str, float]) -> int:
        sel = LEBank(thresholds, **options).fit(features)
        return len(sel.selected_) if kind == "structures" else sel.n_selected_atoms_

    history: list[tuple[dict[str, float], int]] = []

    def evaluate(s: float) -> int:
        t = thresholds_at(s)
        c = count_at(t)
        history.append((t, c))
        report(progress, len(history), max_iter, f"{kind}={c} (target {target})")
        return c

    # a: the end of the bracket that selects most; b: the end that selects least.
    a, b = (0.0, hi) if mode == "ratio" else (1.0, 0.5 / features.n_atoms)
    _bisect(evaluate, a, b, target, tolerance, max_iter, should_stop)
    best_t, best_c = min(history, key=lambda h: (abs(h[1] - target), h[1] > target))
    return CalibrationResult(
        thresholds=best_t,
        count=best_c,
        target=target,
        kind=kind,
        tolerance=tolerance,
        met=abs(best_c - target) <= tolerance,
        history=history,
    )
