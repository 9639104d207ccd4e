"""Learning curves: RMSE of a model trained on each method's selection, versus selection size.

Every (method, size, repeat) job selects structures from the pool, trains the model on them and
scores it on the selection (training set) and on the prediction set (the test set when given,
otherwise the whole pool). Rows stream out as jobs finish, so a plot can grow while the work
runs; a row of method ``"full"`` trained on the whole pool is the reference line.

Row columns: ``method, size, repeat, n_selected, n_atoms, rmse_e_train, rmse_e_pred, rmse_f_train,
rmse_f_pred, select_seconds, fit_seconds, threshold``; energies in meV/atom, forces in meV/Å
(root mean square over force components). With ``md_check=True`` rows also have ``md_verdict`` and
``rdf_distance`` (Å) from an MD run of the row's model (:mod:`atomsieve.evaluate.md_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np

from atomsieve.errors import ParameterError
from atomsieve.evaluate.jobs import EvaluationContext, train_and_score
from atomsieve.evaluate.selection import DEFAULT_METHODS, select
from atomsieve.parallel import TaskRunner
from atomsieve.progress import ProgressCallback

COLUMNS = ("method", "size", "repeat", "n_selected", "n_atoms", "rmse_e_train", "rmse_e_pred",
           "rmse_f_train", "rmse_f_pred", "select_seconds", "fit_seconds", "threshold")


def _curve_job(context: EvaluationContext, job: tuple[str, int, int, int],
               md: dict | None = None) -> dict[str, Any]:
    method, size, repeat, seed = job
    if method == "full":
        selected, seconds, extra = np.arange(context.prepared.n_structures), 0.0, {}
    else:
        selected, seconds, extra = select(context.features, method, size, seed, context.pool,
                                          context.selector_params.get(method))
    scores = train_and_score(context, selected, seed)
    row = {"method": method, "size": int(size), "repeat": int(repeat), "n_selected": int(len(selected)),
           "n_atoms": int(context.prepared.atom_counts[selected].sum()), **scores,
           "select_seconds": float(seconds), "threshold": extra.get("threshold", "")}
    if md is not None:
        from atomsieve.evaluate.md_rows import MD_COLUMNS, selection_md_row

        row.update(selection_md_row(context, selected, seed, **md))
        return {k: row[k] for k in (*COLUMNS, *MD_COLUMNS)}
    return {k: row[k] for k in COLUMNS}


def _check_sizes(sizes: Iterable, n_structures: int) -> list[int]:
    out = []
    for s in sizes:
        if isinstance(s, float) and not float(s).is_integer():
            if not 0 < s <= 1:
                raise ParameterError(f"size {s}: a fraction must lie in (0, 1]")
            s = max(1, int(round(s * n_structures)))
        s = int(s)
        if not 1 <= s <= n_structures:
            raise ParameterError(f"size {s}: must lie in [1, {n_structures}] (the structures in the pool)")
        out.append(s)
    if not out:
        raise ParameterError("sizes is empty; give at least one number of structures")
    return out


def curve_jobs(methods: Sequence[str], sizes: Sequence[int], repeats: int, seed: int,
               reference: bool, n_structures: int) -> list[tuple[str, int, int, int]]:
    """The (method, size, repeat, seed) jobs of a study; the full-data reference first."""
    from atomsieve.selectors.registry import METHODS

    unknown = [m for m in methods if m not in METHODS and m != "lebank"]
    if unknown:
        known = sorted(set(METHODS) | {"lebank"})
        raise ParameterError(f"unknown selection method(s) {unknown}; choose from {known}")
    if int(repeats) < 1:
        raise ParameterError(f"repeats must be at least 1; got {repeats}")
    jobs = [("full", n_structures, 0, seed)] if reference else []
    for size in sizes:
        for method in methods:
            for r in range(int(repeats)):
                jobs.append((method, size, r, seed + r))
    return jobs


def iter_learning_curves(
    dataset,
    methods: Sequence[str] = DEFAULT_METHODS,
    sizes: Sequence[int | float] = (20, 40, 80, 160),
    model: str = "linear",
    repeats: int = 1,
    seed: int = 0,
    test=None,
    *,
    descriptor=None,
    model_params: dict | None = None,
    selector_params: dict | None = None,
    reference: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    scheduler: Any = None,
    context: EvaluationContext | None = None,
    md_check: bool = False,
    md_options: dict | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield learning-curve rows as their jobs finish; see :func:`learning_curves`."""
    from atomsieve.evaluate.context import build_context

    if context is None:
        context = build_context(dataset, test=test, descriptor=descriptor, model=model,
                                model_params=model_params, selector_params=selector_params)
    sizes = _check_sizes(sizes, context.prepared.n_structures)
    jobs = curve_jobs(list(methods), sizes, repeats, seed, reference, context.prepared.n_structures)
    md = None
    if md_check:
        from atomsieve.evaluate.md_rows import resolve_md_options

        md = resolve_md_options(md_options, context.pool)
    with TaskRunner(scheduler) as runner:
        for _, row in runner.map(partial(_curve_job, context, md=md), jobs, progress=progress,
                                 label="learning curves", should_stop=should_stop):
            yield row


def learning_curves(
    dataset,
    methods: Sequence[str] = DEFAULT_METHODS,
    sizes: Sequence[int | float] = (20, 40, 80, 160),
    model: str = "linear",
    repeats: int = 1,
    seed: int = 0,
    test=None,
    *,
    descriptor=None,
    model_params: dict | None = None,
    selector_params: dict | None = None,
    reference: bool = True,
    progress: ProgressCallback | None = None,
    on_row: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    scheduler: Any = None,
    context: EvaluationContext | None = None,
    md_check: bool = False,
    md_options: dict | None = None,
):
    """RMSE of a model trained on each method's selection, for every size and repeat.

    Parameters
    ----------
    dataset : Dataset
        The pool to select from (with energies in eV and forces in eV/Å).
    methods : sequence of str
        Selection methods: ``lebank`` (threshold calibrated to each size), ``fps``, ``cur``,
        ``cluster``, ``random``, ``energy``, ``force`` and the others of
        :mod:`atomsieve.selectors.registry`.
    sizes : sequence of int (or fractions of the pool)
        Numbers of structures to select.
    model : {"linear", "bpnn"}
    repeats : int
        Repeats per (method, size) with seeds ``seed + repeat``.
    test : Dataset, optional
        The prediction set; the whole pool when omitted.
    descriptor : SymmetryFunctions, optional
        Default: the preset for the dataset's elements.
    model_params, selector_params : dict, optional
        Keyword arguments of the model; per-method keyword arguments of the selectors.
    reference : bool
        Add a row of method ``"full"`` trained on the whole pool.
    progress : callable ``progress(done, total, label)``
    on_row : callable
        Called with each row as soon as its job finishes.
    should_stop : callable
        Polled between jobs; return True to cancel (rows finished so far are returned).
    scheduler : optional
        Where jobs run (:mod:`atomsieve.parallel`): in this process by default.
    context : EvaluationContext, optional
        A prepared context to reuse (skips featurisation).
    md_check : bool
        Also run NVT MD with every row's model and add ``md_verdict`` and ``rdf_distance``
        (:data:`atomsieve.evaluate.md_rows.MD_COLUMNS`). Slow; off by default.
    md_options : dict, optional
        MD system, reference and settings (:func:`atomsieve.evaluate.md_rows.resolve_md_options`).

    Returns
    -------
    pandas.DataFrame
        One row per job, columns :data:`COLUMNS` (and the MD columns), sorted by method, size and repeat.

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.descriptors import preset
    >>> pool = load_default("test").subset(range(12))
    >>> table = learning_curves(pool, methods=["random", "fps"], sizes=[4, 8],
    ...                         descriptor=preset(None, ["Ge"], r_cut=3.0))
    >>> table[["method", "size"]].values.tolist()
    [['fps', 4], ['fps', 8], ['full', 12], ['random', 4], ['random', 8]]
    >>> bool((table["rmse_f_pred"] > 0).all())
    True
    """
    import pandas as pd

    rows = []
    for row in iter_learning_curves(dataset, methods, sizes, model, repeats, seed, test,
                                    descriptor=descriptor,
                                    model_params=model_params, selector_params=selector_params,
                                    reference=reference, progress=progress, should_stop=should_stop,
                                    scheduler=scheduler, context=context, md_check=md_check,
                                    md_options=md_options):
        rows.append(row)
        if on_row is not None:
            on_row(row)
    from atomsieve.evaluate.md_rows import MD_COLUMNS

    table = pd.DataFrame(rows, columns=list(COLUMNS) + (list(MD_COLUMNS) if md_check else []))
    return table.sort_values(["method", "size", "repeat"], kind="stable").reset_index(drop=True)


def summarize(table) -> Any:
    """Mean and standard deviation over repeats per (method, size), as a DataFrame."""
    metrics = ["rmse_e_train", "rmse_e_pred", "rmse_f_train", "rmse_f_pred", "n_selected", "n_atoms",
               "select_seconds", "fit_seconds"]
    grouped = table.groupby(["method", "size"], sort=True)[metrics]
    mean = grouped.mean()
    std = grouped.std(ddof=0).add_suffix("_std")
    return mean.join(std).reset_index()
