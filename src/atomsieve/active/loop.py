"""The nearsighted-force-training loop: train, find uncertain atoms, buy chunk labels, retrain.

One iteration ``k`` (Zeng, Chen & Peterson, J. Chem. Phys. 156, 064104 (2022)):

1. train a bootstrap ensemble on the initial cells (energies and all forces) and the chunks bought
   so far (only each chunk's central-atom force);
2. predict the target: per-atom uncertainty δ_i = 2.58 σ_f, structure uncertainty max_i δ_i;
3. stop when it is below ``stop_delta``, when it has not beaten the best for
   ``steps_not_improved`` iterations, or at ``max_iterations``;
4. otherwise take the ``chunks_per_iteration`` most uncertain atoms (among those above the
   ``percentile``-th percentile of δ, when one is set) whose environment is not labelled yet (the
   novelty filter, :mod:`atomsieve.active.novelty`: a known environment is passed over for the next
   most uncertain atom), cut a chunk around each, label the chunks with the parent in parallel and
   add them.

Every finished iteration is recorded in the run directory (:mod:`atomsieve.active.rundir`): an
interrupted run picks up after its last record. The best iteration (lowest structure uncertainty)
is kept as ``ensemble_``.

Units: eV, Å, eV/Å.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from atomsieve.active.chunks import cut_chunks
from atomsieve.active.model import NFTEnsemble
from atomsieve.active.novelty import NoveltyFilter
from atomsieve.active.parents import label_structures, parent_factory, parent_name
from atomsieve.active.rundir import RunDirectory
from atomsieve.data import atomic_group
from atomsieve.errors import ParameterError
from atomsieve.parallel import TaskRunner
from atomsieve.progress import ProgressCallback, report

#: Settings a resumed run may change (they only decide when to stop).
STOPPING_RULES = ("max_iterations", "stop_delta", "steps_not_improved")


class NearsightedForceTraining:
    """Uncertainty-driven chunk labelling of one target structure.

    Parameters
    ----------
    parent : str or callable
        The parent calculator (:mod:`atomsieve.active.parents`): ``"emt"``, ``"gfn1-xtb"`` or a
        picklable factory of an ASE calculator.
    cutoff : float
        Chunk radius (Å).
    chunks_per_iteration : int
        Most uncertain atoms chunked per iteration (26 in the paper).
    percentile : float, optional
        Instead of a fixed count, chunk every atom whose δ_i lies above this percentile (0–100),
        at most ``chunks_per_iteration``.
    max_iterations, stop_delta, steps_not_improved
        Stopping rules (``stop_delta`` in eV/Å).
    model : NFTEnsemble, optional
        The bootstrap ensemble and its descriptor (default: ``NFTEnsemble()``: 10 Behler–Parrinello
        members on the single-element symmetry-function preset).
    novelty_threshold : float or None
        Skip a chunk whose central fingerprint lies within this distance of an already labelled
        environment (scaled fingerprint units); None turns the filter off.
    periodic_chunks : bool
        Cut periodic box chunks (for slabs) instead of vacuum-padded clusters.
    n_initial, initial_cells, initial_rattles
        Size of the initial training set and of the pool it is chosen from
        (:func:`atomsieve.active.initial.initial_training_set`); used when ``fit`` gets no ``initial``.
    scheduler, n_workers
        Where parent calls run (:class:`atomsieve.parallel.TaskRunner`): None/"serial", "local" or
        a scheduler address.
    run_dir : path, optional
        Where the run is recorded and resumed from.
    seed : int
    score_target : bool
        At the end, label the whole target once with the parent and record the best ensemble's force
        MAE on it (``target_force_mae`` in ``best.json``); turn off for a parent too costly for that.

    Attributes
    ----------
    history_ : list of dict
        One record per iteration (see :meth:`_record`).
    best_iteration_ : int
    ensemble_ : NFTEnsemble
        The model of the best iteration.
    initial_ : list of Atoms
        Labelled initial cells.
    chunks_ : list of Atoms
        Labelled chunks, ``info["iteration"]`` telling when each was bought.
    delta_ : ndarray (n_atoms,)
        Per-atom uncertainty of the target at the best iteration (eV/Å).
    target_force_mae_ : float
        With ``score_target``: mean absolute force-component error of the best ensemble on the whole
        target against the parent (eV/Å).
    """

    def __init__(self, parent: str | Callable[[], Calculator] = "emt", *, cutoff: float = 6.5,
                 chunks_per_iteration: int = 26, percentile: float | None = None, max_iterations: int = 20,
                 stop_delta: float = 0.1, steps_not_improved: int = 2, model: NFTEnsemble | None = None,
                 novelty_threshold: float | None = 0.01, periodic_chunks: bool = False, n_initial: int = 20,
                 initial_cells: int = 20, initial_rattles: int = 3, scheduler: Any = None,
                 n_workers: int | None = None, run_dir=None, seed: int = 0, score_target: bool = True):
        self.parent = parent
        self.cutoff = cutoff
        self.chunks_per_iteration = chunks_per_iteration
        self.percentile = percentile
        self.max_iterations = max_iterations
        self.stop_delta = stop_delta
        self.steps_not_improved = steps_not_improved
        self.model = model
        self.novelty_threshold = novelty_threshold
        self.periodic_chunks = periodic_chunks
        self.n_initial = n_initial
        self.initial_cells = initial_cells
        self.initial_rattles = initial_rattles
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.run_dir = run_dir
        self.seed = seed
        self.score_target = score_target

    # -- settings -------------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.cutoff > 0:
            raise ParameterError(f"cutoff must be a positive chunk radius in Å; got {self.cutoff}")
        for name in ("chunks_per_iteration", "max_iterations", "steps_not_improved", "n_initial"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.percentile is not None and not 0 <= self.percentile < 100:
            raise ParameterError(f"percentile must lie in [0, 100); got {self.percentile}")
        if not self.stop_delta >= 0:
            raise ParameterError(f"stop_delta must be a non-negative force in eV/Å; got {self.stop_delta}")
        if self.novelty_threshold is not None and self.novelty_threshold < 0:
            raise ParameterError(
                f"novelty_threshold must be non-negative or None; got {self.novelty_threshold}")
        for name in ("cutoff", "stop_delta", "novelty_threshold"):  # NaN passes the comparisons above
            if getattr(self, name) is not None and not np.isfinite(getattr(self, name)):
                raise ParameterError(f"{name} must be finite; got {getattr(self, name)}")
        parent_factory(self.parent)  # an unknown parent name fails here, before a run records it
        (self.model or NFTEnsemble()).validate()

    def get_config(self) -> dict:
        """The settings that define a run (what a resumed run must repeat)."""
        model = self.model or NFTEnsemble()
        return {
            "parent": parent_name(self.parent), "cutoff": float(self.cutoff),
            "chunks_per_iteration": int(self.chunks_per_iteration), "percentile": self.percentile,
            "max_iterations": int(self.max_iterations), "stop_delta": float(self.stop_delta),
            "steps_not_improved": int(self.steps_not_improved), "model": model.get_config(),
            "novelty_threshold": self.novelty_threshold, "periodic_chunks": bool(self.periodic_chunks),
            "n_initial": int(self.n_initial), "initial_cells": int(self.initial_cells),
            "initial_rattles": int(self.initial_rattles), "seed": int(self.seed),
        }

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, target: Atoms, initial: list[Atoms] | None = None, *,
            progress: ProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> NearsightedForceTraining:
        """Run (or resume) the loop on ``target``; ``initial``: labelled or unlabelled starting cells."""
        self._validate()
        if not isinstance(target, Atoms) or len(target) == 0:
            raise ParameterError("target must be an ase.Atoms with at least one atom")
        start = time.perf_counter()
        self.target_ = target.copy()
        self.target_.calc = None
        run = RunDirectory(self.run_dir) if self.run_dir is not None else None
        self._run = run
        self.history_, self.chunks_ = [], []
        with TaskRunner(self.scheduler, self.n_workers) as runner:
            self._runner = runner
            self._start(run, initial, progress)
            model = self.model or NFTEnsemble()
            elements = sorted(set(self.target_.get_chemical_symbols()) |
                              {s for a in self.initial_ for s in a.get_chemical_symbols()})
            self._template = model.with_elements(elements)
            self.novelty_ = NoveltyFilter(self.novelty_threshold)
            self._reopen_last()
            k = len(self.history_)
            nft = [r for r in self.history_ if r.get("phase", "nft") == "nft"]
            # finished when the loop stopped itself, or a relaxation phase has started after it
            done = bool(nft) and (bool(nft[-1].get("stop_reason")) or len(nft) < len(self.history_))
            while not done:
                if should_stop is not None and should_stop():
                    break
                done = self._iteration(k, run, progress)
                k += 1
        self._runner = None
        self._finish(run)
        self.seconds_ = time.perf_counter() - start
        return self

    def _start(self, run: RunDirectory | None, initial, progress) -> None:
        if run is not None and run.exists():
            run.check_config(self.get_config(), ignore=STOPPING_RULES)
            run.write_config(self.get_config())
            self.history_ = run.iterations()
            self.initial_ = run.read_initial()
            self.chunks_ = run.read_chunks()
            saved = run.read_target()
            if saved is not None and (len(saved) != len(self.target_) or
                                      not np.allclose(saved.positions, self.target_.positions, atol=1e-6)):
                raise ParameterError(f"{run.path} was run on another target structure; use another run dir")
            if self.initial_:
                return
        if initial is None:
            from atomsieve.active.initial import initial_training_set

            elements = sorted(set(self.target_.get_chemical_symbols()))
            if len(elements) != 1:
                raise ParameterError(
                    f"the built-in initial set is for one element; the target has {elements}: "
                    "pass initial cells"
                )
            initial = initial_training_set(elements[0], self.parent, self.n_initial,
                                           n_cells=self.initial_cells,
                                           n_rattle=self.initial_rattles, seed=self.seed)
        unlabelled = [a for a in initial if a.calc is None or "forces" not in a.calc.results]
        if unlabelled:
            initial = label_structures(initial, self.parent, runner=self._runner, progress=progress)
        self.initial_ = list(initial)
        if run is not None:  # the folder, its settings, target and initial cells: all or nothing
            new_folder = not run.path.exists()
            try:
                with atomic_group():
                    run.create()
                    run.write_config(self.get_config())
                    run.write_target(self.target_)
                    run.write_initial(self.initial_)
            except BaseException:
                if new_folder:
                    shutil.rmtree(run.path, ignore_errors=True)
                raise

    def _reopen_last(self) -> None:
        """On resume with other stopping rules, a final record that would not stop now is redone."""
        nft = [r for r in self.history_ if r.get("phase", "nft") == "nft"]
        if not nft or not nft[-1].get("stop_reason") or len(nft) != len(self.history_):
            return
        last = nft[-1]
        previous = [r["structure_uncertainty"] for r in nft[:-1]]
        if self._stop_reason(int(last["iteration"]), last["structure_uncertainty"], previous) is None:
            self.history_.pop()
            if self._run is not None:
                self._run.drop_iteration(int(last["iteration"]))

    def _iteration(self, k: int, run: RunDirectory | None, progress) -> bool:
        t0 = time.perf_counter()
        model = self._template.clone(seed=self.seed + 1000 * k)
        model.fit(self.initial_, self.chunks_, progress=progress)
        t_train = time.perf_counter() - t0
        pred = model.predict(self.target_)
        delta = pred["delta"]
        u = float(delta.max())
        record: dict[str, Any] = {
            "iteration": k, "phase": "nft", "structure_uncertainty": u,
            "mean_uncertainty": float(delta.mean()), "most_uncertain_atom": int(delta.argmax()),
            "n_initial": len(self.initial_), "n_chunks_before": len(self.chunks_),
            "train_seconds": t_train, **model.training_errors(self.initial_, self.chunks_),
        }
        if run is not None:
            model.save(run.checkpoint_path(k))
        self._models = getattr(self, "_models", {})
        self._models[k] = model
        previous = [r["structure_uncertainty"] for r in self.history_ if r.get("phase", "nft") == "nft"]
        reason = self._stop_reason(k, u, previous)
        arrays = {"delta": delta, "forces": pred["forces"]}
        if reason is None:
            added, skipped, test = self._buy_chunks(k, model, delta, progress)
            record.update(test)
            record.update(chunks_added=len(added), chunks_skipped_novelty=skipped,
                          parent_calls=len(added),
                          parent_seconds=float(sum(c.info["parent_seconds"] for c in added)),
                          chunk_atoms=[int(c.info["source_atom"]) for c in added])
            self.chunks_.extend(added)
            if run is not None:
                run.write_chunks(self.chunks_)
        else:
            record.update(chunks_added=0, chunks_skipped_novelty=0, parent_calls=0, stop_reason=reason)
        record["n_chunks"] = len(self.chunks_)
        record["seconds"] = time.perf_counter() - t0
        self.history_.append(record)
        if run is not None:
            run.write_iteration(record, arrays)
        report(progress, k + 1, int(self.max_iterations), f"iteration {k}: max δ = {u:.3f} eV/Å")
        return reason is not None

    def _stop_reason(self, k: int, u: float, previous: list[float]) -> str | None:
        if u < self.stop_delta:
            return f"structure uncertainty {u:.4f} < stop_delta {self.stop_delta}"
        n = int(self.steps_not_improved)
        if _not_improved_for(previous + [u]) >= n:
            return f"no improvement for {n} iterations"
        if k + 1 >= int(self.max_iterations):
            return f"reached max_iterations = {self.max_iterations}"
        return None

    def _choose_atoms(self, delta: np.ndarray) -> np.ndarray:
        """Every eligible atom (above the percentile, when one is set), most uncertain first."""
        order = np.argsort(-delta, kind="stable")
        if self.percentile is not None:
            above = np.flatnonzero(delta > np.percentile(delta, self.percentile))
            order = order[np.isin(order, above)]
        return order

    def _buy_chunks(self, k: int, model, delta, progress) -> tuple[list[Atoms], int, dict]:
        # The ``chunks_per_iteration`` most uncertain novel atoms: a known environment is skipped
        # and the next most uncertain atom takes its place.
        skipped_before = self.novelty_.n_skipped_
        novel = self.novelty_.filter(model.descriptor_, self.target_, self._choose_atoms(delta),
                                     self.initial_, self.chunks_, limit=int(self.chunks_per_iteration))
        skipped = self.novelty_.n_skipped_ - skipped_before
        chunks = cut_chunks(self.target_, novel, self.cutoff, periodic=self.periodic_chunks)
        for c in chunks:
            c.info["iteration"] = k
            c.info["delta_target"] = float(delta[c.info["source_atom"]])
        labelled = label_structures(chunks, self.parent, runner=self._runner, progress=progress)
        test = {}
        if labelled:
            pred = model.predict_chunks(labelled)
            ref = np.array([c.get_forces()[0] for c in labelled])
            for c, f, d in zip(labelled, pred["forces"], pred["delta"]):
                c.info["predicted_force"] = np.asarray(f, dtype=float)
                c.info["predicted_delta"] = float(d)
            test = {"force_mae_test": float(np.mean(np.abs(pred["forces"] - ref))),
                    "force_rmse_test": float(np.sqrt(np.mean((pred["forces"] - ref) ** 2)))}
        return labelled, skipped, test

    def _finish(self, run: RunDirectory | None) -> None:
        if not self.history_:
            return
        nft = [r for r in self.history_ if r.get("phase", "nft") == "nft"]
        u = [r["structure_uncertainty"] for r in nft]
        self.best_iteration_ = int(nft[int(np.argmin(u))]["iteration"])
        models = getattr(self, "_models", {})
        if self.best_iteration_ in models:
            self.ensemble_ = models[self.best_iteration_]
        elif run is not None and run.checkpoint_path(self.best_iteration_).exists():
            self.ensemble_ = NFTEnsemble.load(run.checkpoint_path(self.best_iteration_))
        else:  # resumed without checkpoints: retrain on the data of the best iteration
            chunks = [c for c in self.chunks_ if int(c.info["iteration"]) < self.best_iteration_]
            self.ensemble_ = self._template.clone(seed=self.seed + 1000 * self.best_iteration_)
            self.ensemble_.fit(self.initial_, chunks)
        pred = self.ensemble_.predict(self.target_)
        self.delta_ = pred["delta"]
        self._models = {}
        best = {"iteration": self.best_iteration_, "structure_uncertainty": float(min(u)),
                "n_chunks": len(self.chunks_)}
        if self.score_target:
            # one parent call on the whole target: the check of the paper's accuracy claim
            reference = label_structures([self.target_], self.parent)[0].get_forces()
            self.target_force_mae_ = float(np.mean(np.abs(pred["forces"] - reference)))
            best["target_force_mae"] = self.target_force_mae_
        if run is not None:
            previous = run.read_best() or {}
            if "relaxed_max_parent_force" in previous and previous.get("iteration") == self.best_iteration_:
                best["relaxed_max_parent_force"] = previous["relaxed_max_parent_force"]
            run.write_best(best)

    def calculator(self) -> Calculator:
        """The best ensemble as an ASE calculator (energies, forces, per-atom uncertainty)."""
        if not hasattr(self, "ensemble_"):
            raise ParameterError("NearsightedForceTraining is not fitted; call fit first")
        return self.ensemble_.calculator()


def _not_improved_for(values: list[float]) -> int:
    """Iterations since the best value (0 when the last one is the best)."""
    best = int(np.argmin(values))
    return len(values) - 1 - best
