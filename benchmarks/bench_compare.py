"""Cross-method comparison on the default germanium set: timing, and the paper's scientific check.

Run from the repository root::

    .venv/bin/python benchmarks/bench_compare.py                      # timing: 7 methods x 6 sizes
    .venv/bin/python benchmarks/bench_compare.py --scientific         # + prediction-set table (test split)
    .venv/bin/python benchmarks/bench_compare.py --bpnn-sizes 40,80   # + the neural network at a few sizes
    .venv/bin/python benchmarks/bench_compare.py --scientific --ridge 1e-4   # the table with another ridge
    # the germanium study with BPNNModel's defaults (issue 19): full data and three methods at
    # 23 and 46 structures, one model seed after another, one job at a time
    .venv/bin/python benchmarks/bench_compare.py --threads 1 --bpnn-only --bpnn-sizes 23,46 \
        --bpnn-methods lebank,fps,random --bpnn-seeds 0,1 --json ge_bpnn.json

What is timed (wall seconds, this process, torch on the threads given by --threads):

1. ``prepare`` cold: symmetry functions and their Jacobian for all 228 structures (disk cache
   empty, a temporary folder), then warm (read back from the disk cache, new process state);
2. one linear fit on the whole set, against scikit-learn's ``Ridge`` (closed-form "cholesky"
   solver) on the same stacked energy/force design matrix: the named peer;
3. ``learning_curves``: 7 methods x 6 sizes x 1 repeat with the linear model (selection with
   the LE-bank threshold calibrated to each size included), on warm prepared data.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def ridge_peer(data, force_weight: float = 0.1, ridge: float = 1e-8):
    """scikit-learn Ridge on the same weighted rows our closed form solves."""
    from sklearn.linear_model import Ridge

    from atomsieve.potentials.linear import energy_rows as rows_e
    from atomsieve.potentials.linear import force_rows as rows_f
    from atomsieve.potentials.loss import loss_weights

    energy_rows, force_rows = rows_e(data), rows_f(data)
    e_w, f_w = loss_weights(data, None, force_weight)
    X = np.vstack([energy_rows * np.sqrt(e_w)[:, None],
                   (force_rows * np.sqrt(f_w)[:, None, None]).reshape(-1, energy_rows.shape[1])])
    y = np.concatenate([data.energies * np.sqrt(e_w), (data.forces * np.sqrt(f_w)[:, None]).reshape(-1)])
    start = time.perf_counter()
    Ridge(alpha=ridge, fit_intercept=False, solver="cholesky").fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="lebank,fps,cur,cluster,random,energy,force")
    parser.add_argument("--sizes", default="10,20,40,80,120,160")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scientific", action="store_true", help="score on the test split (25 structures)")
    parser.add_argument("--bpnn-sizes", default="",
                        help="also train the BPNN for lebank and fps at these sizes")
    parser.add_argument("--bpnn-methods", default="lebank,fps",
                        help="methods of the BPNN part (plus a full-data row; '' for that row only)")
    parser.add_argument("--bpnn-seeds", default="0",
                        help="seeds of the BPNN part (selection and network), one study after another")
    parser.add_argument("--bpnn-no-full", action="store_true",
                        help="leave out the BPNN part's full-data row (e.g. for a second seed)")
    parser.add_argument("--bpnn-epochs", type=int, default=None,
                        help="BPNN max_epochs (default: the class default; the first table used 150 with "
                             "the Adam defaults of the time, hidden 32-32 and patience 30)")
    parser.add_argument("--bpnn-legacy", action="store_true",
                        help="the first table's settings: hidden 32-32, patience 30, max_epochs 150 "
                             "(meant for the Adam defaults of the time)")
    parser.add_argument("--bpnn-only", action="store_true", help="skip the linear timing part")
    parser.add_argument("--ridge", type=float, default=None,
                        help="LinearModel ridge of the learning curves (default: its own, 1e-8)")
    parser.add_argument("--json", help="write the figures and tables here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]

    from atomsieve.datasets import load_default
    from atomsieve.descriptors import preset

    pool, test = load_default("train"), load_default("test")
    sf = preset(None, pool.elements)
    figures = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, threads {args.threads}"}

    out: dict = {"figures": figures}
    if not args.bpnn_only:
        out["linear"] = linear_part(args, pool, test, sf, methods, sizes, figures)
    if args.bpnn_sizes:
        out["bpnn"] = bpnn_part(args, pool, test, sf)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=float)


def linear_part(args, pool, test, sf, methods, sizes, figures) -> list:
    from atomsieve.evaluate import build_context, learning_curves, summarize
    from atomsieve.potentials import LinearModel, prepare
    from atomsieve.potentials import featurize as featurize_module

    previous = os.environ.get("ATOMSIEVE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ATOMSIEVE_CACHE_DIR"] = cache
        _, figures["prepare_cold_s"] = timed(prepare, pool, sf)
        featurize_module._CACHE.clear()
        (data, feats), figures["prepare_warm_disk_s"] = timed(prepare, pool, sf)
        model, figures["linear_fit_first_s"] = timed(LinearModel().fit, data)  # design rows built here
        figures["linear_condition_number"] = float(model.condition_number_)
        figures["linear_solver"] = model.solver_
        fits = [timed(LinearModel().fit, data)[1] for _ in range(5)]
        figures["linear_fit_s"] = float(np.median(fits))
        figures["ridge_peer_s"] = float(np.median([ridge_peer(data) for _ in range(3)]))
        figures["linear_vs_ridge_speedup"] = figures["ridge_peer_s"] / figures["linear_fit_s"]
        ctx, figures["context_s"] = timed(build_context, pool, test=test if args.scientific else None,
                                          descriptor=sf,
                                          model_params={} if args.ridge is None else {"ridge": args.ridge})
        table, figures["learning_curves_s"] = timed(learning_curves, pool, methods, sizes, "linear",
                                                    args.repeats, 0, context=ctx)
    if previous is None:
        os.environ.pop("ATOMSIEVE_CACHE_DIR", None)
    else:
        os.environ["ATOMSIEVE_CACHE_DIR"] = previous
    figures["jobs"] = len(table)
    print(json.dumps(figures, indent=1))
    summary = summarize(table)
    pivot = summary.pivot(index="size", columns="method", values="rmse_f_pred").round(1)
    print("\nforce RMSE on the", "test split" if args.scientific else "whole pool", "(meV/Å), linear model")
    print(pivot.to_string())
    print("\nselected structures (LE-bank: calibrated count)")
    print(summary.pivot(index="size", columns="method", values="n_selected").to_string())
    return table.to_dict(orient="records")


def bpnn_part(args, pool, test, sf) -> list:
    """BPNN learning-curve rows for each seed (serial: one job at a time), printed as they finish."""
    from atomsieve.evaluate import build_context, learning_curves
    from atomsieve.potentials import BPNNModel

    bpnn_sizes = [int(s) for s in args.bpnn_sizes.split(",")]
    params: dict = {"device": "cpu"}
    if args.bpnn_legacy:
        params.update(max_epochs=150, hidden=(32, 32), patience=30)
    if args.bpnn_epochs is not None:
        params["max_epochs"] = args.bpnn_epochs
    print("BPNN config:", BPNNModel(**params).get_config(), flush=True)
    bctx = build_context(pool, test=test, descriptor=sf, model="bpnn", model_params=params)
    rows: list = []

    def on_row(row):
        rows.append(row)
        print({k: row.get(k) for k in ("method", "size", "repeat", "n_selected", "rmse_f_train",
                                       "rmse_f_pred", "rmse_e_pred", "fit_seconds")}, flush=True)
        if args.json:  # partial results survive an interrupted run
            with open(args.json + ".partial", "w") as fh:
                json.dump(rows, fh, indent=1, default=float)

    tables = []
    for seed in [int(s) for s in args.bpnn_seeds.split(",")]:
        btable, seconds = timed(learning_curves, pool, [m for m in args.bpnn_methods.split(",") if m],
                                bpnn_sizes, "bpnn", 1,
                                seed, context=bctx, on_row=on_row, scheduler="serial",
                                reference=not args.bpnn_no_full)
        btable["seed"] = seed
        print(f"\nBPNN seed {seed} ({seconds:.0f} s): force RMSE on the test split (meV/Å)")
        print(btable[["method", "size", "n_selected", "rmse_f_train", "rmse_f_pred", "fit_seconds"]].round(1)
              .to_string(index=False), flush=True)
        tables.extend(btable.to_dict(orient="records"))
    return tables

if __name__ == "__main__":
    main()
