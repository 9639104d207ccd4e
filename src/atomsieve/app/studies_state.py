"""Slower LE-bank studies behind the selection panel, run in the background and streamed. No widgets.

- threshold curve of the element in focus (structures/atoms vs threshold, the paper's Fig. 2a);
- 2-D grid over two elements' thresholds (Fig. 4), for datasets with two or more elements;
- shuffle robustness: counts over seeded shuffles of the visiting order (Fig. 2c);
- budget calibration: the thresholds that select about N structures.

Each study calls the selectors' own functions one point at a time, so points appear as they
finish and a newer request (or the session closing) stops the old one between points.
"""

from __future__ import annotations

import time

import numpy as np
import param

from atomsieve.app.background import Background, Job
from atomsieve.app.selection_state import SelectionState, run_selection, selection_key

#: Thresholds of the curve of the element in focus.
CURVE_THRESHOLDS = tuple(np.round(np.linspace(0.1, 1.0, 10), 4))
#: Thresholds per axis of the two-element grid.
GRID_THRESHOLDS = tuple(np.round(np.linspace(0.1, 0.8, 6), 4))
SHUFFLE_RUNS = 20


class StudiesState(param.Parameterized):
    """Background studies around the current selection; results as dicts of lists.

    Examples
    --------
    >>> from atomsieve.app.features_state import FeaturesState
    >>> from atomsieve.app.state import DatasetState
    >>> from atomsieve.datasets import load_default
    >>> fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    >>> _ = fs.compute_now()
    >>> studies = StudiesState(selection=SelectionState(features_state=fs, synchronous=True))
    >>> studies.run_curve(thresholds=(0.3, 0.9)).join(60)
    True
    >>> studies.curve["threshold"], studies.curve["structures"][0] >= studies.curve["structures"][1]
    ([0.3, 0.9], True)
    """

    selection = param.ClassSelector(class_=SelectionState)
    curve = param.Dict(default={}, doc="threshold, structures, atoms, bank_size of the focus element")
    curve_element = param.String(default="", doc="element the curve varies")
    grid = param.Dict(default={}, doc="T_<a>, T_<b>, structures over two elements' thresholds")
    grid_elements = param.List(default=[], doc="the two elements of the grid")
    shuffles = param.Dict(default={}, doc="seed, structures, atoms, bank_size per shuffled run")
    shuffle_thresholds = param.Dict(default={}, doc="thresholds the shuffle study used")
    calibration = param.Parameter(default=None, doc="last CalibrationResult")
    running = param.List(default=[], doc="labels of studies in progress")
    progress = param.Dict(default={}, doc="label -> fraction done")

    def __init__(self, background: Background | None = None, **params):
        super().__init__(**params)
        self.background = background or self.selection.background
        self._jobs: dict[str, Job] = {}

    # -- plumbing -----------------------------------------------------------------------------------
    def _start(self, label: str, points: list, run_point, on_point, reset) -> Job:
        old = self._jobs.get(label)
        if old is not None:
            old.cancel()
        reset()
        feats = self.selection.features
        total = len(points)

        selection = self.selection

        def work(cancelled, emit):
            for i, point in enumerate(points):
                while selection.busy and not cancelled.is_set():  # the slider's own fit goes first
                    time.sleep(0.02)
                if cancelled.is_set():
                    return None
                emit((i + 1, run_point(feats, point)))
            return total

        def emitted(item):
            done, row = item
            on_point(row)
            self.progress = {**self.progress, label: done / total}

        job = Job(label)  # made first: with every point cached, ``finished`` can run before submit returns

        def finished():
            if self._jobs.get(label) is job:
                self.running = [r for r in self.running if r != label]

        self.running = [*[r for r in self.running if r != label], label]
        self.progress = {**self.progress, label: 0.0}
        self._jobs[label] = job
        return self.background.submit(label, work, on_emit=emitted, on_finally=finished, job=job)

    def cancel(self, label: str) -> None:
        job = self._jobs.get(label)
        if job is not None:
            job.cancel()
            self.running = [r for r in self.running if r != label]

    @staticmethod
    def _append(table: dict, row: dict) -> dict:
        return {k: [*table.get(k, []), v] for k, v in row.items()}

    # -- Fig. 2a ------------------------------------------------------------------------------------
    def run_curve(self, element: str | None = None, thresholds=CURVE_THRESHOLDS) -> Job:
        """Structures and atoms selected as ``element``'s threshold runs over ``thresholds``."""
        sel = self.selection
        element = element or sel.focus
        fixed = {e: t for e, t in sel.thresholds.items() if e != element} or None
        seed, shuffle = sel.seed, sel.shuffle

        digest = sel.dataset.content_hash()

        def point(feats, t):  # the same fit as the slider's: shared through the outcome cache
            full = {**(fixed or {}), element: float(t)}
            out = run_selection(feats, selection_key(feats, digest, full, seed, shuffle), full,
                                seed, shuffle)
            return {"threshold": float(t), "structures": out.n_structures, "atoms": out.n_atoms,
                    "bank_size": out.bank_size}

        def reset():
            self.curve_element = element
            self.curve = {}

        return self._start("curve", list(thresholds), point,
                           lambda row: setattr(self, "curve", self._append(self.curve, row)), reset)

    # -- Fig. 4 -------------------------------------------------------------------------------------
    def run_grid(self, first: str, second: str, thresholds=GRID_THRESHOLDS) -> Job:
        """Selected structures over a grid of ``first`` x ``second`` thresholds (others as now)."""
        from atomsieve.selectors import threshold_count_grid

        sel = self.selection
        fixed = {e: t for e, t in sel.thresholds.items() if e not in (first, second)} or None
        seed, shuffle = sel.seed, sel.shuffle
        values = [float(t) for t in thresholds]

        def point(feats, a):  # one row of the grid per step: first = a, second over all values
            out = threshold_count_grid(feats, (first, [a]), (second, values), fixed=fixed, seed=seed,
                                       shuffle=shuffle, device="cpu")
            return {k: out[k] for k in (f"T_{first}", f"T_{second}", "structures", "atoms")}

        def reset():
            self.grid_elements = [first, second]
            self.grid = {}

        def add(rows):
            self.grid = {k: [*self.grid.get(k, []), *v] for k, v in rows.items()}

        return self._start("grid", values, point, add, reset)

    # -- Fig. 2c ------------------------------------------------------------------------------------
    def run_shuffles(self, n_runs: int = SHUFFLE_RUNS, chunk: int = 2) -> Job:
        """Counts over ``n_runs`` seeded shuffles at the current thresholds."""
        from atomsieve.selectors import shuffle_study

        sel = self.selection
        thresholds, seed = dict(sel.thresholds), sel.seed
        starts = list(range(0, int(n_runs), chunk))

        def point(feats, start):
            n = min(chunk, int(n_runs) - start)
            out = shuffle_study(feats, thresholds, n_runs=n, seed=seed + start, device="cpu")
            return {k: out[k] for k in ("seed", "structures", "atoms", "bank_size")}

        def reset():
            self.shuffle_thresholds = thresholds
            self.shuffles = {}

        def add(rows):
            self.shuffles = {k: [*self.shuffles.get(k, []), *v] for k, v in rows.items()}

        return self._start("shuffles", starts, point, add, reset)

    # -- budget -------------------------------------------------------------------------------------
    def calibrate(self, n_structures: int) -> Job:
        """Find thresholds selecting about ``n_structures`` and set them on the selection."""
        from atomsieve.selectors import calibrate_thresholds

        sel = self.selection
        feats = sel.features
        ratios = dict(sel.thresholds) or None
        seed, shuffle = sel.seed, sel.shuffle

        def work(cancelled, emit):
            return calibrate_thresholds(feats, int(n_structures), kind="structures", mode="ratio",
                                        ratios=ratios, seed=seed, shuffle=shuffle, device="cpu",
                                        progress=lambda d, t, label="": emit(d / max(t, 1)))

        def done(result):
            self.calibration = result
            lo, hi = 0.02, 1.0
            sel.thresholds = {e: float(min(max(t, lo), hi)) for e, t in result.thresholds.items()}

        def finished():
            self.running = [r for r in self.running if r != "calibration"]

        self.running = [*self.running, "calibration"]
        job = self.background.submit(
            "calibration", work, on_result=done, on_finally=finished,
            on_emit=lambda frac: setattr(self, "progress", {**self.progress, "calibration": frac}))
        self._jobs["calibration"] = job
        return job

    def cancel_all(self) -> None:
        for job in self._jobs.values():
            job.cancel()
