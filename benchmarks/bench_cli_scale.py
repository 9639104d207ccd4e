"""The command line on large files: peak resident memory and time of whole `atomsieve` processes.

Makes an extxyz of ``--atoms`` atoms by replicating the germanium training set with Gaussian position
noise (:func:`bench_streaming.make_file`), then runs each step once under ``/usr/bin/time -v`` and
prints wall time, CPU time, peak RSS and the load average before and after:

- ``select``: ``atomsieve select FILE --threshold Ge=0.275`` (streamed through a temporary feature store
  when the file is over 64 MiB) and, with ``--in-memory-too``, the same with ``--in-memory``;
- ``featurize``: ``atomsieve featurize FILE --store DIR`` in this process and with ``--scheduler local``
  (a Dask LocalCluster of 2 workers), stores compared byte for byte;
- ``compare``: ``atomsieve compare FILE --model linear`` with an empty cache.

    .venv/bin/python benchmarks/bench_cli_scale.py --atoms 1000000 --steps select,featurize
    .venv/bin/python benchmarks/bench_cli_scale.py --atoms 165000 --steps compare

Large files go under ``--workdir`` (default a folder in /tmp) and are deleted at the end unless
``--keep``. Run it on a quiet machine: every figure is one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_streaming import make_file  # noqa: E402

ATOMSIEVE = str(Path(sys.executable).with_name("atomsieve"))


def timed(label: str, argv: list[str], env: dict) -> dict:
    """Run ``argv`` under /usr/bin/time -v; wall, CPU, peak RSS, loads, and the command's output."""
    before = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True, env=env)
    after = os.getloadavg()[0]
    err = proc.stderr

    def field(name: str) -> str:
        match = re.search(rf"{re.escape(name)}: (.+)", err)
        return match.group(1).strip() if match else "?"

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(p) for p in wall.split(":")] if wall != "?" else [0.0]
    seconds = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)")) / 2**20
    row = {"step": label, "wall_s": round(seconds, 1), "cpu_s": round(cpu, 1), "peak_gib": round(rss, 2),
           "load_before": round(before, 2), "load_after": round(after, 2), "exit": proc.returncode}
    print(f"{label:32s} wall {row['wall_s']:8.1f} s  cpu {row['cpu_s']:8.1f} s  "
          f"peak RSS {row['peak_gib']:6.2f} GiB  load {row['load_before']} -> {row['load_after']}  "
          f"exit {proc.returncode}", flush=True)
    if proc.returncode:
        print(err[-2000:], file=sys.stderr)
    for line in proc.stdout.splitlines()[-6:]:
        print(f"    {line}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--steps", default="select,featurize",
                        help="comma-separated: select, featurize, compare")
    parser.add_argument("--in-memory-too", action="store_true", help="also run select with --in-memory")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="atomsieve-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ATOMSIEVE_CACHE_DIR": str(work / "cache"), "ATOMSIEVE_STORE_TMP": str(work)}
    source = work / f"ge_{args.atoms}.extxyz"
    try:
        if not source.exists():
            print(f"made {make_file(source, args.atoms, 0.02, 0):,} atoms in {source}", flush=True)
        steps = args.steps.split(",")
        if "select" in steps:
            cmd = [ATOMSIEVE, "select", str(source), "--threshold", "Ge=0.275", "--overwrite"]
            timed("select (streamed above 64 MiB)", [*cmd, "-o", str(work / "sel.extxyz")], env)
            if args.in_memory_too:
                timed("select --in-memory", [*cmd, "-o", str(work / "sel_mem.extxyz"), "--in-memory"], env)
        if "featurize" in steps:
            timed("featurize --store (in process)", [ATOMSIEVE, "featurize", str(source), "--store",
                                                     str(work / "serial")], env)
            timed("featurize --scheduler local", [ATOMSIEVE, "featurize", str(source), "--store",
                                                  str(work / "dask"), "--scheduler", "local"], env)
            same = (work / "serial/values.f64").read_bytes() == (work / "dask/values.f64").read_bytes()
            print(f"    stores identical: {same}")
        if "compare" in steps:
            timed("compare --model linear", [ATOMSIEVE, "compare", str(source), "--model", "linear",
                                             "--output", str(work / "compare.csv"), "--overwrite"], env)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
