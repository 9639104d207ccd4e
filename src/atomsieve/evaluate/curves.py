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
from typing import Any, TypedDict

import numpy as np
from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

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


class StudyOptions(TypedDict, total=False):
    """Keyword options shared by every evaluation study (learning curves, threshold curves and grids).

    ``descriptor``: the SymmetryFunctions (default: the preset for the data's elements);
    ``model_params`` / ``selector_params``: keyword arguments of the model and, per method, of the
    selectors; ``progress(done, total, label)``; ``on_row(row)`` called with each row as its job
    finishes; ``should_stop()`` polled between jobs (True cancels; rows finished so far are kept);
    ``scheduler``: where jobs run (:mod:`atomsieve.parallel`; default ``"threads"``, a pool of threads in
    this process; ``"serial"`` for one job after another);
    ``context``: a prepared :class:`EvaluationContext` to reuse (skips featurisation).
    """

    descriptor: Any
    model_params: dict | None
    selector_params: dict | None
    progress: ProgressCallback | None
    on_row: Callable[[dict], None] | None
    should_stop: Callable[[], bool] | None
    scheduler: Any
    context: EvaluationContext | None


class CurveOptions(StudyOptions, total=False):
    """:class:`StudyOptions` plus the learning curves' own: ``reference`` (add the full-data row,
    default True), ``md_check`` and ``md_options`` (MD verdicts per row, default off)."""

    reference: bool
    md_check: bool
    md_options: dict | None


def study_options(options: dict, kind: type = StudyOptions, **defaults) -> dict[str, Any]:
    """``options`` checked against the TypedDict ``kind``: every key, None (or ``defaults``) if not given.

    >>> study_options({"scheduler": "serial"}, reference=True)["reference"]
    True
    >>> study_options({"sheduler": "serial"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: unexpected keyword argument(s) ['sheduler']; accepted: [...]
    """
    known = kind.__required_keys__ | kind.__optional_keys__
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}; accepted: {sorted(known)}")
    out = {**dict.fromkeys(known), **defaults, **options}
    if "scheduler" in known and out["scheduler"] is None:
        out["scheduler"] = "threads"  # independent jobs in parallel by default
    return out


def iter_learning_curves(
    dataset,
    methods: Sequence[str] = DEFAULT_METHODS,
    sizes: Sequence[int | float] = (20, 40, 80, 160),
    model: str = "linear", repeats: int = 1, seed: int = 0, test=None,
    **options: Unpack[CurveOptions],
) -> Iterator[dict[str, Any]]:
    """Yield learning-curve rows as their jobs finish; see :func:`learning_curves`."""
    from atomsieve.evaluate.context import build_context

    opts = study_options(options, CurveOptions, reference=True, md_check=False)
    context = opts["context"]
    if context is None:
        context = build_context(dataset, test=test, descriptor=opts["descriptor"], model=model,
                                model_params=opts["model_params"], selector_params=opts["selector_params"])
    sizes = _check_sizes(sizes, context.prepared.n_structures)
    jobs = curve_jobs(list(methods), sizes, repeats, seed, opts["reference"], context.prepared.n_structures)
    md = None
    if opts["md_check"]:
        from atomsieve.evaluate.md_rows import resolve_md_options

        md = resolve_md_options(opts["md_options"], context.pool)
    with TaskRunner(opts["scheduler"]) as runner:
        for _, row in runner.map(partial(_curve_job, context, md=md), jobs, progress=opts["progress"],
                                 label="learning curves", should_stop=opts["should_stop"]):
            if opts["on_row"] is not None:
                opts["on_row"](row)
            yield row


def learning_curves(
    dataset,
    methods: Sequence[str] = DEFAULT_METHODS,
    sizes: Sequence[int | float] = (20, 40, 80, 160),
    model: str = "linear", repeats: int = 1, seed: int = 0, test=None,
    **options: Unpack[CurveOptions],
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
    **options
        :class:`CurveOptions`: ``descriptor``, ``model_params``, ``selector_params``, ``progress``,
        ``on_row``, ``should_stop``, ``scheduler``, ``context`` (see :class:`StudyOptions`);
        ``reference`` (default True) adds a row of method ``"full"`` trained on the whole pool;
        ``md_check`` (default False) also runs NVT MD with every row's model and adds
        ``md_verdict`` and ``rdf_distance`` (:data:`atomsieve.evaluate.md_rows.MD_COLUMNS`; slow),
        with the MD system, reference and settings in ``md_options``
        (:func:`atomsieve.evaluate.md_rows.resolve_md_options`).

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

    from atomsieve.evaluate.md_rows import MD_COLUMNS

    rows = list(iter_learning_curves(dataset, methods, sizes, model, repeats, seed, test, **options))
    columns = list(COLUMNS) + (list(MD_COLUMNS) if options.get("md_check") else [])
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["method", "size", "repeat"], kind="stable").reset_index(drop=True)


def summarize(table) -> Any:
    """Mean and standard deviation over repeats per (method, size), as a DataFrame."""
    metrics = ["rmse_e_train", "rmse_e_pred", "rmse_f_train", "rmse_f_pred", "n_selected", "n_atoms",
               "select_seconds", "fit_seconds"]
    grouped = table.groupby(["method", "size"], sort=True)[metrics]
    mean = grouped.mean()
    std = grouped.std(ddof=0).add_suffix("_std")
    return mean.join(std).reset_index()
