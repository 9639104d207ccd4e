"""Live model error of the current selection, and of the other methods at the same size. No widgets.

Once a dataset's fingerprints exist, the model input (scaled fingerprints with their Jacobian and
labels, :func:`atomsieve.app.compare_state.evaluation_context`, shared with the Compare tab) is
prepared in the background. From then on every new selection outcome (slider move, budget fill,
seed, shuffle) gives, off the UI thread:

1. ``current``: a model (the fast linear one by default) trained on the current selection and
   scored on the prediction set (the test set when there is one, else the whole pool) and on the
   selection itself;
2. ``at_size``: the same for every compared method (FPS, CUR, random, energy/force-uniform...)
   selecting the same number of structures (``size_unit="structures"``) or about the same number
   of atoms (``"atoms"``), computed, not read off a curve; ``at_size["lebank"]`` is ``current``;
3. ``curves``: rows of every method at sizes of a geometric grid, filled outwards from the current
   size in the background (plus every "at this size" row, so the curves refine where the user
   moves), and LE-bank rows from a sweep of the focus element's threshold, which are also the
   RMSE-versus-threshold curve (the paper's Fig. 3).

The newest request wins: a running computation stops between fits when a newer one arrives, and
results carrying an older key are dropped. Rows are cached process-wide (:data:`ROWS`) on an
explicit key (evaluation-context key, method, size, seed), so returning to a size costs nothing.

Units: energy RMSE in meV/atom, force RMSE in meV/Å (root mean square over force components).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import numpy as np
import param

from atomsieve.app.background import Background, Job
from atomsieve.app.compare_state import check_model_input, context_key, evaluation_context
from atomsieve.app.selection_state import SelectionState, run_selection, selection_key
from atomsieve.app.studies_state import GRID_THRESHOLDS
from atomsieve.errors import ParameterError
from atomsieve.keyed_cache import KeyedCache

#: Methods compared with the LE-bank selection by default (registry names).
COMPARED_METHODS = ["fps", "cur", "random", "energy", "force"]
#: Sizes per method on the curves' geometric grid.
CURVE_POINTS = 10
#: Thresholds of the focus element swept for the LE-bank curve and the RMSE-vs-threshold plot.
SWEEP_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.05, 1.0001, 0.05), 3))
#: Columns of a model-error row (the CSV export's header).
ROW_COLUMNS = ("method", "size", "n_selected", "n_atoms", "threshold", "rmse_e_pred", "rmse_f_pred",
               "rmse_e_train", "rmse_f_train", "select_seconds", "fit_seconds", "model", "seed")


#: Model-error rows shared by every session of this process (a few hundred bytes each).
ROWS = KeyedCache(max_entries=20_000)


def selection_digest(selected: np.ndarray) -> str:
    """A short digest of structure indices (order kept): the cache key of a given selection."""
    return hashlib.sha256(np.asarray(selected, dtype=np.int64).tobytes()).hexdigest()[:16]


def fit_and_score(context, selected: np.ndarray, seed: int = 0, should_stop=None) -> dict[str, Any]:
    """Train the context's model on the pool structures ``selected`` and score it (meV/atom, meV/Å).

    :func:`atomsieve.evaluate.jobs.train_and_score` plus the selection's size; a neural network
    polls ``should_stop()`` between epochs. The linear model runs with one BLAS thread: its
    products are small, and contended BLAS threads on a busy machine made it up to 25x slower.
    """
    from atomsieve.evaluate.jobs import train_and_score
    from atomsieve.selectors.structure_points import one_blas_thread

    train = train_and_score if context.model == "bpnn" else one_blas_thread(train_and_score)
    scores = train(context, selected, seed, should_stop)
    selected = np.asarray(selected, dtype=np.int64)
    return {"n_selected": int(len(selected)), "n_atoms": int(context.prepared.atom_counts[selected].sum()),
            **{k: float(v) for k, v in scores.items()}}


def _row(method: str, size: int, scores: dict, *, threshold="", select_seconds=0.0, model="linear",
         seed=0) -> dict[str, Any]:
    row = {"method": method, "size": int(size), "threshold": threshold,
           "select_seconds": float(select_seconds), "model": model, "seed": int(seed), **scores}
    return {k: row[k] for k in ROW_COLUMNS}


#: Greedy methods: their ``n`` structures are the first ``n`` of their ordering of the whole pool,
#: so "at this size" slices one ordering instead of selecting again (tested against ``select``).
PREFIX_METHODS = ("fps", "cur")
_ORDERS = KeyedCache(max_entries=8)
#: Shortest ordering computed: short requests share one run.
MIN_ORDER = 64


def method_order(context, ckey: tuple, method: str, seed: int = 0, size: int | None = None,
                 ) -> tuple[np.ndarray, float]:
    """A greedy method's ordering of at least ``size`` pool structures (all when None) and the seconds
    it took, kept for a few pools.

    A greedy ordering of every structure costs O(n²) (minutes for 10^5 structures), so only a prefix
    is computed: twice the longest asked for so far, at least ``size``; its first ``n`` picks are
    the method's selection of ``n``, whatever the prefix's length.
    """
    from atomsieve.evaluate.selection import select

    n_pool = context.prepared.n_structures
    want = n_pool if size is None else min(n_pool, int(size))
    key = (ckey, method, int(seed))
    hit = _ORDERS.get(key)
    if hit is not None and len(hit[0]) >= want:
        return hit
    n = min(n_pool, max(want, 2 * (len(hit[0]) if hit is not None else 0), MIN_ORDER))
    chosen, seconds, _ = select(context.features, method, n, seed, context.pool)
    _ORDERS.put(key, (chosen, seconds))
    return chosen, seconds


def method_row(context, ckey: tuple, method: str, size: int, seed: int = 0, should_stop=None) -> dict:
    """``method`` selects ``size`` structures of the pool; the model trained on them, scored (cached)."""
    from atomsieve.evaluate.selection import select

    key = (ckey, method, int(size), int(seed))
    hit = ROWS.get(key)
    if hit is not None:
        return hit
    if method in PREFIX_METHODS and not context.selector_params.get(method):
        order, seconds = method_order(context, ckey, method, seed, size)
        selected = order[:int(size)]
    else:
        selected, seconds, _ = select(context.features, method, int(size), seed, context.pool,
                                      context.selector_params.get(method))
    row = _row(method, size, fit_and_score(context, selected, seed, should_stop), select_seconds=seconds,
               model=context.model, seed=seed)
    ROWS.put(key, row)
    return row


def method_row_at_atoms(context, ckey: tuple, method: str, atoms: int, seed: int = 0,
                        should_stop=None) -> dict:
    """The :func:`method_row` whose selection holds the number of atoms closest to ``atoms``.

    The number of structures is found by a few secant steps on the method's own selections
    (methods differ in the structures they prefer, so their atoms per structure differ).
    """
    counts = context.prepared.atom_counts
    n_total = len(counts)
    n = int(np.clip(round(atoms / counts.mean()), 1, n_total))
    tried: dict[int, dict] = {}
    for _ in range(6):
        row = tried[n] = method_row(context, ckey, method, n, seed, should_stop)
        got = row["n_atoms"]
        if got == atoms:
            break
        step = int(np.clip(round(n * atoms / max(got, 1)), 1, n_total))
        if step == n:
            step = int(np.clip(n + (1 if got < atoms else -1), 1, n_total))
        if step in tried:
            break
        n = step
    return min(tried.values(), key=lambda r: (abs(r["n_atoms"] - atoms), r["n_selected"]))


def lebank_row(context, ckey: tuple, features, dataset_hash: str, thresholds: dict[str, float], seed: int,
               shuffle: bool, should_stop=None) -> dict | None:
    """LE-bank at ``thresholds`` (the slider's own fit, from the outcome cache), the model trained on
    its selection and scored (cached); None when nothing is selected."""
    key = selection_key(features, dataset_hash, thresholds, seed, shuffle)
    out = run_selection(features, key, thresholds, seed, shuffle)
    if not len(out.selected):
        return None
    skey = (ckey, "selection", selection_digest(out.selected), int(seed))
    row = ROWS.get(skey)
    if row is None:
        row = _row("lebank", len(out.selected), fit_and_score(context, out.selected, seed, should_stop),
                   select_seconds=out.seconds, model=context.model, seed=seed)
        ROWS.put(skey, row)
    return row


def curve_sizes(n_structures: int, points: int = CURVE_POINTS) -> list[int]:
    """A geometric grid of selection sizes from 2 to the pool size (without the pool itself).

    >>> curve_sizes(228, 6)
    [2, 5, 13, 34, 88]
    """
    grid = np.unique(np.round(np.geomspace(2, max(n_structures, 3), points)).astype(int))
    return [int(s) for s in grid if 1 <= s < n_structures]


def nearest_first(values, around: float, log: bool = True) -> list:
    """``values`` ordered by distance from ``around`` (on a log scale when ``log``).

    >>> nearest_first([2, 10, 40, 100], 30)
    [40, 10, 100, 2]
    """
    f = (lambda v: np.log(max(float(v), 1e-9))) if log else float
    return sorted(values, key=lambda v: (abs(f(v) - f(around)), v))


class ModelErrorState(param.Parameterized):
    """Thresholds in (through the selection), prediction-set RMSE of the selection and of the others out.

    Parameters
    ----------
    selection : SelectionState
        The live LE-bank selection whose outcome is scored.
    test : Dataset, optional
        The prediction set; the whole pool when None.
    model : {"linear", "bpnn"}
        The model trained on each selection (linear: milliseconds per fit).
    methods : list of str
        Methods compared with the LE-bank at the current size.
    size_unit : {"structures", "atoms"}
        How "the same size" is measured for the other methods.
    synchronous : bool
        Compute in the calling thread (tests, benchmarks); the curves then fill only on
        :meth:`fill_curves`.

    Examples
    --------
    >>> from atomsieve.app.features_state import FeaturesState
    >>> from atomsieve.app.state import DatasetState
    >>> from atomsieve.datasets import load_default
    >>> ds = load_default("test")
    >>> fs = FeaturesState(data=DatasetState(dataset=ds, title="Ge test"), r_cut=3.0)
    >>> _ = fs.compute_now()
    >>> sel = SelectionState(features_state=fs, synchronous=True)
    >>> errors = ModelErrorState(selection=sel, methods=["random"], synchronous=True)
    >>> _ = errors.prepare_now()
    >>> sel.thresholds = {"Ge": 0.5}
    >>> errors.current["n_selected"] == sel.outcome.n_structures, errors.current["rmse_f_pred"] > 0
    (True, True)
    >>> sorted(errors.at_size), errors.at_size["random"]["n_selected"] == sel.outcome.n_structures
    (['lebank', 'random'], True)
    """

    selection = param.ClassSelector(class_=SelectionState)
    test = param.Parameter(default=None, doc="prediction set (Dataset); the whole pool when None")
    model = param.Selector(default="linear", objects=["linear", "bpnn"],
                           doc="model trained on each selection")
    methods = param.List(default=list(COMPARED_METHODS), doc="methods compared at the current size")
    size_unit = param.Selector(default="structures", objects=["structures", "atoms"],
                               doc="the same size in structures or in atoms")
    synchronous = param.Boolean(default=False, doc="compute in the calling thread")
    auto_curves = param.Boolean(default=True, doc="fill the curves in the background after each result")
    # outputs
    ready = param.Boolean(default=False, doc="the model input is prepared")
    preparing = param.Boolean(default=False, doc="the model input is being prepared")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="preparation progress")
    status = param.String(default="", doc="one line on what is happening")
    training = param.Boolean(default=False, doc="a model for the current selection is being trained")
    comparing = param.Boolean(default=False, doc="the other methods' rows at this size are coming in")
    current = param.Dict(default={}, doc="row of the current selection (meV/atom, meV/Å)")
    at_size = param.Dict(default={}, doc="method -> row at the current size; 'lebank' is the selection")
    curves = param.List(default=[], doc="rows of every method at grid sizes and the LE-bank sweep")
    curve_progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="fraction of the curve points done")
    error_grid = param.Dict(default={}, doc="T_<a>, T_<b>, n_selected and the RMSE columns over two "
                            "elements' thresholds (Fig. 5)")
    error_grid_elements = param.List(default=[], doc="the two elements of the error grid")
    grid_progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="fraction of the error grid done")

    def __init__(self, background: Background | None = None, **params):
        super().__init__(**params)
        self.background = background or self.selection.background
        # The model input and the key it was prepared for, replaced together: a notebook's callbacks
        # run on worker threads, and a reader must never pair one context with another's key.
        self._prepared: tuple = (None, None)
        self._wanted: tuple | None = None
        self._job: Job | None = None
        self._curve_job: Job | None = None
        self._prepare_job: Job | None = None
        self._grid_job: Job | None = None
        self._sweep_key: tuple | None = None
        self.selection.param.watch(lambda *_e: self.request(), ["outcome"])
        self.selection.features_state.param.watch(lambda *_e: self.prepare(), ["features"])
        self.selection.features_state.data.param.watch(lambda *_e: self.reset(), ["dataset"], precedence=2)
        self.param.watch(lambda *_e: self.reset(prepare=True), ["test", "model"])
        self.param.watch(lambda *_e: self.request(), ["methods", "size_unit"])
        if self.selection.features is not None and not self.synchronous:
            self.prepare()

    # -- the model input ----------------------------------------------------------------------------
    def _context_args(self) -> tuple:
        fs = self.selection.features_state
        return fs.data.dataset, self.test, self.model, fs.descriptor()

    def _shared_features(self, descriptor):
        """The selection's fingerprints when they are this descriptor's: the model input shares them."""
        from atomsieve.digest import params_digest

        feats = self.selection.features
        if feats is None or descriptor is None:
            return None
        return feats if params_digest(feats.params or {}) == params_digest(descriptor.params) else None

    def reset(self, prepare: bool = False) -> None:
        """Forget the context and every result (a new dataset, prediction set or model)."""
        for job in (self._job, self._curve_job, self._prepare_job, self._grid_job):
            if job is not None and job.running:
                job.cancel()
        self.error_grid, self.error_grid_elements = {}, []
        self._prepared, self._wanted, self._sweep_key = (None, None), None, None
        with param.parameterized.batch_call_watchers(self):
            self.ready = self.preparing = self.training = self.comparing = False
            self.current, self.at_size, self.curves = {}, {}, []
            self.progress, self.curve_progress, self.status = 0.0, 0.0, ""
        if prepare:
            self.prepare()

    def prepare_now(self):
        """Prepare the model input in this thread (notebooks, tests); returns the context."""
        args = self._context_args()
        self._publish(context_key(*args), evaluation_context(*args, features=self._shared_features(args[3])))
        return self.context

    def prepare(self) -> Job | None:
        """Prepare the model input in the background (progress in ``progress``); then score."""
        if self.selection.features is None:
            return None
        args = self._context_args()
        ckey = context_key(*args)
        if ckey == self._ckey and (self.ready or self.preparing):
            return self._prepare_job
        try:
            features = self._shared_features(args[3])
            check_model_input(args[0], args[1], args[3], features is not None)  # too large: say so
        except ParameterError as exc:
            self._prepared = (ckey, None)
            with param.parameterized.batch_call_watchers(self):
                self.ready, self.preparing, self.progress = False, False, 0.0
                self.status = f"model error off: {exc}"
            return None
        if self.synchronous:
            self.prepare_now()
            return None
        self._prepared = (ckey, None)  # requests wait for the new context (descriptor changed)
        dataset = args[0]
        with param.parameterized.batch_call_watchers(self):
            self.ready, self.preparing, self.progress = False, True, 0.0
            self.status = (f"preparing the model input ({self.model}: fingerprint derivatives of "
                           f"{dataset.n_atoms:,} atoms)…")

        def work(cancelled, emit):
            from atomsieve.app.outcomes import waited_for

            with waited_for():  # the slider precomputation waits for the model input
                return evaluation_context(*args, features=features, should_stop=cancelled.is_set,
                                          progress=lambda done, total, label="": emit(done / max(total, 1)))

        def on_emit(frac):
            if self._ckey == ckey:
                self.progress = float(min(max(frac, 0.0), 1.0))

        def finished():
            if self._ckey == ckey and not self.ready:
                self.preparing = False
                if job.error is not None:
                    self.status = f"preparing the model input failed: {job.error}"

        job = self._prepare_job = Job("model input")  # made first: ``finished`` may run before submit returns
        return self.background.submit("model input", work, on_result=lambda ctx: self._publish(ckey, ctx),
                                      on_emit=on_emit, on_finally=finished, job=job)

    def _publish(self, ckey: tuple, context) -> None:
        if self._ckey is not None and ckey != self._ckey and not self.synchronous:
            return  # prepared for a dataset or model the user has left
        self._prepared = (ckey, context)
        with param.parameterized.batch_call_watchers(self):
            self.ready, self.preparing, self.progress = True, False, 1.0
            where = "the test set" if context.test is not None else "the whole pool"
            self.status = f"{self.model} model, prediction set: {where}"
        self.request()

    # -- the current selection ----------------------------------------------------------------------
    @property
    def context(self):
        """The prepared model input (``EvaluationContext``), or None while it is being prepared."""
        return self._prepared[1]

    @property
    def _ckey(self) -> tuple | None:
        return self._prepared[0]

    def request_key(self, prepared: tuple | None = None, out=None) -> tuple | None:
        """What the current numbers depend on: context, selection outcome, methods, size unit, seed."""
        ckey, context = prepared or self._prepared
        out = out or self.selection.outcome
        if context is None or out is None or not self.selection.outcome_is_current():
            return None
        return (ckey, out.key, tuple(self.methods), self.size_unit)

    def request(self) -> None:
        """Score the current selection and the others at its size (now, or in the background)."""
        prepared, out = self._prepared, self.selection.outcome  # read once: other threads may move them
        key = self.request_key(prepared, out)
        if key is None:
            return
        if key == self._wanted and self.current.get("key") == key:
            return
        self._wanted = key
        if self._job is not None and self._job.running:
            self._job.cancel()  # newest wins: the old one stops between fits, its results dropped
        if self._curve_job is not None and self._curve_job.running:
            self._curve_job.cancel()
        ckey, context = prepared
        selected = out.selected.copy()
        methods, unit, seed = list(self.methods), self.size_unit, int(self.selection.seed)
        thresholds = out.thresholds or self.selection.thresholds
        label = ";".join(f"{e}={t:.6g}" for e, t in sorted(thresholds.items()))
        args = (context, ckey, key, selected, label, out.seconds, methods, unit, seed)
        if self.synchronous:
            for item in self._score(*args, threading.Event()):
                self._deliver(item)
            return
        with param.parameterized.batch_call_watchers(self):
            self.training = self.comparing = True

        def work(cancelled, emit):
            for item in self._score(*args, cancelled):
                if cancelled.is_set():
                    return None
                emit(item)
            return key

        def finished():
            if self._job is job:
                with param.parameterized.batch_call_watchers(self):
                    self.training = self.comparing = False
                if job.error is None and not job.cancelled.is_set() and self.auto_curves:
                    if self.model == "linear":  # a network's curves are the Compare tab's batch study
                        self.fill_curves()

        job = self._job = Job("model error")
        self.background.submit("model error", work, on_emit=self._deliver, on_finally=finished, job=job)

    @staticmethod
    def _score(context, ckey, key, selected, label, seconds, methods, unit, seed, cancelled):
        """Items ``(kind, key, payload)``: the selection's row first, then one per compared method."""
        if not len(selected):
            return
        stop = cancelled.is_set
        skey = (ckey, "selection", selection_digest(selected), seed)
        row = ROWS.get(skey)
        if row is None:
            row = _row("lebank", len(selected), fit_and_score(context, selected, seed, stop),
                       threshold=label, select_seconds=seconds, model=context.model, seed=seed)
            ROWS.put(skey, row)
        yield "current", key, row
        for method in methods:
            if cancelled.is_set():
                return
            if method == "lebank":
                continue
            if unit == "atoms":
                other = method_row_at_atoms(context, ckey, method, row["n_atoms"], seed, stop)
            else:
                other = method_row(context, ckey, method, row["n_selected"], seed, stop)
            yield "at_size", key, other

    def _deliver(self, item) -> None:
        kind, key, row = item
        if key != self._wanted:
            return  # a newer request is on its way: stale results never overwrite newer ones
        if kind == "current":
            with param.parameterized.batch_call_watchers(self):
                self.at_size = {"lebank": row}
                self.current = {**row, "key": key}
                self.training = False  # the selection's own model is done; the others stream in
        else:
            with param.parameterized.batch_call_watchers(self):
                self.at_size = {**self.at_size, row["method"]: row}
                self._add_curve_row(row)

    def _add_curve_row(self, row: dict) -> None:
        same = (row["method"], row["n_selected"], row["threshold"] if row.get("sweep") else "")
        if not any((r["method"], r["n_selected"], r["threshold"] if r.get("sweep") else "") == same
                   for r in self.curves):
            self.curves = [*self.curves, row]

    @property
    def current_is_fresh(self) -> bool:
        """Whether ``current`` belongs to the selection shown now."""
        key = self.request_key()
        return key is not None and self.current.get("key") == key

    # -- curves -------------------------------------------------------------------------------------
    def sweep_key(self) -> tuple:
        """What the LE-bank sweep depends on: focus element, the other thresholds, seed, shuffle."""
        sel = self.selection
        fixed = tuple(sorted((e, t) for e, t in sel.thresholds.items() if e != sel.focus))
        return (self._ckey, sel.focus, fixed, sel.seed, sel.shuffle)

    def curve_jobs(self) -> list[tuple[str, float]]:
        """The points still to compute, nearest to the current size first: ``(method, size)`` and
        ``("lebank", threshold)``."""
        context = self.context
        if context is None or not self.current:
            return []
        n_pool = context.prepared.n_structures
        n_now = self.current["n_selected"]
        if self.size_unit == "atoms":
            n_now = max(1.0, self.current["n_atoms"] / float(context.prepared.atom_counts.mean()))
        done = {(r["method"], r["size"]) for r in self.curves if r["method"] != "lebank"}
        jobs = []
        for size in nearest_first(curve_sizes(n_pool), n_now):
            jobs += [(m, size) for m in self.methods if m != "lebank" and (m, size) not in done]
        swept = {r["threshold"] for r in self.curves if r["method"] == "lebank" and r.get("sweep")}
        focus_t = self.selection.thresholds.get(self.selection.focus, 0.3)
        jobs += [("lebank", t) for t in nearest_first(SWEEP_THRESHOLDS, focus_t, log=False) if t not in swept]
        # interleave: a method point, a threshold point, so both curves grow around the marker
        methods = [j for j in jobs if j[0] != "lebank"]
        sweep = [j for j in jobs if j[0] == "lebank"]
        order = []
        while methods or sweep:
            order += methods[:len(self.methods)]
            methods = methods[len(self.methods):]
            order += sweep[:1]
            sweep = sweep[1:]
        return order

    def fill_curves(self, max_points: int | None = None) -> Job | None:
        """Compute the curve points nearest the current size first (background unless synchronous)."""
        if self.sweep_key() != self._sweep_key:
            self._sweep_key = self.sweep_key()
            self.curves = [r for r in self.curves if r["method"] != "lebank"]
        seed_now = int(self.selection.seed)
        if any(r["seed"] != seed_now for r in self.curves):  # random (and FPS's start) follow the seed
            self.curves = [r for r in self.curves if r["seed"] == seed_now]
        jobs = self.curve_jobs()[:max_points]
        if not jobs:
            self.curve_progress = 1.0
            return None
        sel, (ckey, context) = self.selection, self._prepared
        seed, shuffle, focus = int(sel.seed), bool(sel.shuffle), sel.focus
        base = dict(sel.thresholds)
        feats, digest = sel.features, sel.dataset.content_hash()
        sweep_key = self._sweep_key
        total = len(jobs)

        def point(job, stop):
            method, value = job
            if method != "lebank":
                return method_row(context, ckey, method, int(value), seed, stop)
            row = lebank_row(context, ckey, feats, digest, {**base, focus: float(value)}, seed, shuffle, stop)
            return None if row is None else {**row, "threshold": float(value), "sweep": True}

        def add(item):
            done, row = item
            if ckey != self._ckey or sweep_key != self._sweep_key:
                return
            self.curve_progress = done / total
            if row is not None:
                self._add_curve_row(row)

        if self.synchronous:
            for i, job in enumerate(jobs):
                add((i + 1, point(job, None)))
            return None
        selection = self.selection

        def work(cancelled, emit):
            for i, job in enumerate(jobs):
                while (selection.busy or self.training or self.comparing) and not cancelled.is_set():
                    time.sleep(0.02)  # the slider's own work goes first
                if cancelled.is_set():
                    return None
                emit((i + 1, point(job, cancelled.is_set)))
            return total

        if self._curve_job is not None and self._curve_job.running:
            self._curve_job.cancel()
        self.curve_progress = 0.0
        self._curve_job = self.background.submit("model-error curves", work, on_emit=add)
        return self._curve_job

    def run_error_grid(self, first: str, second: str, thresholds=GRID_THRESHOLDS) -> Job | None:
        """Prediction- and training-set RMSE over a grid of two elements' thresholds (Fig. 5).

        The other elements keep their current thresholds. Rows stream into ``error_grid``; a new
        grid (or :meth:`cancel_grid`) stops the old one between points.
        """
        sel, (ckey, context) = self.selection, self._prepared
        if context is None:
            raise ParameterError("the model input is not prepared yet; wait for the model error to appear")
        for element in (first, second):
            if element not in sel.elements:
                raise ParameterError(f"element {element!r} is not in the data (elements: {sel.elements})")
        if first == second:
            raise ParameterError("the error grid needs two different elements")
        self.cancel_grid()
        points = [(float(a), float(b)) for a in thresholds for b in thresholds]
        base, seed, shuffle = dict(sel.thresholds), int(sel.seed), bool(sel.shuffle)
        feats, digest = sel.features, sel.dataset.content_hash()
        columns = (f"T_{first}", f"T_{second}", "n_selected", "n_atoms", "rmse_e_pred", "rmse_f_pred",
                   "rmse_e_train", "rmse_f_train")
        with param.parameterized.batch_call_watchers(self):
            self.error_grid_elements, self.error_grid, self.grid_progress = [first, second], {}, 0.0

        def point(a, b, stop):
            row = lebank_row(context, ckey, feats, digest, {**base, first: a, second: b}, seed, shuffle, stop)
            if row is None:
                return None
            row = {**row, f"T_{first}": a, f"T_{second}": b}
            return {k: row[k] for k in columns}

        def add(item):
            done, row = item
            if self._grid_job is not job and not self.synchronous:
                return
            self.grid_progress = done / len(points)
            if row is not None:
                self.error_grid = {k: [*self.error_grid.get(k, []), v] for k, v in row.items()}

        if self.synchronous:
            job = self._grid_job = None
            for i, (a, b) in enumerate(points):
                add((i + 1, point(a, b, None)))
            return None

        def work(cancelled, emit):
            for i, (a, b) in enumerate(points):
                while (sel.busy or self.training or self.comparing) and not cancelled.is_set():
                    time.sleep(0.02)  # the slider's own work goes first
                if cancelled.is_set():
                    return None
                emit((i + 1, point(a, b, cancelled.is_set)))
            return len(points)

        job = self._grid_job = Job("error grid")
        return self.background.submit("error grid", work, on_emit=add, job=job)

    def cancel_grid(self) -> None:
        """Stop the running error grid between points (rows so far are kept)."""
        if self._grid_job is not None and self._grid_job.running:
            self._grid_job.cancel()

    def threshold_curve(self) -> dict[str, list]:
        """The LE-bank sweep by threshold (Fig. 3): threshold, n_selected, RMSE on both sets."""
        rows = sorted((r for r in self.curves if r["method"] == "lebank" and r.get("sweep")),
                      key=lambda r: r["threshold"])
        keys = ("threshold", "n_selected", "n_atoms", "rmse_e_pred", "rmse_f_pred", "rmse_e_train",
                "rmse_f_train")
        return {k: [r[k] for r in rows] for k in keys}

    def series(self, method: str, column: str = "rmse_f_pred") -> tuple[list[float], list[float]]:
        """``(sizes, values)`` of one method's curve, sizes in the current unit, sorted, one per size."""
        x_key = "n_atoms" if self.size_unit == "atoms" else "n_selected"
        points = {}
        for r in self.curves:
            if r["method"] == method:
                points[r[x_key]] = r[column]
        xs = sorted(points)
        return [float(x) for x in xs], [float(points[x]) for x in xs]

    def cancel(self) -> None:
        """Stop preparing, scoring and filling curves (a BPNN training stops at its next epoch).

        Cancelling the neural network goes back to the linear model, so the page keeps its numbers.
        """
        for job in (self._job, self._curve_job, self._prepare_job):
            if job is not None and job.running:
                job.cancel()
        self._wanted = None
        if not (self.training or self.preparing or self.comparing):
            return
        with param.parameterized.batch_call_watchers(self):
            self.training = self.preparing = self.comparing = False
            self.status = "cancelled"
        if self.model == "bpnn":
            self.model = "linear"  # resets and prepares the linear model's input
            self.status = "BPNN cancelled; back to the linear model"

    # -- numbers for notebooks and exports ----------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The live numbers as a plain dict: the selection's RMSE and each method's at this size.

        Keys: ``model``, ``size_unit``, ``n_structures``, ``n_atoms``, ``rmse_f_pred`` (meV/Å),
        ``rmse_e_pred`` (meV/atom) and ``at_size``: method -> (n_selected, n_atoms, rmse_f_pred,
        rmse_e_pred). Empty before the first result.
        """
        if not self.current:
            return {}
        cur = self.current
        return {
            "model": self.model, "size_unit": self.size_unit, "n_structures": cur["n_selected"],
            "n_atoms": cur["n_atoms"], "rmse_f_pred": cur["rmse_f_pred"], "rmse_e_pred": cur["rmse_e_pred"],
            "fresh": self.current_is_fresh,
            "at_size": {m: {k: r[k] for k in ("n_selected", "n_atoms", "rmse_f_pred", "rmse_e_pred")}
                        for m, r in self.at_size.items()},
        }

    def metadata(self) -> dict[str, Any]:
        """The current selection's RMSE as ``atoms.info`` entries for an exported selection file.

        Empty unless the numbers belong to the selection shown now.
        """
        if not self.current_is_fresh:
            return {}
        cur = self.current
        where = "test set" if self.context is not None and self.context.test is not None else "whole pool"
        return {"atomsieve_model": self.model, "atomsieve_prediction_set": where,
                "atomsieve_rmse_f_pred_meV_per_A": round(cur["rmse_f_pred"], 4),
                "atomsieve_rmse_e_pred_meV_per_atom": round(cur["rmse_e_pred"], 4),
                "atomsieve_rmse_f_train_meV_per_A": round(cur["rmse_f_train"], 4),
                "atomsieve_rmse_e_train_meV_per_atom": round(cur["rmse_e_train"], 4)}

    def curve_rows(self) -> list[dict]:
        """Every curve row (the CSV export), sorted by method and size."""
        rows = [{k: r[k] for k in ROW_COLUMNS} for r in self.curves]
        if self.current:
            rows.append({**{k: self.current[k] for k in ROW_COLUMNS}, "method": "lebank (current)"})
        if not rows:
            raise ParameterError("no model-error rows yet: wait for the model input to be prepared")
        return sorted(rows, key=lambda r: (r["method"], r["n_selected"]))
