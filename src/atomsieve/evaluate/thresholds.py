"""Error versus LE-bank threshold: the paper's Fig. 3 (one element) and Fig. 5 (a two-element grid).

For each threshold (or pair of per-element thresholds) the LE-bank selects structures, the model
is trained on them and scored on the training and prediction sets. Rows: ``threshold_<El>`` per
element, ``n_selected``, ``n_atoms``, ``percent``, the four RMSE columns (meV/atom, meV/Å),
``select_seconds`` and ``fit_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

from atomsieve.errors import ParameterError
from atomsieve.evaluate.curves import StudyOptions, study_options
from atomsieve.evaluate.jobs import EvaluationContext, train_and_score
from atomsieve.parallel import TaskRunner


def _threshold_job(context: EvaluationContext, job: tuple[dict[str, float], int]) -> dict[str, Any]:
    from atomsieve.selectors.lebank import LEBank

    thresholds, seed = job
    options = context.selector_params.get("lebank", {})
    start = time.perf_counter()
    selector = LEBank(thresholds=thresholds, seed=seed, **options).fit(context.features)
    seconds = time.perf_counter() - start
    selected = np.asarray(selector.selected_, dtype=np.int64)
    row: dict[str, Any] = {f"threshold_{el}": float(t) for el, t in thresholds.items()}
    row.update(n_selected=int(len(selected)), n_atoms=int(context.prepared.atom_counts[selected].sum()),
               percent=100.0 * len(selected) / context.prepared.n_structures)
    row.update(train_and_score(context, selected, seed))
    row["select_seconds"] = seconds
    return row


def _run(context: EvaluationContext, jobs: list, opts: dict) -> Iterator[dict]:
    with TaskRunner(opts["scheduler"]) as runner:
        for _, row in runner.map(partial(_threshold_job, context), jobs, progress=opts["progress"],
                                 label="threshold curve", should_stop=opts["should_stop"]):
            if opts["on_row"] is not None:
                opts["on_row"](row)
            yield row


def _context(dataset, model: str, test, opts: dict, lebank_params: dict) -> EvaluationContext:
    from atomsieve.evaluate.context import build_context

    if opts["context"] is not None:
        return opts["context"]
    return build_context(dataset, test=test, descriptor=opts["descriptor"], model=model,
                         model_params=opts["model_params"], selector_params={"lebank": lebank_params})


def threshold_curves(
    dataset,
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.1, 0.4501, 0.025), 3)),
    *,
    element: str | None = None,
    fixed: dict[str, float] | None = None,
    model: str = "linear", test=None, seed: int = 0,
    **options: Unpack[StudyOptions],
):
    """RMSE on training and prediction sets versus the LE-bank threshold (Fig. 3).

    Parameters
    ----------
    thresholds : sequence of float
        Values of the threshold (fingerprint distance; default 0.1 to 0.45 in steps of 0.025).
    element : str, optional
        The element whose threshold varies; every element when omitted (one shared threshold).
    fixed : dict, optional
        Thresholds of the other elements when ``element`` is given.
    model, test, seed
        As in :func:`learning_curves`.
    **options
        :class:`~atomsieve.evaluate.curves.StudyOptions`; here ``selector_params`` holds further
        :class:`LEBank` arguments (``shuffle``, ``init``, ``device``).

    Returns
    -------
    pandas.DataFrame, sorted by threshold.

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.descriptors import preset
    >>> t = threshold_curves(load_default("test").subset(range(10)), [0.2, 0.4],
    ...                      descriptor=preset(None, ["Ge"], r_cut=3.0))
    >>> t[["threshold_Ge", "n_selected"]].values.tolist()[0][0], bool(t["n_selected"].is_monotonic_decreasing)
    (0.2, True)
    """
    import pandas as pd

    opts = study_options(options)
    ctx = _context(dataset, model, test, opts, dict(opts["selector_params"] or {}))
    elements = ctx.features.elements
    if element is not None and element not in elements:
        raise ParameterError(f"element {element!r} is not in the data (elements: {elements})")
    fixed = dict(fixed or {})
    if element is not None:
        missing = [e for e in elements if e != element and e not in fixed]
        if missing:
            raise ParameterError(f"give fixed thresholds for the other element(s) {missing}")
    if not len(thresholds):
        raise ParameterError("thresholds is empty")
    jobs = []
    for t in thresholds:
        per = {e: float(t) for e in elements} if element is None else {**fixed, element: float(t)}
        jobs.append((per, seed))
    rows = list(_run(ctx, jobs, opts))
    key = f"threshold_{element or elements[0]}"
    return pd.DataFrame(rows).sort_values(key).reset_index(drop=True) if rows else pd.DataFrame(rows)


def threshold_error_grid(
    dataset,
    element_a: str,
    values_a: Sequence[float],
    element_b: str,
    values_b: Sequence[float],
    *,
    model: str = "linear", test=None, seed: int = 0,
    **options: Unpack[StudyOptions],
):
    """RMSE over a grid of two elements' thresholds (Fig. 5): one row per pair.

    The selection counts alone over such a grid are :func:`atomsieve.selectors.threshold_count_grid`.

    Other elements, if any, take ``selector_params["thresholds"]`` (a dict) or raise.
    """
    import pandas as pd

    opts = study_options(options)
    params = dict(opts["selector_params"] or {})
    others = params.pop("thresholds", {})
    ctx = _context(dataset, model, test, opts, params)
    elements = ctx.features.elements
    for el in (element_a, element_b):
        if el not in elements:
            raise ParameterError(f"element {el!r} is not in the data (elements: {elements})")
    if element_a == element_b:
        raise ParameterError("threshold_error_grid needs two different elements")
    missing = [e for e in elements if e not in (element_a, element_b) and e not in others]
    if missing:
        raise ParameterError(
            f"give thresholds for the other element(s) {missing} in selector_params['thresholds']")
    jobs = [({**others, element_a: float(a), element_b: float(b)}, seed) for a in values_a for b in values_b]
    if not jobs:
        raise ParameterError("the threshold grid is empty")
    rows = list(_run(ctx, jobs, opts))
    frame = pd.DataFrame(rows)
    if rows:
        frame = frame.sort_values([f"threshold_{element_a}", f"threshold_{element_b}"]).reset_index(drop=True)
    return frame
