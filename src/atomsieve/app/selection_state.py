"""LE-bank selection driven by per-element thresholds: counts, bank and histogram data. No widgets.

Every number comes from :class:`atomsieve.selectors.LEBank` (its fast engine). Results are cached
process-wide (:data:`atomsieve.app.outcomes.OUTCOMES`, small and bounded by bytes) on an explicit key
— dataset content hash, descriptor parameters, thresholds, seed, shuffle — so returning to a
threshold, or another session asking for it, costs nothing.
"""

from __future__ import annotations

import numpy as np
import param

from atomsieve.app.background import Background
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.outcomes import (  # noqa: F401 - re-exported: the selection's cache and its names
    DEFAULT_THRESHOLD,
    OUTCOMES,
    THRESHOLD_BOUNDS,
    THRESHOLD_STEP,
    OutcomeCache,
    SelectionOutcome,
    params_digest,
    run_selection,
    selection_key,
)
from atomsieve.descriptors.features import AtomicFeatures

#: Fixed histogram bins over the min-max range of a symmetry function.
HISTOGRAM_BINS = 40
#: Atoms per chunk when a whole-set statistic is computed without copying the fingerprints.
STD_CHUNK = 1_000_000


class SelectionState(param.Parameterized):
    """Thresholds in, LE-bank selection and histogram data out.

    With ``synchronous=True`` (notebooks, tests, benchmarks) a threshold change recomputes in the
    calling thread; otherwise an uncached selection runs in the background and the newest request
    wins. ``outcome`` is None until features exist.

    Examples
    --------
    >>> from atomsieve.app.state import DatasetState
    >>> from atomsieve.datasets import load_default
    >>> fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    >>> _ = fs.compute_now()
    >>> sel = SelectionState(features_state=fs, synchronous=True)
    >>> sel.thresholds = {"Ge": 0.5}
    >>> 0 < sel.outcome.n_structures <= 25
    True
    """

    features_state = param.ClassSelector(class_=FeaturesState)
    thresholds = param.Dict(default={}, doc="LE-bank threshold per element symbol (dimensionless)")
    seed = param.Integer(default=0, bounds=(0, None), doc="seeds the first bank vector and the shuffle")
    shuffle = param.Boolean(default=False, doc="visit structures in a seeded random order")
    focus = param.String(default="", doc="element whose histogram and threshold curve are shown")
    feature_index = param.Integer(default=0, bounds=(0, None), doc="symmetry function in the histogram")
    synchronous = param.Boolean(default=False, doc="compute in the calling thread")
    outcome = param.ClassSelector(class_=SelectionOutcome, allow_None=True, doc="the current selection")
    busy = param.Boolean(default=False, doc="a selection is being computed")
    prefetch = param.Boolean(default=True, doc="fit neighbouring slider positions when idle (served)")

    def __init__(self, background: Background | None = None, **params):
        super().__init__(**params)
        self.background = background or Background()
        self._wanted: tuple | None = None
        self._running = False
        self._prefetch_job = None
        self._full_hist: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.features_state.param.watch(lambda *_e: self._on_features(), ["features"])
        # Before anything else hears of a new dataset, forget the selection made on the old one.
        self.features_state.data.param.watch(lambda *_e: setattr(self, "outcome", None), ["dataset"],
                                             precedence=1)
        self.param.watch(lambda *_e: self.request(), ["thresholds", "seed", "shuffle"])
        if self.features is not None:
            self._on_features()

    # -- inputs -------------------------------------------------------------------------------------
    @property
    def features(self) -> AtomicFeatures | None:
        return self.features_state.features

    @property
    def dataset(self):
        return self.features_state.data.dataset

    @property
    def elements(self) -> list[str]:
        return self.features.elements if self.features is not None else []

    def _on_features(self) -> None:
        feats = self.features
        if feats is None:
            return
        self._full_hist = {}
        self.outcome = None  # it belonged to the previous features
        kept = {e: self.thresholds.get(e, DEFAULT_THRESHOLD) for e in feats.elements}
        with param.parameterized.batch_call_watchers(self):
            if self.focus not in feats.elements:
                self.focus = feats.elements[0]
            self.feature_index = self.most_varied_feature(self.focus)
        if kept != self.thresholds:
            self.thresholds = kept  # triggers request()
        else:
            self.request()

    def most_varied_feature(self, element: str) -> int:
        """Index of the symmetry function that varies most over ``element``'s atoms (default histogram)."""
        from ase.data import atomic_numbers

        values = self.features.values
        rows = self.features.species == atomic_numbers[element]
        if len(values) <= STD_CHUNK:
            return int(np.argmax(values[rows].std(axis=0)))
        # Large sets: two passes a chunk at a time, no copy of the element's rows (1.6 GB at 5e6 atoms)
        n = max(int(rows.sum()), 1)
        total = np.zeros(values.shape[1])
        for start in range(0, len(values), STD_CHUNK):
            total += values[start:start + STD_CHUNK][rows[start:start + STD_CHUNK]].sum(axis=0)
        mean, squares = total / n, np.zeros(values.shape[1])
        for start in range(0, len(values), STD_CHUNK):
            part = values[start:start + STD_CHUNK][rows[start:start + STD_CHUNK]] - mean
            squares += np.einsum("ij,ij->j", part, part)
        return int(np.argmax(squares))

    # -- selection ----------------------------------------------------------------------------------
    def current_key(self) -> tuple:
        return selection_key(self.features, self.dataset.content_hash(), self.thresholds, self.seed,
                             self.shuffle)

    def request(self) -> None:
        """Show the selection for the current thresholds: from the cache, now, or in the background."""
        feats = self.features
        if feats is None or set(self.thresholds) != set(feats.elements):
            return
        key = self.current_key()
        self._wanted = key
        hit = OUTCOMES.get(key)
        if hit is not None or self.synchronous:
            self._apply(hit or run_selection(feats, key, self.thresholds, self.seed, self.shuffle,
                                             interactive=True))
            return
        self.busy = True
        if self._running:
            return  # the running fit's completion starts the newest request (requests coalesce)
        self._running = True
        thresholds, seed, shuffle = dict(self.thresholds), self.seed, self.shuffle
        self.background.submit(
            "selection",
            lambda cancelled, emit: run_selection(feats, key, thresholds, seed, shuffle, interactive=True),
            on_result=self._apply, on_finally=self._fit_done,
        )

    def _fit_done(self) -> None:
        self._running = False
        if self.outcome is None or self.outcome.key != self._wanted:
            self.request()  # the thresholds moved while the fit ran
        elif self.prefetch:
            self._prefetch()

    def _apply(self, outcome: SelectionOutcome) -> None:
        if outcome.key != self._wanted:
            return  # a newer request is on its way
        with param.parameterized.batch_call_watchers(self):
            self.busy = False
            self.outcome = outcome

    def neighbour_thresholds(self, steps: int = 2) -> list[dict[str, float]]:
        """The focus element's threshold one and two slider steps either side (others as now)."""
        out = []
        current = self.thresholds.get(self.focus)
        if current is None:
            return out
        for k in [j for i in range(1, steps + 1) for j in (i, -i)]:
            t = round(current + k * THRESHOLD_STEP, 6)
            if THRESHOLD_BOUNDS[0] <= t <= THRESHOLD_BOUNDS[1]:
                out.append({**self.thresholds, self.focus: t})
        return out

    def _prefetch(self) -> None:
        """Fit the neighbouring slider positions in the background, so arrow-key steps hit the cache."""
        feats, seed, shuffle = self.features, self.seed, self.shuffle
        digest = self.dataset.content_hash()
        todo = [(t, selection_key(feats, digest, t, seed, shuffle)) for t in self.neighbour_thresholds()]
        todo = [(t, k) for t, k in todo if OUTCOMES.get(k) is None]
        if not todo:
            return

        def work(cancelled, emit):
            for thresholds, key in todo:
                if cancelled.is_set() or self._running or self.busy:
                    return  # a real request has priority
                run_selection(feats, key, thresholds, seed, shuffle)

        self._prefetch_job = self.background.submit("prefetch", work)

    def outcome_is_current(self) -> bool:
        """Whether ``outcome`` was computed on the current dataset and features."""
        out, feats = self.outcome, self.features
        return (out is not None and feats is not None and out.key[0] == self.dataset.content_hash()
                and out.key[1] == params_digest(feats.params))

    def selected_indices(self) -> np.ndarray:
        """Structure indices of the current selection, in selection order (empty before the first)."""
        return self.outcome.selected if self.outcome_is_current() else np.zeros(0, dtype=np.int64)

    # -- histogram (the paper's Fig. 2b) ------------------------------------------------------------
    def histogram(self, feature_index: int | None = None, element: str | None = None) -> dict:
        """Fractions of atoms per fixed bin: whole dataset vs the selected structures.

        Returns ``edges`` (bins + 1), ``full`` and ``selected`` (fractions summing to 1 each, or 0
        for an empty selection), and the atom counts behind them, for atoms of ``element``.
        """
        feats = self.features
        j = self.feature_index if feature_index is None else int(feature_index)
        element = element or self.focus or feats.elements[0]
        from ase.data import atomic_numbers

        rows = feats.species == atomic_numbers[element]
        key = (j, element)
        if key not in self._full_hist:
            column = feats.values[rows, j]
            lo, hi = float(column.min()), float(column.max())
            hi = hi if hi > lo else lo + 1.0
            edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
            bins = ((column - lo) / (hi - lo) * HISTOGRAM_BINS).astype(np.int64)
            bins = np.clip(bins, 0, HISTOGRAM_BINS - 1)
            self._full_hist[key] = (edges, bins)
        edges, bins = self._full_hist[key]
        full = np.bincount(bins, minlength=HISTOGRAM_BINS).astype(np.float64)
        chosen = np.zeros(feats.n_structures, dtype=bool)
        chosen[self.selected_indices()] = True
        in_selection = chosen[feats.structure[rows]]
        sel = np.bincount(bins[in_selection], minlength=HISTOGRAM_BINS).astype(np.float64)
        return {
            "edges": edges, "full": full / max(full.sum(), 1.0), "selected": sel / max(sel.sum(), 1.0),
            "n_full": int(full.sum()), "n_selected": int(sel.sum()),
            "name": (feats.feature_names or [f"G{i}" for i in range(feats.n_features)])[j],
        }
