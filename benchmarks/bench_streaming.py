"""10^6 atoms featurised and screened by streaming, with peak memory.

Builds a large extxyz by replicating the germanium training set with Gaussian position noise
(σ = 0.02 Å by default), written frame by frame so it is never all in memory; then streams it
into a memory-mapped feature store and runs the streamed LE-bank over the store.

    .venv/bin/python benchmarks/bench_streaming.py --atoms 1000000 --workdir /tmp/atomsieve-stream

Prints atoms, seconds per stage and the peak resident memory of this process (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from ase.io import write

from atomsieve.data.stream import iter_partitions
from atomsieve.datasets import default_path
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.descriptors.store import FeatureStore
from atomsieve.selectors.streaming import lebank_stream


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_file(path: Path, n_atoms: int, sigma: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    written = 0
    with open(path, "w") as fh:
        while written < n_atoms:
            for part in iter_partitions(default_path("train"), 50):
                frames = []
                for atoms in part.atoms:
                    a = atoms.copy()
                    a.positions += rng.normal(0, sigma, a.positions.shape)
                    frames.append(a)
                    written += len(a)
                write(fh, frames, format="extxyz")
                if written >= n_atoms:
                    break
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--sigma", type=float, default=0.02, help="position noise of the replicas, Å")
    parser.add_argument("--threshold", type=float, default=0.275)
    parser.add_argument("--partition", type=int, default=500, help="structures per partition")
    parser.add_argument("--scheduler", default=None, help="None (this process), 'local' or a Dask address")
    parser.add_argument("--workdir", default="/tmp/atomsieve-stream")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"ge_{args.atoms}.extxyz"
    t = time.perf_counter()
    if not source.exists():
        n = make_file(source, args.atoms, args.sigma, seed=0)
        print(f"wrote {n:,} atoms to {source} in {time.perf_counter() - t:.1f} s")
    sf = SymmetryFunctions.li_single_element(["Ge"])
    t = time.perf_counter()
    store = FeatureStore.build(source, work / "store", sf, partition_size=args.partition,
                               scheduler=args.scheduler, overwrite=True)
    featurise = time.perf_counter() - t
    print(f"featurised {store.n_atoms:,} atoms ({store.n_structures:,} structures) in {featurise:.1f} s "
          f"= {store.n_atoms / featurise:,.0f} atoms/s; peak memory so far {peak_mib():,.0f} MiB")
    t = time.perf_counter()
    selected, bank = lebank_stream(store, {"Ge": args.threshold})
    screen = time.perf_counter() - t
    print(f"LE-bank (T={args.threshold}) streamed: {len(selected):,} structures, bank {len(bank):,} "
          f"vectors, {screen:.1f} s; peak memory {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
