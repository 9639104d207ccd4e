"""Relaxation with retraining: relax the target with the ensemble, label what the trajectory doubts.

After the nearsighted-force-training loop (Zeng, Chen & Peterson, J. Chem. Phys. 156, 064104
(2022), Sec. II D), the target is relaxed with the ensemble as an ASE calculator. Frames whose
structure uncertainty lies between ``u0`` and ``1.5 · u0`` (``u0``: the starting structure's
uncertainty under the same model) are trustworthy enough to learn from yet still uncertain; from
each of them the most uncertain atom's chunk is cut, ``n_select`` of those chunks are kept by CUR
on their central fingerprints (so they differ from one another), labelled by the parent, and the
ensemble is retrained. This repeats until the trajectory's maximum uncertainty has not improved for
``steps_not_improved`` rounds (or ``max_rounds``), or until no frame after the first is at least as
uncertain as the start (the relaxation only moved into better-known territory). Each round is logged
in the run directory as an iteration with ``phase = "relax"``; chunks bought here carry its tag.

Units: eV, Å, eV/Å.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ase import Atoms

from atomsieve.active.chunks import cut_chunk
from atomsieve.active.parents import label_structures, make_parent
from atomsieve.errors import ParameterError
from atomsieve.parallel import TaskRunner
from atomsieve.progress import ProgressCallback, StopCallback, report

OPTIMIZERS = ("BFGS", "FIRE", "LBFGS")


def relax_structure(atoms: Atoms, calculator, *, fmax: float = 0.05, max_steps: int = 200,
                    optimizer: str = "BFGS") -> tuple[Atoms, list[Atoms], list[np.ndarray]]:
    """Relax a copy of ``atoms`` with ``calculator``; returns it, the frames and each frame's δ_i.

    The calculator must report the per-atom ``results["force_uncertainty"]`` (as
    :class:`~atomsieve.active.calculator.EnsembleCalculator` and the calculator of an
    :class:`atomsieve.potentials.Ensemble` potential do).
    """
    if optimizer not in OPTIMIZERS:
        raise ParameterError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}")
    import ase.optimize

    work = atoms.copy()
    work.calc = calculator
    frames, deltas = [], []

    def record() -> None:
        frame = work.copy()
        frame.calc = None
        frames.append(frame)
        deltas.append(np.asarray(work.calc.results["force_uncertainty"]).copy())

    opt = getattr(ase.optimize, optimizer)(work, logfile=None)
    opt.attach(record, interval=1)
    opt.run(fmax=fmax, steps=max_steps)
    if not frames or not np.allclose(frames[-1].positions, work.positions):
        work.get_forces()
        record()
    final = work.copy()
    final.calc = None
    return final, frames, deltas


def max_parent_force(atoms: Atoms, parent="emt") -> float:
    """Largest force norm (eV/Å) the parent gives on ``atoms``."""
    a = atoms.copy()
    a.calc = make_parent(parent)
    return float(np.linalg.norm(a.get_forces(), axis=1).max())


def _central_fingerprints(model, chunks: list[Atoms]) -> np.ndarray:
    lo, span = model.scale_
    species_of = {e: i for i, e in enumerate(model.elements_)}
    rows = []
    for chunk, blocks in zip(chunks, model.blocks(chunks)):
        c = int(chunk.info["central_atom"])
        s = species_of[chunk.get_chemical_symbols()[c]]
        rows.append((blocks.features[c] - lo[s]) / span[s])
    return np.array(rows)


def choose_by_cur(model, chunks: list[Atoms], n_select: int) -> list[int]:
    """Indices of ``n_select`` chunks chosen by CUR on their scaled central fingerprints."""
    if len(chunks) <= n_select:
        return list(range(len(chunks)))
    from atomsieve.descriptors.features import AtomicFeatures
    from atomsieve.selectors.cur import CUR

    x = _central_fingerprints(model, chunks)
    feats = AtomicFeatures(values=x, species=[c.numbers[int(c.info["central_atom"])] for c in chunks],
                           structure=np.arange(len(chunks)))
    return [int(i) for i in CUR(n_to_select=int(n_select)).fit(feats).selected_]


def relax_with_retraining(nft, *, n_select: int = 5, fmax: float = 0.05, max_steps: int = 200,
                          max_rounds: int = 10, steps_not_improved: int = 2, optimizer: str = "BFGS",
                          progress: ProgressCallback | None = None,
                          should_stop: StopCallback | None = None) -> dict[str, Any]:
    """Relax ``nft.target_`` with the ensemble of a fitted :class:`NearsightedForceTraining`, retraining
    on CUR-chosen uncertain chunks of the trajectory; ``nft`` gets the new chunks and model.

    Returns a summary: the relaxed structure (``"relaxed"``), its largest parent force
    (``"max_parent_force"``, eV/Å), the rounds' trajectory maxima and chunks added, and whether
    ``should_stop()`` ended it (``"stopped"``). ``should_stop()`` is polled after every round (where
    ``progress`` hears of it) and while chunks are labelled; True keeps the rounds so far, the
    chunks labelled so far and the model of the last round (a resume goes on from there).
    """
    if not hasattr(nft, "ensemble_"):
        raise ParameterError("relax_with_retraining needs a fitted NearsightedForceTraining; call fit first")
    run = nft._run
    best_u, since_best, first, model, relaxed = _resume(nft, int(max_rounds))
    stopped = False
    with TaskRunner(nft.scheduler, nft.n_workers) as runner:
        for rnd in range(first, int(max_rounds)):
            t0 = time.perf_counter()
            k = len(nft.history_)
            relaxed, frames, deltas = relax_structure(nft.target_, model.calculator(), fmax=fmax,
                                                      max_steps=max_steps, optimizer=optimizer)
            u_frames = np.array([d.max() for d in deltas])
            u0 = float(u_frames[0])  # the starting structure, computed like every other frame
            traj_max = float(u_frames.max())
            improved = traj_max < best_u
            best_u, since_best = (traj_max, 0) if improved else (best_u, since_best + 1)
            record: dict[str, Any] = {
                "iteration": k, "phase": "relax", "round": rnd, "structure_uncertainty": u0,
                "trajectory_max_uncertainty": traj_max, "relaxed_uncertainty": float(u_frames[-1]),
                "n_frames": len(frames), "chunks_skipped_novelty": 0,
            }
            stop = None
            if since_best >= int(steps_not_improved):
                stop = f"trajectory uncertainty not improved for {steps_not_improved} rounds"
            # frame 0 is the target itself, whose uncertain atoms the loop has already chunked
            window = 1 + np.flatnonzero((u_frames[1:] >= u0) & (u_frames[1:] <= 1.5 * u0))
            if stop is None and window.size == 0:
                stop = "no frame with uncertainty between u0 and 1.5 u0"
            added: list[Atoms] = []
            if stop is None:
                added = _label_uncertain_chunks(nft, model, frames, deltas, window, k, n_select, runner,
                                                progress, record, should_stop)
            record.update(chunks_added=len(added), parent_calls=len(added), n_chunks=len(nft.chunks_),
                          candidate_frames=int(window.size), seconds=time.perf_counter() - t0)
            if stop is not None:
                record["stop_reason"] = stop
            nft.history_.append(record)
            if run is not None:
                run.write_iteration(record, {"delta": deltas[-1], "positions": relaxed.positions})
            report(progress, rnd + 1, int(max_rounds), f"relax round {rnd}: max δ = {traj_max:.3f}")
            stopped = stop is None and should_stop is not None and should_stop()
            if stop is not None or stopped:
                break
            model = _retrained(nft, k + 1)
            if run is not None:
                model.save(run.checkpoint_path(k))
    nft.ensemble_ = model
    nft.relaxed_ = relaxed
    largest = max_parent_force(relaxed, nft.parent)
    if run is not None:
        run.write_best({**(run.read_best() or {}), "relaxed_max_parent_force": largest})
    return {"relaxed": relaxed, "max_parent_force": largest,
            "rounds": len([r for r in nft.history_ if r.get("phase") == "relax"]),
            "trajectory_max_uncertainty": [r["trajectory_max_uncertainty"] for r in nft.history_
                                           if r.get("phase") == "relax"],
            "n_chunks": len(nft.chunks_), "stopped": bool(stopped)}


def _resume(nft, max_rounds: int) -> tuple[float, int, int, Any, Atoms]:
    """Where a relaxation starts: best trajectory uncertainty so far, rounds since it improved, the
    first round to run (``max_rounds`` when a finished relaxation is resumed), the model and the
    structure (the last relaxed one of a finished run, else the target)."""
    run = nft._run
    history = nft.history_
    relax_records = [r for r in history if r.get("phase") == "relax"]
    best_u, since_best = np.inf, 0
    for r in relax_records:  # resume: replay the bookkeeping of finished rounds
        u = r["trajectory_max_uncertainty"]
        best_u, since_best = (u, 0) if u < best_u else (best_u, since_best + 1)
    finished = bool(relax_records) and bool(relax_records[-1].get("stop_reason"))
    relaxed = nft.target_
    if finished:  # resume of a finished relaxation: its last model and structure
        last = int(relax_records[-1]["iteration"])
        model = nft.ensemble_ if len(relax_records) == 1 else _retrained(nft, last)
        saved = run.iteration_arrays(last) if run is not None else {}
        if "positions" in saved:
            relaxed = nft.target_.copy()
            relaxed.positions = saved["positions"]
    else:
        model = nft.ensemble_ if not relax_records else _retrained(nft, len(history))
    first = max_rounds if finished else len(relax_records)
    return best_u, since_best, first, model, relaxed


def _label_uncertain_chunks(nft, model, frames: list[Atoms], deltas: list[np.ndarray], window: np.ndarray,
                            k: int, n_select: int, runner, progress, record: dict,
                            should_stop=None) -> list[Atoms]:
    """Chunks around each window frame's most uncertain atom, ``n_select`` of them chosen by CUR and
    labelled by the parent; added to ``nft.chunks_`` (and the run folder), the model's test error on
    them recorded as ``record["force_mae_test"]``."""
    candidates = []
    for f in window:
        chunk = cut_chunk(frames[f], int(np.argmax(deltas[f])), nft.cutoff, periodic=nft.periodic_chunks)
        chunk.info.update(iteration=k, frame=int(f), delta_target=float(deltas[f].max()))
        candidates.append(chunk)
    picked = [candidates[i] for i in choose_by_cur(model, candidates, n_select)]
    added = label_structures(picked, nft.parent, runner=runner, progress=progress, should_stop=should_stop)
    if added:
        pred = model.predict_chunks(added)
        for c, f, d in zip(added, pred["forces"], pred["delta"]):
            c.info["predicted_force"] = np.asarray(f, dtype=float)
            c.info["predicted_delta"] = float(d)
        ref = np.array([c.get_forces()[0] for c in added])
        record["force_mae_test"] = float(np.mean(np.abs(pred["forces"] - ref)))
    nft.chunks_.extend(added)
    if nft._run is not None:
        nft._run.write_chunks(nft.chunks_)
    return added


def _retrained(nft, k: int):
    model = nft._template.clone(seed=nft.seed + 1000 * k)
    return model.fit(nft.initial_, nft.chunks_)
