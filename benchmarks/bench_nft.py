"""Acceptance run of nearsighted force training on the paper's EMT case (Zeng, Chen, Peterson 2022).

Target: a rattled (σ = 0.1 Å) Pt260 truncated octahedron, ``ase.cluster.Octahedron("Pt", 8, 3)``;
parent ASE EMT; chunk cutoff 6.5 Å. Reports, as JSON (``--json``) and on stdout:

- structure uncertainty max δ and chunks per iteration, chunks skipped by the novelty filter;
- force MAE of the central atoms of the training chunks and of held-out test chunks (chunks cut
  around atoms that never were a chunk centre, labelled by EMT, predicted by the final ensemble);
- the ML-relaxed structure's largest EMT force (with ``--relax-rounds`` > 0, relaxation with
  retraining; otherwise a plain relaxation with the final ensemble);
- transfer to a rattled Pt1415 (``Octahedron("Pt", 15, 7)``): force MAE against EMT, max δ;
- the wall time of each stage.

Defaults are the paper's settings (those of ``atomsieve nft``); the acceptance run itself is the CLI
(see benchmarks/README.md).

Run:  .venv/bin/python benchmarks/bench_nft.py --json /tmp/bench_nft.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.calculators.emt import EMT
from ase.cluster import Octahedron

from atomsieve.active.chunks import cut_chunks
from atomsieve.active.loop import NearsightedForceTraining
from atomsieve.active.model import NFTEnsemble
from atomsieve.active.parents import label_structures
from atomsieve.active.relax import max_parent_force, relax_structure, relax_with_retraining


def rattled(atoms, sigma, seed):
    atoms.positions += np.random.default_rng(seed).normal(0.0, sigma, atoms.positions.shape)
    return atoms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # defaults: the paper's settings, as ``atomsieve nft`` has them
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--hidden", default="10,10")
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--patience", type=int, default=50)
    ap.add_argument("--descriptor", default="gaussian_g2g4")
    ap.add_argument("--descriptor-cutoff", type=float, default=6.5)
    ap.add_argument("--feature-selection", default="fcorr", help="fcorr, cur or none")
    ap.add_argument("--n-features", type=int, default=21)
    ap.add_argument("--cutoff", type=float, default=6.5)
    ap.add_argument("--chunks-per-iter", type=int, default=26)
    ap.add_argument("--max-iter", type=int, default=20)
    ap.add_argument("--stop-delta", type=float, default=0.02)
    ap.add_argument("--n-initial", type=int, default=20)
    ap.add_argument("--initial-cells", type=int, default=20)
    ap.add_argument("--initial-rattles", type=int, default=3)
    ap.add_argument("--novelty-threshold", type=float, default=0.01)
    ap.add_argument("--test-chunks", type=int, default=20)
    ap.add_argument("--relax-rounds", type=int, default=0)
    ap.add_argument("--relax-steps", type=int, default=150)
    ap.add_argument("--no-transfer", action="store_true")
    ap.add_argument("--scheduler", default=None, help="None (serial), local or tcp://...")
    ap.add_argument("--run-dir", help="default: a fresh temporary folder")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    target = rattled(Octahedron("Pt", 8, 3), 0.1, seed=0)
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="nft_pt260_")) / "run"
    selection = None if args.feature_selection == "none" else args.feature_selection
    model = NFTEnsemble(n_members=args.members, model="bpnn", descriptor=args.descriptor,
                          descriptor_cutoff=args.descriptor_cutoff, n_features=args.n_features,
                          feature_selection=selection,
                          model_params={"hidden": [int(h) for h in args.hidden.split(",")],
                                        "max_epochs": args.epochs, "patience": args.patience})
    nft = NearsightedForceTraining(
        "emt", cutoff=args.cutoff, chunks_per_iteration=args.chunks_per_iter, max_iterations=args.max_iter,
        stop_delta=args.stop_delta, model=model, novelty_threshold=args.novelty_threshold,
        n_initial=args.n_initial, initial_cells=args.initial_cells, initial_rattles=args.initial_rattles,
        scheduler=args.scheduler, run_dir=run_dir,
    )

    def progress(done, total, label):
        if label.startswith(("iteration", "relax")):
            print(f"[{time.perf_counter() - t_start:7.1f} s] {label}", flush=True)

    nft.fit(target, progress=progress)
    t_loop = time.perf_counter() - t_start
    iterations = [{k: r.get(k) for k in ("iteration", "structure_uncertainty", "n_chunks", "chunks_added",
                                           "chunks_skipped_novelty", "force_mae_train", "force_mae_test",
                                           "train_seconds", "seconds", "stop_reason")}
                  for r in nft.history_]
    result = {"settings": vars(args), "run_dir": str(run_dir), "iterations": iterations,
              "best_iteration": nft.best_iteration_, "best_structure_uncertainty": float(nft.delta_.max()),
              "chunks": len(nft.chunks_), "initial_cells": len(nft.initial_),
              "novelty_saved_parent_calls": sum(int(r.get("chunks_skipped_novelty", 0))
                                                for r in nft.history_),
              "loop_seconds": t_loop}

    # force MAE on training chunks and on held-out test chunks, best ensemble
    ens = nft.ensemble_
    train = [c for c in nft.chunks_ if int(c.info["iteration"]) < nft.best_iteration_]
    if train:
        pred = ens.predict_chunks(train)["forces"]
        result["force_mae_train_chunks"] = float(np.mean(np.abs(pred - [c.get_forces()[0] for c in train])))
    centres = {int(c.info["source_atom"]) for c in nft.chunks_}
    rng = np.random.default_rng(1)
    pool = np.array([i for i in range(len(target)) if i not in centres])
    test_atoms = rng.choice(pool, size=min(args.test_chunks, len(pool)), replace=False)
    test = label_structures(cut_chunks(nft.target_, test_atoms, args.cutoff), "emt")
    pred = ens.predict_chunks(test)
    ref = np.array([c.get_forces()[0] for c in test])
    result["force_mae_test_chunks"] = float(np.mean(np.abs(pred["forces"] - ref)))
    result["test_chunk_max_delta"] = float(pred["delta"].max())

    # whole-target force error against EMT
    full = nft.target_.copy()
    full.calc = EMT()
    p = ens.predict(nft.target_)
    result["target_force_mae"] = float(np.mean(np.abs(p["forces"] - full.get_forces())))

    # relaxation
    t0 = time.perf_counter()
    if args.relax_rounds > 0:
        out = relax_with_retraining(nft, max_rounds=args.relax_rounds, max_steps=args.relax_steps,
                                    progress=progress)
        relaxed, result["relax_rounds"] = out["relaxed"], out["rounds"]
        result["chunks_after_relax"] = out["n_chunks"]
        ens = nft.ensemble_
    else:
        relaxed, frames, _ = relax_structure(nft.target_, ens.calculator(), fmax=0.05,
                                             max_steps=args.relax_steps)
        result["relax_steps"] = len(frames)
    result["relaxed_max_emt_force"] = max_parent_force(relaxed, "emt")
    result["relaxed_max_ml_force"] = float(np.linalg.norm(ens.predict(relaxed, cache=False)["forces"],
                                                          axis=1).max())
    result["unrelaxed_max_emt_force"] = max_parent_force(nft.target_, "emt")
    result["relax_seconds"] = time.perf_counter() - t0

    if not args.no_transfer:
        t0 = time.perf_counter()
        big = rattled(Octahedron("Pt", 15, 7), 0.1, seed=2)
        pb = ens.predict(big, cache=False)
        big.calc = EMT()
        f_emt = big.get_forces()
        result["pt1415"] = {"atoms": len(big), "force_mae": float(np.mean(np.abs(pb["forces"] - f_emt))),
                            "max_delta": float(pb["delta"].max()), "mean_delta": float(pb["delta"].mean()),
                            "seconds": time.perf_counter() - t0}
    result["wall_seconds"] = time.perf_counter() - t_start
    text = json.dumps(result, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
