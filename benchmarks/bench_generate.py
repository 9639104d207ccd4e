"""Acceptance run of the entropy-maximisation generator (Karabin & Perez 2020), our Table I.

Generates, with one seed and one descriptor scale, an unbiased set (K = 0) and biased sets
(K_max given by --kmax, default the paper's 1000 eV and 50 eV) in the paper's geometry
(39 W atoms, periodic 9.54 × 9.54 × 14.31 Å, 10,000 K → 0 K), then prints:

- mean entropy S per configuration of each set;
- the smallest interatomic distance of each set against 0.8·r0;
- seconds per harvested configuration (the unbiased set is the peer: same MD, no descriptors);
- the train-on-A / test-on-B nearest-neighbour distance table averaged over random splits.

    .venv/bin/python benchmarks/bench_generate.py --configs 20 --steps 500 --kmax 1000 50

Writes a JSON summary with --json PATH.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from atomsieve.generate import (
    EntropyMaximisationGenerator,
    configuration_entropies,
    format_coverage_table,
    scaled_features,
    split_coverage_table,
)
from atomsieve.generate.repulsive import RepulsivePotential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=20, help="configurations per set")
    parser.add_argument("--steps", type=int, default=500, help="MD steps per annealing cycle")
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--kmax", type=float, nargs="+", default=[1000.0, 50.0],
                        help="biased K_max values, eV")
    parser.add_argument("--splits", type=int, default=10, help="random train/test splits for the table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(1)
    r0 = RepulsivePotential().r0
    runs, cpu = {}, {}
    for k_max in [0.0, *args.kmax]:
        name = "unbiased" if k_max == 0 else f"K={k_max:g}"
        gen = EntropyMaximisationGenerator(n_configs=args.configs, n_steps=args.steps, timestep=args.timestep,
                                           k_max=k_max, seed=args.seed)
        t0, c0 = time.perf_counter(), time.process_time()
        gen.fit()
        runs[name] = gen
        cpu[name] = (time.process_time() - c0) / args.configs
        print(f"{name:>9}: {time.perf_counter() - t0:7.1f} s, {gen.seconds_per_configuration_:.2f} s/config "
              f"(CPU {cpu[name]:.2f} s/config), "
              f"S = {gen.entropies_.mean():.3f} ± {gen.entropies_.std():.3f}, "
              f"min distance {gen.min_distances_.min():.3f} Å (0.8·r0 = {0.8 * r0:.3f} Å)", flush=True)

    reference = runs["unbiased"]
    module, scale = reference.descriptor_module_, reference.descriptor_scale_
    assert all(np.allclose(g.descriptor_scale_, scale) for g in runs.values()), "scales differ between sets"
    features = {name: scaled_features(g.configurations_, module, scale) for name, g in runs.items()}
    entropies = {name: configuration_entropies(f) for name, f in features.items()}
    rows = split_coverage_table(features, n_splits=args.splits, seed=args.seed)

    print(f"\nmachine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          "1 torch thread")
    print(f"settings: {args.configs} configs per set, {args.steps} steps × {args.timestep} fs per cycle, "
          f"seed {args.seed}")
    print("\n| set | mean S | min S | max S | smallest distance (Å) | ≥ 0.8·r0 | wall s / config "
          "| CPU s / config | CPU ratio to unbiased |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, g in runs.items():
        s = entropies[name]
        ratio = cpu[name] / cpu["unbiased"]
        print(f"| {name} | {s.mean():.2f} | {s.min():.2f} | {s.max():.2f} | {g.min_distances_.min():.3f} | "
              f"{'yes' if g.min_distances_.min() >= 0.8 * r0 else 'no'} | "
              f"{g.seconds_per_configuration_:.2f} | {cpu[name]:.2f} | "
              f"{ratio:.1f} |")
    print("\nTable I (distance from each test environment to its nearest training environment, "
          f"averaged over {args.splits} splits of each set into halves):\n")
    print(format_coverage_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": vars(args),
                       "sets": {n: {"entropy_mean": float(entropies[n].mean()),
                                    "min_distance": float(g.min_distances_.min()),
                                    "seconds_per_configuration": g.seconds_per_configuration_,
                                    "cpu_seconds_per_configuration": cpu[n]}
                                for n, g in runs.items()},
                       "table": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
