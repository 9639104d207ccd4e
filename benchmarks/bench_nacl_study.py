"""The molten-salt selection study, small: five selection methods on a molten-NaCl pool.

Random, global-energy-uniform, atomic-energy-uniform, force-uniform selection (the study's four) and
the LE-bank (ours) pick structures from a Tosi–Fumi molten-NaCl pool; a linear potential is fitted on
each selection and scored on a separate test pool (RMSE and max force error), then run in Langevin
NVT MD at 1400 K on a box larger than the training cells and judged by ``md_check`` against the
Tosi–Fumi reference run on the same box with the same seed (so a perfect potential gets an RDF
distance of 0).

Run: ``.venv/bin/python benchmarks/bench_nacl_study.py [--pool 120] [--md-ions 128] [--md-steps 120]``
(``--json PATH`` writes the rows and RDFs; ``--ridge`` sets the linear model's ridge). The error
table also lists each model's fitted energy offsets (eV per atom of Na and Cl) and the condition
number of its normal matrix (``LinearModel.condition_number_``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from atomsieve.builders import TosiFumi, build
from atomsieve.descriptors import preset
from atomsieve.evaluate import learning_curves
from atomsieve.evaluate.context import build_context
from atomsieve.evaluate.md_rows import md_check_row, resolve_md_options, selection_potential
from atomsieve.evaluate.selection import select

METHODS = ("random", "energy", "atomic-energy", "force", "lebank")


def max_force_error(potential, context) -> float:
    """Largest absolute force-component error (eV/Å) on the context's test set."""
    _, forces = potential.model.predict(context.test)
    return float(np.max(np.abs(forces - context.test.forces)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=120)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--md-size", type=int, default=20, help="training size of the MD-checked models")
    parser.add_argument("--md-ions", type=int, default=128)
    parser.add_argument("--md-steps", type=int, default=120)
    parser.add_argument("--md-equilibration", type=int, default=40)
    parser.add_argument("--r-cut", type=float, default=4.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge", type=float, default=None, help="LinearModel ridge (default: its own)")
    parser.add_argument("--skip-md", action="store_true", help="errors only, no MD")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    pool_options = {"frames_per_trajectory": 10, "equilibration": 100, "interval": 10}
    pool = build("molten-nacl", args.pool, seed=args.seed, **pool_options)
    test = build("molten-nacl", args.test, seed=args.seed + 1000, **pool_options)
    print(f"pools: {len(pool)} + {len(test)} structures of 100 ions, {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    descriptor = preset("li_two_element", ["Na", "Cl"], r_cut=args.r_cut)
    model_params = {} if args.ridge is None else {"ridge": args.ridge}
    context = build_context(pool, test=test, descriptor=descriptor, model_params=model_params)
    print(f"featurised ({context.features.n_features} features, r_cut {args.r_cut} Å): "
          f"{time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    table = learning_curves(pool, methods=METHODS, sizes=args.sizes, test=test, context=context,
                            seed=args.seed)
    print(f"learning curves: {time.perf_counter() - t0:.0f} s")
    rows = []
    for method in (*METHODS, "full"):
        sizes = [len(pool)] if method == "full" else args.sizes
        for size in sizes:
            selected = (np.arange(len(pool)) if method == "full"
                        else select(context.features, method, size, args.seed, pool,
                                    context.selector_params.get(method))[0])
            potential = selection_potential(context, selected, args.seed)
            curve = table[(table.method == method) & (table["size"] == size)].iloc[0]
            rows.append({"method": method, "size": size, "n_selected": int(curve.n_selected),
                         "rmse_e_pred": float(curve.rmse_e_pred), "rmse_f_pred": float(curve.rmse_f_pred),
                         "max_f_err": 1000 * max_force_error(potential, context),
                         "offsets": [float(b) for b in potential.model.offsets_],
                         "condition": float(potential.model.condition_number_),
                         "solver": potential.model.solver_})
    print("\nmethod         size  n_sel  RMSE E (meV/atom)  RMSE F (meV/Å)  max |ΔF| (meV/Å)  "
          "offsets Na, Cl (eV)  condition")
    for r in rows:
        print(f"{r['method']:<14} {r['size']:>4} {r['n_selected']:>6} {r['rmse_e_pred']:>18.2f} "
              f"{r['rmse_f_pred']:>15.1f} {r['max_f_err']:>17.0f}  "
              f"{r['offsets'][0]:>8.4f} {r['offsets'][1]:>8.4f}  {r['condition']:.1e} ({r['solver']})")

    if args.skip_md:
        return
    t0 = time.perf_counter()
    md = resolve_md_options({"system": ("molten-nacl", args.md_ions), "reference": TosiFumi(),
                             "temperature": 1400.0, "n_steps": args.md_steps,
                             "equilibration_steps": args.md_equilibration, "timestep": 2.0,
                             "sample_every": 10, "r_max": 6.0, "n_bins": 60, "nve_steps": 20,
                             "max_seconds": 400.0, "seed": args.seed})
    print(f"\nreference Tosi–Fumi MD ({args.md_ions} ions, {args.md_steps} × 2 fs at 1400 K): "
          f"{time.perf_counter() - t0:.0f} s, {len(md['reference'])} frames kept")
    md_rows = []
    for method in (*METHODS, "full"):
        size = len(pool) if method == "full" else args.md_size
        selected = (np.arange(len(pool)) if method == "full"
                    else select(context.features, method, size, args.seed, pool,
                                context.selector_params.get(method))[0])
        potential = selection_potential(context, selected, args.seed)
        t0 = time.perf_counter()
        row = md_check_row(potential, keep_report=True, **md)
        report = row.pop("md_report")
        md_rows.append({"method": method, "size": size, **row, "seconds": time.perf_counter() - t0,
                        "reasons": report.reasons, "rdf_distance_per_pair": report.rdf_distance,
                        "min_distance": report.min_distance,
                        "reference_min_distance": report.reference_min_distance,
                        "short_range_fraction": report.short_range_fraction,
                        "steps_run": report.steps_run, "report": report.to_dict()})
        print(f"{method:<14} {size:>4}  {row['md_verdict']:<11} RDF distance {row['rdf_distance']:.3f} Å  "
              f"closest {', '.join(f'{k} {v:.2f}' for k, v in report.min_distance.items())} Å  "
              f"({report.steps_run} steps, {time.perf_counter() - t0:.0f} s)"
              + (f"  [{'; '.join(report.reasons)}]" if report.reasons else ""), flush=True)
    ref_min = md_rows[0]["reference_min_distance"]
    print("reference closest: " + ", ".join(f"{k} {v:.2f}" for k, v in ref_min.items()) + " Å")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows, "md_rows": md_rows}, fh, default=float)


if __name__ == "__main__":
    main()
