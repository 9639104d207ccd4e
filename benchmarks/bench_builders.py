"""Timings for the candidate-pool builders and the Tosi–Fumi calculator.

1. The pair finder behind :class:`TosiFumi` (``atomsieve.builders.pairs.pairs_within``) against
   ``ase.neighborlist.neighbor_list`` on the same molten-salt boxes and a 10 Å cutoff, interleaved
   A B A B, median of the per-pair ratios; the pair lists are checked to be identical first.
2. One TosiFumi energy + forces evaluation on a 100-ion and a 1000-ion melt.
3. Seconds per structure of each builder at its default MD settings (serial), for a small pool.

Run: ``.venv/bin/python benchmarks/bench_builders.py [--repeats 7] [--structures 20]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from ase.neighborlist import neighbor_list

from atomsieve.builders import TosiFumi, build, md_structure
from atomsieve.builders.pairs import pairs_within


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pair_finder(n_ions: int, repeats: int) -> None:
    atoms = md_structure("molten-nacl", n_ions, seed=0)
    ours, ase = pairs_within(atoms, 10.0), neighbor_list("ijd", atoms, 10.0)
    key = lambda i, j, d: sorted(zip(i.tolist(), j.tolist(), np.round(d, 8).tolist()))  # noqa: E731
    assert key(*ours[:3]) == key(*ase), "pair lists differ"
    a_times, b_times = [], []
    for _ in range(repeats):
        a_times.append(_seconds(lambda: pairs_within(atoms, 10.0)))
        b_times.append(_seconds(lambda: neighbor_list("ijdD", atoms, 10.0)))
    ratio = statistics.median(b / a for a, b in zip(a_times, b_times))
    print(f"pairs within 10 Å, {n_ions} ions ({len(ours[0])} directed pairs): "
          f"pairs_within {statistics.median(a_times) * 1e3:.1f} ms, ase neighbor_list "
          f"{statistics.median(b_times) * 1e3:.1f} ms, speed-up {ratio:.1f}x (median of {repeats} pairs)")


def calculator(n_ions: int, repeats: int) -> None:
    atoms = md_structure("molten-nacl", n_ions, seed=0)
    calc = TosiFumi()
    times = []
    for k in range(repeats):
        atoms.positions[0, 0] += 1e-4 * (k + 1)  # a new geometry every call
        times.append(_seconds(lambda: calc.get_forces(atoms)))
    print(f"TosiFumi energy+forces, {n_ions} ions: {statistics.median(times) * 1e3:.1f} ms per call")


def builders(n_structures: int) -> None:
    for name in ("pdh-cluster", "one-element", "molten-nacl"):
        seconds = _seconds(lambda name=name: build(name, n_structures, seed=0))
        print(f"build {name} {n_structures} structures, serial: {seconds:.1f} s "
              f"({seconds / n_structures:.2f} s per structure)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--structures", type=int, default=20)
    args = parser.parse_args()
    for n in (100, 1000):
        pair_finder(n, args.repeats)
    for n in (100, 1000):
        calculator(n, args.repeats)
    builders(args.structures)


if __name__ == "__main__":
    main()
