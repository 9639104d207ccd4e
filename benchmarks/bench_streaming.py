"""10^6 atoms featurised and screened by streaming, with peak memory and time per stage.

Builds a large extxyz by replicating the germanium training set with Gaussian position noise
(σ = 0.02 Å by default), written a chunk of frames at a time so it is never all in memory; then
streams it into a memory-mapped feature store (:meth:`FeatureStore.build`) and runs the streamed
LE-bank over the store (:func:`lebank_stream`).

    .venv/bin/python benchmarks/bench_streaming.py --atoms 1000000 --workdir /tmp/atomsieve-stream

Peer, in the same run (``--compare-atoms``, 0 to skip): the first atoms of the file featurised in
memory by ``SymmetryFunctions.compute`` (one thread, and the library's default threads; and parsed
with ``ase.io.iread`` then computed, the in-memory equivalent of what the store does) against
``FeatureStore.build`` of a file holding the same frames, interleaved, as atoms per second of wall
and of CPU time.

Prints wall and CPU seconds of every stage, the load average, and the peak resident memory of this
process and of its children (``ru_maxrss``: after the imports, after featurising, after screening;
the comparison runs last so it does not raise those peaks); ``--json`` also writes them to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import iread, write

from atomsieve.datasets import load_default
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.descriptors.store import FeatureStore
from atomsieve.selectors.streaming import lebank_stream


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Stage:
    """Wall and CPU time of a ``with`` block, with the 1-minute load average at its end."""

    def __enter__(self) -> Stage:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu
        self.load = os.getloadavg()[0]

    def record(self, **extra) -> dict:
        return {"wall_s": round(self.wall, 2), "cpu_s": round(self.cpu, 2), "load1": round(self.load, 2),
                **extra}


def make_file(path: Path, n_atoms: int, sigma: float, seed: int, frames_per_write: int = 500) -> int:
    """Replicas of the germanium training set, positions perturbed by N(0, σ²) Å, until ``n_atoms``;
    energies and forces are carried over unchanged. One ``ase.io.write`` per chunk of frames."""
    rng = np.random.default_rng(seed)
    train = load_default("train").atoms
    written = 0
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w") as fh:
        while written < n_atoms:
            for start in range(0, len(train), frames_per_write):
                frames = []
                for atoms in train[start:start + frames_per_write]:
                    a = atoms.copy()
                    a.calc = atoms.calc
                    a.positions = a.positions + rng.normal(0, sigma, a.positions.shape)
                    frames.append(a)
                    written += len(a)
                    if written >= n_atoms:
                        break
                write(fh, frames, format="extxyz")
                if written >= n_atoms:
                    break
    os.replace(tmp, path)
    return written


def head_frames(path: Path, n_atoms: int) -> list:
    frames, n = [], 0
    for atoms in iread(str(path), index=":"):
        if n >= n_atoms:
            break
        frames.append(atoms)
        n += len(atoms)
    return frames


def compare(source: Path, sf, n_atoms: int, partition: int, repeats: int = 2) -> dict:
    """Store build against in-memory ``compute`` on the same frames, interleaved."""
    frames = head_frames(source, n_atoms)
    n = sum(len(a) for a in frames)
    with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
        head = Path(tmp) / "head.extxyz"
        write(str(head), frames, format="extxyz")
        runs: dict[str, list] = {"compute, 1 thread": [], "compute, torch default threads": [],
                                 "iread + compute, 1 thread": [], "FeatureStore.build": []}
        sf.compute(frames[:5], scaler="none", device="cpu", num_threads=1)  # warm-up
        for _ in range(repeats):
            for label in runs:
                with Stage() as st:
                    if label == "FeatureStore.build":
                        FeatureStore.build(head, Path(tmp) / "store", sf, partition_size=partition,
                                           overwrite=True)
                    elif label.startswith("iread"):  # what the store must do too: parse the file
                        sf.compute(list(iread(str(head), index=":")), scaler="none", device="cpu",
                                   num_threads=1)
                    else:
                        sf.compute(frames, scaler="none", device="cpu",
                                   num_threads=1 if "1 thread" in label else None)
                runs[label].append(st.record(atoms_per_s=round(n / st.wall),
                                             atoms_per_cpu_s=round(n / st.cpu)))
    for label, rows in runs.items():
        print(f"  {label:30s} " + "; ".join(f"{r['atoms_per_s']:,} atoms/s wall, {r['atoms_per_cpu_s']:,} "
                                             f"per CPU-s (load {r['load1']})" for r in rows))
    return {"atoms": n, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--sigma", type=float, default=0.02, help="position noise of the replicas, Å")
    parser.add_argument("--threshold", type=float, default=0.275)
    parser.add_argument("--partition", type=int, default=500, help="structures per partition")
    parser.add_argument("--chunk-atoms", type=int, default=50_000, help="atoms per screened chunk")
    parser.add_argument("--threads", type=int, default=1, help="threads of each partition's compute")
    parser.add_argument("--scheduler", default=None, help="None (this process), 'local' or a Dask address")
    parser.add_argument("--workers", type=int, default=None, help="Dask workers for --scheduler local")
    parser.add_argument("--compare-atoms", type=int, default=30_000,
                        help="atoms of the peer comparison (0: skip)")
    parser.add_argument("--workdir", default="/tmp/atomsieve-stream")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"args": vars(args), "cpus": os.cpu_count(), "start": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                         time.gmtime())}
    report["baseline_rss_mib"] = round(peak_mib())
    print(f"peak RSS after imports: {report['baseline_rss_mib']} MiB", flush=True)
    source = work / f"ge_{args.atoms}_sigma{args.sigma}.extxyz"
    if not source.exists():
        with Stage() as st:
            n = make_file(source, args.atoms, args.sigma, seed=0)
        report["write"] = st.record(atoms=n, mb=round(source.stat().st_size / 1e6, 1))
        print(f"wrote {n:,} atoms ({report['write']['mb']} MB) to {source}: {st.wall:.1f} s wall, "
              f"{st.cpu:.1f} s CPU, load {st.load:.1f}", flush=True)
    sf = SymmetryFunctions.li_single_element(["Ge"])
    last = [0.0]

    def progress(done: int, total: int, label: str) -> None:
        if time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"  {time.strftime('%H:%M:%S')} {label}, {done:,} structures; "
                  f"RSS peak {peak_mib():,.0f} MiB, load {os.getloadavg()[0]:.1f}", flush=True)

    with Stage() as st:
        store = FeatureStore.build(source, work / "store", sf, partition_size=args.partition,
                                   scheduler=args.scheduler, n_workers=args.workers, num_threads=args.threads,
                                   overwrite=True, progress=progress)
    report["featurise"] = st.record(atoms=store.n_atoms, structures=store.n_structures,
                                    atoms_per_s=round(store.n_atoms / st.wall),
                                    atoms_per_cpu_s=round(store.n_atoms / st.cpu),
                                    store_mb=round(store.n_atoms * (store.n_features + 2) * 8 / 1e6, 1),
                                    peak_rss_mib=round(peak_mib()))
    print(f"featurised {store.n_atoms:,} atoms ({store.n_structures:,} structures): {st.wall:.1f} s wall, "
          f"{st.cpu:.1f} s CPU = {store.n_atoms / st.wall:,.0f} atoms/s ({store.n_atoms / st.cpu:,.0f} per "
          f"CPU-s), load {st.load:.1f}; peak RSS so far {peak_mib():,.0f} MiB", flush=True)
    with Stage() as st:
        selected, bank = lebank_stream(store, {"Ge": args.threshold}, max_atoms=args.chunk_atoms,
                                       progress=progress)
    report["screen"] = st.record(selected=len(selected), bank=len(bank), peak_rss_mib=round(peak_mib()))
    print(f"LE-bank (T={args.threshold}) streamed: {len(selected):,} structures, bank {len(bank):,} vectors: "
          f"{st.wall:.1f} s wall, {st.cpu:.1f} s CPU, load {st.load:.1f}", flush=True)
    report["peak_rss_mib"] = {"self": round(peak_mib()),
                              "children": round(peak_mib(resource.RUSAGE_CHILDREN))}
    print(f"peak RSS of the streaming stages: this process {peak_mib():,.0f} MiB, largest child "
          f"{peak_mib(resource.RUSAGE_CHILDREN):,.0f} MiB", flush=True)
    if args.compare_atoms:  # last, so that the peaks above are the streaming stages' own
        print(f"peer comparison on the first {args.compare_atoms:,} atoms:", flush=True)
        report["compare"] = compare(source, sf, args.compare_atoms, args.partition)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
