"""``atomsieve nft TARGET``: nearsighted force training of one target structure."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    from atomsieve.commands.options import count, number, seed

    p = sub.add_parser(
        "nft",
        help="nearsighted force training: label uncertain chunks of a target with a parent calculator",
        description="Train a bootstrap ensemble, cut chunks around the target's most uncertain atoms, "
                    "label them with the parent, retrain; an interrupted run resumes from --run-dir. "
                    "Units: Å, eV/Å.",
    )
    p.add_argument("target", help="structure file of the target (first structure is used)")
    p.add_argument("--run-dir", required=True, help="folder that records the run (resumed when it exists)")
    p.add_argument("--parent", default="emt", help="parent calculator: emt (default) or gfn1-xtb")
    p.add_argument("--initial", metavar="PATH", help="initial training cells (labelled or not); "
                   "default: random fcc/tetragonal cells chosen by hierarchical FPS")
    p.add_argument("--n-initial", type=count(1, 100_000), default=20,
                   help="initial cells to choose (default 20)")
    p.add_argument("--chunks-per-iter", type=count(1, 100_000), default=26,
                   help="chunks per iteration (default 26)")
    p.add_argument("--percentile", type=number(0, 100, high_open=True),
                   help="chunk atoms whose δ is above this percentile instead")
    p.add_argument("--cutoff", type=number(0, 100, low_open=True), default=6.5,
                   help="chunk radius in Å (default 6.5)")
    p.add_argument("--periodic-chunks", action="store_true", help="cut periodic box chunks (for slabs)")
    p.add_argument("--max-iter", type=count(1, 100_000), default=20, help="most iterations (default 20)")
    p.add_argument("--stop-delta", type=number(0), default=0.02,
                   help="stop when the structure uncertainty max δ falls below this, eV/Å "
                        "(default 0.02, the paper's)")
    p.add_argument("--steps-not-improved", type=count(1, 100_000), default=2,
                   help="stop after this many iterations "
                   "without a better structure uncertainty (default 2)")
    p.add_argument("--members", type=count(1, 1000), default=10,
                   help="bootstrap ensemble members (default 10)")
    p.add_argument("--model", choices=["bpnn", "linear"], default="bpnn", help="member model (default bpnn)")
    p.add_argument("--epochs", type=count(1, 1_000_000),
                   help="most training epochs (L-BFGS iterations) of a BPNN member "
                        "(default: atomsieve.active.model.DEFAULT_BPNN)")
    p.add_argument("--hidden", help="hidden layer widths of a BPNN member, e.g. 10,10 (the default)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], help="BPNN member optimizer (default lbfgs)")
    p.add_argument("--descriptor", default="gaussian_g2g4",
                   help="symmetry-function preset (default gaussian_g2g4: 56 Gaussian G2/G4 candidates)")
    p.add_argument("--descriptor-cutoff", type=number(0, 100, low_open=True), default=6.5,
                   help="symmetry-function cutoff, Å (default 6.5)")
    p.add_argument("--feature-selection", choices=["fcorr", "cur", "none"], default="fcorr",
                   help="choose --n-features of the descriptor's functions at every fit: force "
                        "correlation (default), CUR, or none (keep all)")
    p.add_argument("--n-features", type=count(1, 100_000), default=21,
                   help="functions kept by the feature selection (default 21, the paper's input size)")
    p.add_argument("--novelty-threshold", type=number(0), default=0.01,
                   help="skip chunks whose centre is this close to a labelled environment (default 0.01)")
    p.add_argument("--no-novelty", action="store_true", help="turn the novelty filter off")
    p.add_argument("--relax", action="store_true", help="then relax the target with retraining")
    p.add_argument("--relax-chunks", type=count(1, 100_000), default=5,
                   help="chunks kept by CUR per relax round")
    p.add_argument("--fmax", type=number(0, low_open=True), default=0.05,
                   help="relaxation force criterion, eV/Å")
    p.add_argument("--scheduler", default="local",
                   help="where parent calls run: local (Dask LocalCluster, default), serial, or tcp://HOST:PORT")
    p.add_argument("--workers", type=count(1, 1024), help="LocalCluster worker processes")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    p.set_defaults(run=run)


def _model(args):
    from atomsieve.active.model import NFTEnsemble
    from atomsieve.errors import ParameterError

    params: dict = {}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    if args.optimizer is not None:
        params["optimizer"] = args.optimizer
    if args.hidden:
        try:
            params["hidden"] = [int(h) for h in args.hidden.split(",")]
        except ValueError:
            raise ParameterError(f"--hidden {args.hidden!r}: give widths like 16,16") from None
        if not all(1 <= h <= 100_000 for h in params["hidden"]):
            raise ParameterError(f"--hidden {args.hidden!r}: each width must be from 1 to 100,000")
    if args.model == "linear" and params:
        raise ParameterError("--epochs, --hidden and --optimizer apply to --model bpnn only")
    selection = None if args.feature_selection == "none" else args.feature_selection
    return NFTEnsemble(n_members=args.members, model=args.model, model_params=params or None,
                         descriptor=args.descriptor, descriptor_cutoff=args.descriptor_cutoff,
                         feature_selection=selection, n_features=args.n_features, seed=args.seed)


def run(args) -> int:
    from atomsieve.active.loop import NearsightedForceTraining
    from atomsieve.data.io import read_frames
    from atomsieve.progress import progress_bar

    target = read_frames(args.target, 0)[0][0]
    initial = read_frames(args.initial)[0] if args.initial else None
    scheduler = None if args.scheduler == "serial" else args.scheduler
    nft = NearsightedForceTraining(
        args.parent, cutoff=args.cutoff, chunks_per_iteration=args.chunks_per_iter,
        percentile=args.percentile, max_iterations=args.max_iter, stop_delta=args.stop_delta,
        steps_not_improved=args.steps_not_improved, model=_model(args),
        novelty_threshold=None if args.no_novelty else args.novelty_threshold,
        periodic_chunks=args.periodic_chunks, n_initial=args.n_initial, scheduler=scheduler,
        n_workers=args.workers, run_dir=args.run_dir, seed=args.seed,
    )
    with progress_bar("nft", enabled=args.progress) as bar:
        nft.fit(target, initial, progress=bar)
    for r in nft.history_:
        print(f"iteration {r['iteration']:>3}  max δ {r['structure_uncertainty']:.4f} eV/Å  "
              f"chunks {r.get('n_chunks', 0):>4}  skipped {r.get('chunks_skipped_novelty', 0)}"
              + (f"  stop: {r['stop_reason']}" if r.get("stop_reason") else ""))
    summary = {"best_iteration": nft.best_iteration_, "structure_uncertainty": float(nft.delta_.max()),
               "target_force_mae": nft.target_force_mae_, "chunks": len(nft.chunks_),
               "run_dir": str(args.run_dir)}
    if args.relax:
        from atomsieve.active.relax import relax_with_retraining

        with progress_bar("relax", enabled=args.progress) as bar:
            out = relax_with_retraining(nft, n_select=args.relax_chunks, fmax=args.fmax, progress=bar)
        summary.update(relax_rounds=out["rounds"], relaxed_max_parent_force=out["max_parent_force"],
                       chunks=out["n_chunks"])
    print(json.dumps(summary))
    return 0
