"""Threshold and order studies of local-environment-bank selection (the paper's Figs. 2a, 2c and 4).

Each study runs the fast engine many times; results are plain dicts of lists, ready for
``pandas.DataFrame(result)`` or a CSV writer. Repeated runs can be spread over Dask workers with
``scheduler=`` (see :mod:`atomsieve.parallel`). Every study takes ``progress(done, total, label)`` and
``should_stop()``, polled between selections: True ends the study with the rows done so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.parallel import run_tasks
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.lebank import LEBank, normalise_thresholds

#: Most thresholds one range may hold (a step that implies more is refused, not allocated).
MAX_THRESHOLDS = 10_000


def threshold_range(start: float, stop: float, step: float) -> np.ndarray:
    """Thresholds from ``start`` to ``stop`` inclusive in steps of ``step`` (rounded to 12 digits).

    >>> threshold_range(0.1, 0.45, 0.025)[[0, -1]].tolist(), len(threshold_range(0.1, 0.45, 0.025))
    ([0.1, 0.45], 15)
    """
    if not all(np.isfinite([start, stop, step])):
        raise ParameterError(f"threshold range needs finite numbers; got from {start} to {stop} step {step}")
    if not step > 0:
        raise ParameterError(f"threshold step must be > 0; got {step}")
    if stop < start:
        raise ParameterError(f"threshold range runs backwards: from {start} to {stop}")
    span = (stop - start) / step
    if span + 1 > MAX_THRESHOLDS:
        raise ParameterError(
            f"threshold range from {start} to {stop} in steps of {step} holds {span + 1:.3g} thresholds; "
            f"at most {MAX_THRESHOLDS:,}: use a larger step"
        )
    n = int(np.floor(span + 1e-9)) + 1
    return np.round(start + step * np.arange(n), 12)


def _counts(features: AtomicFeatures, thresholds: Any, options: dict) -> dict[str, Any]:
    sel = LEBank(thresholds=thresholds, **options).fit(features)
    per_element = sel.bank_.counts_per_element()
    return {
        "structures": len(sel.selected_),
        "atoms": sel.n_selected_atoms_,
        "bank_size": len(sel.bank_),
        "bank_per_element": per_element,
        "seconds": sel.seconds_,
    }


class _Run:
    """Picklable job for Dask: one selection with given thresholds/options."""

    def __init__(self, features: AtomicFeatures, options: dict):
        self.features, self.options = features, options

    def __call__(self, job: tuple[Any, dict]) -> dict[str, Any]:
        thresholds, extra = job
        return _counts(self.features, thresholds, {**self.options, **extra})


def threshold_sweep(
    features: AtomicFeatures,
    thresholds: Sequence[float],
    *,
    element: str | None = None,
    fixed: dict[str, float] | None = None,
    seed: int = 0,
    shuffle: bool = False,
    init: str = "random",
    device: str = "auto",
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, list]:
    """Structures, atoms and bank size selected at each threshold (the paper's Fig. 2a).

    Parameters
    ----------
    features : AtomicFeatures
    thresholds : sequence of float
        Values of the swept threshold.
    element : str, optional
        The element whose threshold is swept; by default all elements share the swept value.
    fixed : dict, optional
        Thresholds of the other elements when ``element`` is given (required for every other
        element present).
    seed, shuffle, init, device
        As in :class:`LEBank`.
    scheduler
        Where to run the selections (:class:`atomsieve.parallel.TaskRunner`); serial by default.
    progress : callable, optional
        ``progress(done, total, label)``.
    should_stop : callable, optional
        Polled between selections; True ends the study with the rows done so far.

    Returns
    -------
    dict of lists
        ``threshold``, ``structures``, ``atoms``, ``bank_size``, ``seconds`` and one
        ``bank_<element>`` column per element.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(np.arange(6.0)[:, None], ["H"] * 6, [0, 1, 2, 3, 4, 5])
    >>> threshold_sweep(f, [0.5, 1.5], init="empty")["structures"]
    [6, 3]
    """
    thresholds = [float(t) for t in thresholds]
    if not thresholds:
        raise ParameterError("threshold_sweep needs at least one threshold")
    jobs = []
    for t in thresholds:
        if element is None:
            jobs.append((t, {}))
        else:
            jobs.append(({**normalise_thresholds(fixed or {element: t}), element: t}, {}))
    options = {"seed": seed, "shuffle": shuffle, "init": init, "device": device}
    results = run_tasks(
        _Run(features, options), jobs, scheduler=scheduler, progress=progress, label="threshold sweep",
        should_stop=should_stop,
    )
    return _table({"threshold": thresholds}, results, features.elements)


def _table(columns: dict[str, list], results: list[dict | None], elements: list[str]) -> dict[str, list]:
    done = [i for i, r in enumerate(results) if r is not None]  # should_stop leaves the rest undone
    out = {key: [values[i] for i in done] for key, values in columns.items()}
    results = [results[i] for i in done]
    for key in ("structures", "atoms", "bank_size", "seconds"):
        out[key] = [r[key] for r in results]
    for e in elements:
        out[f"bank_{e}"] = [r["bank_per_element"].get(e, 0) for r in results]
    return out


def threshold_count_grid(
    features: AtomicFeatures,
    first: tuple[str, Sequence[float]],
    second: tuple[str, Sequence[float]],
    *,
    fixed: dict[str, float] | None = None,
    seed: int = 0,
    shuffle: bool = False,
    init: str = "random",
    device: str = "auto",
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, list]:
    """Counts over a grid of two elements' thresholds (the paper's Fig. 4).

    The model errors over such a grid are :func:`atomsieve.evaluate.threshold_error_grid`.

    ``first`` and ``second`` are ``(element, thresholds)``; other elements take ``fixed``.
    Returns one row per pair with columns ``T_<first>``, ``T_<second>``, ``structures``, ``atoms``,
    ``bank_size``, ``seconds`` and ``bank_<element>``.

    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(np.arange(4.0)[:, None], ["H", "O", "H", "O"], [0, 0, 1, 2])
    >>> g = threshold_count_grid(f, ("H", [0.5, 3.0]), ("O", [0.5, 3.0]), init="empty")
    >>> g["structures"]
    [3, 2, 2, 1]
    """
    (e1, t1s), (e2, t2s) = first, second
    if e1 == e2:
        raise ParameterError(f"threshold_count_grid needs two different elements; got {e1} twice")
    base = normalise_thresholds(fixed) if fixed else {}
    pairs = [(float(a), float(b)) for a in t1s for b in t2s]
    if not pairs:
        raise ParameterError("threshold_count_grid needs at least one threshold per element")
    jobs = [({**base, e1: a, e2: b}, {}) for a, b in pairs]
    options = {"seed": seed, "shuffle": shuffle, "init": init, "device": device}
    results = run_tasks(
        _Run(features, options), jobs, scheduler=scheduler, progress=progress, label="threshold grid",
        should_stop=should_stop,
    )
    return _table(
        {f"T_{e1}": [a for a, _ in pairs], f"T_{e2}": [b for _, b in pairs]}, results, features.elements
    )


def shuffle_study(
    features: AtomicFeatures,
    thresholds: dict[str, float] | float,
    *,
    n_runs: int = 50,
    seed: int = 0,
    init: str = "random",
    device: str = "auto",
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, list]:
    """Counts over ``n_runs`` seeded shuffles of the visiting order (the paper's Fig. 2c).

    Run ``i`` uses ``LEBank(thresholds, seed=seed + i, shuffle=True)``. Returns columns ``seed``,
    ``structures``, ``atoms``, ``bank_size``, ``seconds`` and ``bank_<element>``.

    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(np.arange(6.0)[:, None], ["H"] * 6, [0, 1, 2, 3, 4, 5])
    >>> len(shuffle_study(f, 1.5, n_runs=3)["structures"])
    3
    """
    if int(n_runs) < 1:
        raise ParameterError(f"n_runs must be at least 1; got {n_runs}")
    seeds = [int(seed) + i for i in range(int(n_runs))]
    jobs = [(thresholds, {"seed": s}) for s in seeds]
    options = {"shuffle": True, "init": init, "device": device}
    results = run_tasks(
        _Run(features, options), jobs, scheduler=scheduler, progress=progress, label="shuffle study",
        should_stop=should_stop,
    )
    return _table({"seed": seeds}, results, features.elements)
