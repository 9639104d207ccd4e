"""Benchmarks of the comparison selectors.

1. ``fps``: our exact FPS engine against scikit-matter's ``sample_selection.FPS`` on ≥ 10,000
   structure-level points, identical picks checked, best of ``--repeats`` interleaved runs.
   Points: "pseudo-structures", the mean fingerprint of half the atoms (drawn with a seed) of one
   of the 228 germanium training structures (40 symmetry functions, li_single_element, min-max
   scaled), duplicates removed, so the points have the shape of real structure means. A second
   set, isotropic Gaussian points in 40 dimensions, is the worst case for the pruning.
2. ``methods``: seconds of ``fit`` versus number selected for every method on the default
   germanium dataset (the data behind the dashboard's timing plot); LE-bank over a threshold grid.

Run: ``.venv/bin/python benchmarks/bench_selectors.py [--part fps|methods|all] [--repeats 3]
[--json benchmarks/selector_timings.json]``. Fingerprints are cached on disk
(``$ATOMSIEVE_CACHE_DIR`` or ``~/.cache/atomsieve``), so only the first run computes them.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def germanium_features():
    from atomsieve.datasets import load_default
    from atomsieve.descriptors import preset

    ds = load_default("train")
    return ds, preset(None, ds.elements).compute(ds, cache=True)


def pseudo_structures(ds, feats, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(feats.atom_counts)])
    order = np.argsort(feats.structure, kind="stable")
    values = feats.values[order]
    eligible = np.flatnonzero(feats.atom_counts >= 8)
    points = []
    while len(points) < int(n * 1.3):
        s = int(rng.choice(eligible))
        rows = offsets[s] + rng.choice(feats.atom_counts[s], feats.atom_counts[s] // 2, replace=False)
        points.append(values[rows].mean(axis=0))
    points = np.array(points)
    _, keep = np.unique(np.round(points, 9), axis=0, return_index=True)
    return points[np.sort(keep)[:n]]


def best_of(repeats: int, runs: dict) -> dict:
    """Interleaved best-of-``repeats`` wall and CPU seconds of each callable; results of the last run."""
    best = {name: [np.inf, np.inf, None] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn()
            best[name][0] = min(best[name][0], time.perf_counter() - wall)
            best[name][1] = min(best[name][1], time.process_time() - cpu)
            best[name][2] = result
    return best


def bench_fps(points: np.ndarray, counts, repeats: int, label: str) -> list[dict]:
    from skmatter.sample_selection import FPS as SkmatterFPS
    from threadpoolctl import threadpool_limits

    from atomsieve.selectors.fps import farthest_point_sampling

    def skmatter(count):
        return SkmatterFPS(n_to_select=count, initialize=0).fit(points).selected_idx_

    def skmatter_one_thread(count):
        with threadpool_limits(limits=1, user_api="blas"):
            return skmatter(count)

    rows = []
    for count in counts:
        best = best_of(repeats, {
            "ours": lambda c=count: farthest_point_sampling(points, c, first=0)[0],
            "skmatter": lambda c=count: skmatter(c),
            "skmatter_1thread": lambda c=count: skmatter_one_thread(c),
        })
        same = all(np.array_equal(best["ours"][2], best[k][2]) for k in ("skmatter", "skmatter_1thread"))
        row = {
            "points": label, "n_points": len(points), "n_features": points.shape[1], "n_selected": count,
            "ours_s": best["ours"][0], "skmatter_s": best["skmatter"][0],
            "skmatter_1thread_s": best["skmatter_1thread"][0],
            "speedup": best["skmatter"][0] / best["ours"][0],
            "speedup_vs_1thread": best["skmatter_1thread"][0] / best["ours"][0],
            "ours_cpu_s": best["ours"][1], "skmatter_cpu_s": best["skmatter"][1],
            "identical_picks": bool(same),
        }
        rows.append(row)
        print(f"| {label} | {len(points)} x {points.shape[1]} | {count} | {row['ours_s']:.3f} | "
              f"{row['skmatter_s']:.3f} | {row['skmatter_1thread_s']:.3f} | **{row['speedup']:.1f}x** | "
              f"{row['speedup_vs_1thread']:.1f}x | {'yes' if same else 'NO'} |", flush=True)
    return rows


def bench_methods(ds, feats, counts, repeats: int) -> list[dict]:
    from atomsieve.selectors import LEBank, make_selector
    from atomsieve.selectors.registry import fit_labels

    methods = ["fps", "hfps", "cur", "cluster", "random", "energy", "force", "kernel-fps"]
    rows = []
    for method in methods:
        for count in counts:
            def run(m=method, c=count):
                return make_selector(m, c, seed=0).fit(feats, **fit_labels(m, ds))

            best = best_of(repeats, {"fit": run})
            sel = best["fit"][2]
            rows.append({"method": method, "n_selected": len(sel.selected_), "seconds": best["fit"][0],
                         "atoms": sel.n_selected_atoms_})
        print(f"| {method} | " + " | ".join(f"{r['seconds']:.4f}" for r in rows[-len(counts):]) + " |",
              flush=True)
    lebank = []
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8):
        best = best_of(repeats, {"fit": lambda t=threshold: LEBank(thresholds=t, seed=0).fit(feats)})
        sel = best["fit"][2]
        lebank.append({"method": "lebank", "threshold": threshold, "n_selected": len(sel.selected_),
                       "seconds": best["fit"][0], "atoms": sel.n_selected_atoms_})
    rows += lebank
    print("| lebank (threshold: n selected, s) | " + " | ".join(
        f"{r['threshold']}: {r['n_selected']}, {r['seconds']:.4f}" for r in lebank) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["fps", "methods", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-points", type=int, default=12_000)
    parser.add_argument("--counts", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ds, feats = germanium_features()
    out = {"date": time.strftime("%Y-%m-%d"), "fps": [], "methods": []}
    if args.part in ("fps", "all"):
        print("| points | n x features | selected | ours s | skmatter s | skmatter 1-thread s | ratio | "
              "ratio vs 1-thread | identical |\n|---|---|---|---|---|---|---|---|---|")
        pseudo = pseudo_structures(ds, feats, args.n_points)
        out["fps"] += bench_fps(pseudo, args.counts, args.repeats, "Ge pseudo-structures")
        gauss = np.random.default_rng(1).normal(size=(args.n_points, feats.n_features))
        out["fps"] += bench_fps(gauss, args.counts[:1], args.repeats, "Gaussian (worst case)")
    if args.part in ("methods", "all"):
        counts = [10, 25, 50, 100, 150, 200]
        print("\n| method | " + " | ".join(f"n={c}" for c in counts) + " |\n|---|" + "---|" * len(counts))
        out["methods"] = bench_methods(ds, feats, counts, args.repeats)
    if args.json:
        from atomsieve.data import atomic_path

        with atomic_path(args.json, overwrite=True) as tmp:
            tmp.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
