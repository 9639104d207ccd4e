"""Local-environment-bank selection: fast engine against the reference engine, and scaling with size.

Run from the repository root::

    .venv/bin/python benchmarks/bench_lebank.py                 # everything (several minutes)
    .venv/bin/python benchmarks/bench_lebank.py --part ratio    # fast vs reference on germanium
    .venv/bin/python benchmarks/bench_lebank.py --part slider   # one selection on the default set
    .venv/bin/python benchmarks/bench_lebank.py --part scaling --sizes 14072,56288,225152,506592
    .venv/bin/python benchmarks/bench_lebank.py --part bigbank     # most atoms join: 28k atoms, 22k bank

Fingerprints: the default symmetry-function preset (li_single_element, 40 functions, min-max scaled)
of the embedded germanium training set (228 structures, 14,072 atoms), computed once and kept in the
feature cache. For the scaling curve the data set is replicated and every copy's fingerprints are
perturbed with Gaussian noise (``--noise``, default 0.01 per scaled feature), so copies are near but
not equal to the originals. Every timing is the median of ``--repeats`` runs of ``LEBank.fit``
(selection only); the fast and reference engines are checked to give the same answer.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

import atomsieve
from atomsieve.descriptors import AtomicFeatures, preset
from atomsieve.selectors import LEBank


def germanium_features() -> AtomicFeatures:
    ds = atomsieve.datasets.load_default("train")
    return preset(None, ds.elements).compute(ds, cache=True)


def timed(selector: LEBank, features: AtomicFeatures, repeats: int) -> tuple[float, float, LEBank]:
    """Median wall seconds (``seconds_``) and median CPU seconds of this process over ``repeats`` fits.

    The machine is shared: CPU seconds show the work done, wall seconds include waiting for a core.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start = time.process_time()
        selector.fit(features)
        cpu.append(time.process_time() - start)
        wall.append(selector.seconds_)
    return statistics.median(wall), statistics.median(cpu), selector


def part_ratio(features: AtomicFeatures, thresholds: list[float], repeats: int, device: str) -> None:
    print("\n## fast vs reference engine, germanium (14,072 atoms, 40 features)\n")
    print("| T | structures | bank | reference wall s | fast wall s | wall ratio | reference CPU s | "
          "fast CPU s | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t in thresholds:
        ref_s, ref_c, ref = timed(LEBank({"Ge": t}, engine="reference"), features, 1)
        fast_s, fast_c, fast = timed(LEBank({"Ge": t}, engine="fast", device=device), features, repeats)
        assert np.array_equal(ref.selected_, fast.selected_), "engines disagree"
        assert np.array_equal(ref.bank_.vectors, fast.bank_.vectors), "banks disagree"
        print(f"| {t} | {len(fast.selected_)} | {len(fast.bank_)} | {ref_s:.2f} | {fast_s:.4f} | "
              f"{ref_s / fast_s:.0f}x | {ref_c:.2f} | {fast_c:.4f} | {ref_c / fast_c:.0f}x |")


def part_slider(features: AtomicFeatures, repeats: int, device: str) -> None:
    print("\n## one selection on the default set (slider call), fast engine\n")
    print("| T | structures | bank | median wall s | median CPU s |")
    print("|---|---|---|---|---|")
    for t in (0.1, 0.2, 0.275, 0.35, 0.45):
        wall, cpu, sel = timed(LEBank({"Ge": t}, device=device), features, repeats)
        print(f"| {t} | {len(sel.selected_)} | {len(sel.bank_)} | {wall:.4f} | {cpu:.4f} |")


def replicated(features: AtomicFeatures, n_atoms: int, noise: float, seed: int = 0) -> AtomicFeatures:
    rng = np.random.default_rng(seed)
    copies = -(-n_atoms // features.n_atoms)
    values, structure = [], []
    for c in range(copies):
        shift = 0.0 if c == 0 else noise * rng.standard_normal(features.values.shape)
        values.append(features.values + shift)
        structure.append(features.structure + c * features.n_structures)
    values = np.concatenate(values)[:n_atoms]
    structure = np.concatenate(structure)[:n_atoms]
    species = np.resize(features.species, n_atoms)
    return AtomicFeatures(values, species, structure)


def part_scaling(features: AtomicFeatures, sizes: list[int], threshold: float, noise: float, repeats: int,
                 device: str) -> None:
    print(f"\n## fast engine vs size (replicated germanium, noise {noise}, T = {threshold}, "
          f"device {device})\n")
    print("| atoms | structures selected | bank | median wall s | median CPU s | CPU µs per atom |")
    print("|---|---|---|---|---|---|")
    LEBank({"Ge": threshold}, device=device).fit(features)  # warm-up: load the compiled kernel
    for n in sizes:
        f = replicated(features, n, noise)
        wall, cpu, sel = timed(LEBank({"Ge": threshold}, device=device), f, repeats)
        print(f"| {n:,} | {len(sel.selected_)} | {len(sel.bank_)} | {wall:.3f} | {cpu:.3f} | "
              f"{1e6 * cpu / n:.2f} |", flush=True)


def part_big_bank(features: AtomicFeatures, n_atoms: int, noise: float, threshold: float, repeats: int,
                  device: str) -> None:
    """Fast vs reference where most atoms join (a large bank): replicated, strongly perturbed data."""
    f = replicated(features, n_atoms, noise)
    print(f"\n## fast vs reference engine, large bank ({n_atoms:,} atoms, noise {noise}, T = {threshold})\n")
    ref_s, ref_c, ref = timed(LEBank({"Ge": threshold}, engine="reference"), f, 1)
    fast_s, fast_c, fast = timed(LEBank({"Ge": threshold}, engine="fast", device=device), f, repeats)
    assert np.array_equal(ref.selected_, fast.selected_), "engines disagree"
    assert np.array_equal(ref.bank_.vectors, fast.bank_.vectors), "banks disagree"
    print("| atoms | bank | reference wall s | fast wall s | wall ratio | reference CPU s | fast CPU s "
          "| CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {n_atoms:,} | {len(fast.bank_)} | {ref_s:.1f} | {fast_s:.3f} | {ref_s / fast_s:.0f}x | "
          f"{ref_c:.1f} | {fast_c:.3f} | {ref_c / fast_c:.0f}x |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=["all", "ratio", "slider", "scaling", "bigbank"], default="all")
    p.add_argument("--big-bank-atoms", type=int, default=28144, help="atoms of the large-bank comparison")
    p.add_argument("--thresholds", default="0.1,0.275,0.45", help="thresholds of the ratio part")
    p.add_argument("--sizes", default="14072,56288,112576,225152,506592", help="atoms for the scaling part")
    p.add_argument("--scaling-threshold", type=float, default=0.275)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    cuda = "yes" if torch.cuda.is_available() else "no"
    print(f"# bench_lebank: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.processor() or 'cpu'}, {os.cpu_count()} cores, torch {torch.__version__}, CUDA {cuda}")
    start = time.perf_counter()
    features = germanium_features()
    took = time.perf_counter() - start
    print(f"fingerprints: {features.n_atoms} atoms x {features.n_features} in {took:.1f} s")
    if args.part in ("all", "slider"):
        part_slider(features, args.repeats, args.device)
    if args.part in ("all", "ratio"):
        part_ratio(features, [float(t) for t in args.thresholds.split(",")], args.repeats, args.device)
    if args.part in ("all", "bigbank"):
        part_big_bank(features, args.big_bank_atoms, 0.05, 0.1, args.repeats, args.device)
    if args.part in ("all", "scaling"):
        part_scaling(features, [int(n) for n in args.sizes.split(",")], args.scaling_threshold, args.noise,
                     max(1, args.repeats // 2), args.device)


if __name__ == "__main__":
    main()
