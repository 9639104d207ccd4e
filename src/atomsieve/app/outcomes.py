"""Cached LE-bank selection outcomes shared by every session of a served dashboard. No widgets.

An outcome keeps only what is small: the selected structure indices, the rows of the features
that formed the bank (into :attr:`AtomicFeatures.values`) and the counts. The
:class:`~atomsieve.selectors.EnvironmentBank` is rebuilt from those rows when a view or an export
needs it. The process-wide cache :data:`OUTCOMES` is bounded by bytes, and one key is never
computed twice at once: a second caller waits for the first one's result (in-flight de-duplication).
The key is explicit: dataset content hash, descriptor-parameter digest, rounded thresholds, seed
and shuffle (:func:`selection_key`).

Interactive fits (a slider release) take precedence over precomputation: :func:`precompute_grid`
waits while any interactive fit is running.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.digest import params_digest
from atomsieve.keyed_cache import KeyedCache

#: Threshold slider range (dimensionless: fingerprints are min-max scaled per element).
THRESHOLD_BOUNDS = (0.02, 1.0)
THRESHOLD_STEP = 0.005
DEFAULT_THRESHOLD = 0.275
#: Default byte budget of the process-wide outcome cache.
CACHE_BYTES = 32 * 1024 * 1024
#: Bytes counted per outcome besides its arrays (the object, its key and its small dicts).
OUTCOME_OVERHEAD = 2048


@dataclass(eq=False)
class SelectionOutcome:
    """What one LE-bank fit gave: the selection, its counts and the bank as rows of the features.

    ``bank`` rebuilds the :class:`~atomsieve.selectors.EnvironmentBank` from ``bank_rows`` while
    the features it was computed on are alive (they are held weakly); :meth:`bank_for` rebuilds it
    from features given explicitly.
    """

    key: tuple
    selected: np.ndarray
    n_structures: int
    n_atoms: int
    bank_size: int
    bank_per_element: dict[str, int]
    seconds: float
    bank_rows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=np.int32))
    thresholds: dict[str, float] = field(default_factory=dict)
    _features: Callable[[], AtomicFeatures | None] = field(repr=False, default=lambda: None)

    @property
    def nbytes(self) -> int:
        """Approximate memory this outcome holds (bytes)."""
        return int(self.selected.nbytes + self.bank_rows.nbytes + OUTCOME_OVERHEAD)

    def bank_for(self, features: AtomicFeatures):
        """The :class:`~atomsieve.selectors.EnvironmentBank` of this fit, built from ``features``' rows."""
        from atomsieve.selectors.bank import EnvironmentBank

        return EnvironmentBank.from_rows(features, self.bank_rows, dict(self.thresholds))

    @property
    def bank(self):
        """The bank rebuilt from the features it was fitted on (None once those are gone)."""
        features = self._features()
        return None if features is None else self.bank_for(features)

    def percent_structures(self, total: int) -> float:
        return 100.0 * self.n_structures / max(total, 1)

    def percent_atoms(self, total: int) -> float:
        return 100.0 * self.n_atoms / max(total, 1)


class OutcomeCache(KeyedCache):
    """A :class:`~atomsieve.keyed_cache.KeyedCache` of selection outcomes bounded by bytes.

    Examples
    --------
    >>> cache = OutcomeCache(max_bytes=10_000)
    >>> calls = []
    >>> make = lambda: calls.append(1) or SelectionOutcome(("k",), np.arange(3), 3, 9, 2, {"H": 2}, 0.0)
    >>> cache.get_or_compute(("k",), make) is cache.get_or_compute(("k",), make), len(calls)
    (True, 1)
    """

    def __init__(self, max_bytes: int = CACHE_BYTES):
        super().__init__(max_bytes=max_bytes, size=lambda outcome: outcome.nbytes)

    def put(self, outcome: SelectionOutcome, value: SelectionOutcome | None = None) -> None:
        """Keep ``outcome`` under its own key (``put(key, outcome)`` also works)."""
        if value is None:
            super().put(outcome.key, outcome)
        else:
            super().put(outcome, value)


#: Outcomes shared by all sessions of this process.
OUTCOMES = OutcomeCache()

_interactive = 0
_interactive_idle = threading.Condition()


def interactive_fits() -> int:
    """Interactive fits (slider releases) running right now in this process."""
    return _interactive


def selection_key(features: AtomicFeatures, dataset_hash: str, thresholds: dict[str, float], seed: int,
                  shuffle: bool) -> tuple:
    """The explicit cache key of one selection."""
    params = params_digest(features.params)
    rounded = tuple(sorted((e, round(float(t), 6)) for e, t in thresholds.items()))
    return dataset_hash, params, rounded, int(seed), bool(shuffle)


def fit_outcome(features: AtomicFeatures, key: tuple, thresholds: dict[str, float], seed: int,
                shuffle: bool) -> SelectionOutcome:
    """Fit :class:`~atomsieve.selectors.LEBank` (fast engine, CPU) and keep the small outcome."""
    from atomsieve.app.feature_chunks import STREAM_FIT_ATOMS, ScaledChunks, fit_in_chunks
    from atomsieve.selectors import LEBank

    if features.n_atoms > STREAM_FIT_ATOMS and not shuffle and ScaledChunks.applies(features):
        fit = fit_in_chunks(features, thresholds, seed)  # bounded memory, the same selection
        bank = fit["bank"]
        return SelectionOutcome(
            key=key, selected=fit["selected"], n_structures=len(fit["selected"]), n_atoms=fit["n_atoms"],
            bank_size=len(bank), bank_per_element=dict(bank.counts_per_element()), seconds=fit["seconds"],
            bank_rows=fit["bank_rows"].astype(np.int32 if features.n_atoms < 2**31 else np.int64),
            thresholds=dict(bank.thresholds), _features=weakref.ref(features),
        )
    sel = LEBank(thresholds=dict(thresholds), seed=seed, shuffle=shuffle, engine="fast", device="cpu")
    sel.fit(features)
    bank = sel.bank_
    rows = sel.bank_rows_.astype(np.int32 if features.n_atoms < 2**31 else np.int64)
    return SelectionOutcome(
        key=key, selected=np.asarray(sel.selected_, dtype=np.int64), n_structures=len(sel.selected_),
        n_atoms=int(sel.n_selected_atoms_), bank_size=len(bank),
        bank_per_element=dict(bank.counts_per_element()), seconds=float(sel.seconds_),
        bank_rows=rows, thresholds=dict(bank.thresholds), _features=weakref.ref(features),
    )


def run_selection(features: AtomicFeatures, key: tuple, thresholds: dict[str, float], seed: int,
                  shuffle: bool, *, interactive: bool = False) -> SelectionOutcome:
    """The outcome of ``key`` from :data:`OUTCOMES`, fitting it (once per key) when missing.

    ``interactive=True`` marks a fit someone waits for: precomputation pauses meanwhile.
    """
    if not interactive:
        return OUTCOMES.get_or_compute(key, lambda: fit_outcome(features, key, thresholds, seed, shuffle))
    with waited_for():
        return OUTCOMES.get_or_compute(key, lambda: fit_outcome(features, key, thresholds, seed, shuffle))


@contextlib.contextmanager
def waited_for():
    """Mark work someone waits for (a slider release's fit, the model input of the live error): the
    slider precomputation pauses meanwhile, instead of sharing the cores with it (at 10^6 atoms its
    192 fits would take half an hour of CPU and starve the model input)."""
    global _interactive
    with _interactive_idle:
        _interactive += 1
    try:
        yield
    finally:
        with _interactive_idle:
            _interactive -= 1
            _interactive_idle.notify_all()


def slider_grid(bounds: tuple[float, float] = THRESHOLD_BOUNDS, step: float = THRESHOLD_STEP) -> list[float]:
    """Every position of the threshold slider: ``bounds[0] + k * step`` up to ``bounds[1]``.

    >>> grid = slider_grid()
    >>> len(grid), grid[0], grid[-1], DEFAULT_THRESHOLD in grid
    (197, 0.02, 1.0, True)
    """
    n = int(round((bounds[1] - bounds[0]) / step))
    return [round(bounds[0] + k * step, 6) for k in range(n + 1)]


def grid_order(grid: list[float], first: Iterable[float] = (),
               around: float = DEFAULT_THRESHOLD) -> list[float]:
    """``first`` (those on ``grid``), then the rest of ``grid`` fanning out from ``around``."""
    on_grid = set(grid)
    head = [round(float(t), 6) for t in first if round(float(t), 6) in on_grid]
    rest = sorted((t for t in grid if t not in head), key=lambda t: (abs(t - around), t))
    return list(dict.fromkeys(head)) + rest


def precompute_grid(features: AtomicFeatures, dataset_hash: str, *, first: Iterable[float] = (),
                    grid: list[float] | None = None, seed: int = 0, shuffle: bool = False,
                    stop: threading.Event | None = None, progress=None) -> int:
    """Fit every slider position of a single-element dataset into :data:`OUTCOMES`; returns fits made.

    ``grid`` defaults to :func:`slider_grid`. Positions in ``first`` go first, then the rest
    outwards from the default threshold. Before each fit it waits while an interactive fit runs,
    and it stops when ``stop`` is set. Datasets with several elements are skipped (their grid is a
    product of sliders): returns 0.

    >>> from atomsieve.app.features_state import features_for
    >>> from atomsieve.datasets import load_default
    >>> ds = load_default("test")
    >>> feats = features_for(ds)
    >>> _ = precompute_grid(feats, ds.content_hash(), grid=[0.935, 0.94])
    >>> OUTCOMES.get(selection_key(feats, ds.content_hash(), {"Ge": 0.94}, 0, False)).n_structures > 0
    True
    """
    if len(features.elements) != 1:
        return 0
    element = features.elements[0]
    order = grid_order(slider_grid() if grid is None else [round(float(t), 6) for t in grid], first)
    done = 0
    for i, t in enumerate(order):
        with _interactive_idle:
            while _interactive > 0 and not (stop is not None and stop.is_set()):
                _interactive_idle.wait(0.5)
        if stop is not None and stop.is_set():
            break
        thresholds = {element: t}
        key = selection_key(features, dataset_hash, thresholds, seed, shuffle)
        if OUTCOMES.get(key) is None:
            run_selection(features, key, thresholds, seed, shuffle)
            done += 1
        if progress is not None:
            progress(i + 1, len(order), "slider positions")
    return done


def precompute_in_background(features: AtomicFeatures, dataset_hash: str, *, first: Iterable[float] = (),
                             stop: threading.Event | None = None,
                             log: Callable[[str], None] | None = None) -> threading.Thread:
    """Run :func:`precompute_grid` in a daemon thread (the served app calls it at startup)."""

    def run():
        t = time.perf_counter()
        try:
            n = precompute_grid(features, dataset_hash, first=first, stop=stop)
        except Exception as exc:  # noqa: BLE001 - a session asking for a position will report it
            if log is not None:
                log(f"atomsieve: slider precomputation stopped: {exc}")
            return
        if log is not None:
            log(f"atomsieve: precomputed {n} slider positions in {time.perf_counter() - t:.1f} s "
                f"(outcome cache {OUTCOMES.nbytes / 2**20:.1f} MiB, {len(OUTCOMES)} entries)")

    thread = threading.Thread(target=run, name="atomsieve-precompute", daemon=True)
    thread.start()
    return thread
