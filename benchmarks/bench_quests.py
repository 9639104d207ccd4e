"""LE-bank against QUESTS' minimum-set-cover compression at equal size (issue 17).

Pool: the embedded germanium training set (228 structures, 14,072 atoms); prediction set: the
germanium test set (25 structures). For each size both methods pick that many structures, the linear
model (atomsieve's, on the li_single_element symmetry functions) is trained on each selection and
scored on the prediction set, as ``atomsieve compare`` does. Seconds per selection:

- LE-bank: threshold calibration to the size (bisection) plus the selection, on fingerprints
  already computed (their one-off cost is printed separately);
- QUESTS: the quests package's own descriptor, per-structure entropy and ``msc``, all of it.

Then whole-process figures of the two CLI runs a user would type, from ``/usr/bin/time -v``.

Run: ``.venv/bin/python benchmarks/bench_quests.py [--sizes 20,40,80] [--no-cli]``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def learning_rows(sizes: list[int]) -> tuple[list[dict], float]:
    from atomsieve.datasets import load_default
    from atomsieve.descriptors import preset
    from atomsieve.evaluate.context import build_context
    from atomsieve.evaluate.curves import iter_learning_curves

    pool, test = load_default("train"), load_default("test")
    start = time.perf_counter()
    context = build_context(pool, test=test, descriptor=preset(None, pool.elements), model="linear")
    featurise = time.perf_counter() - start
    rows = list(iter_learning_curves(pool, ["lebank", "quests", "random"], sizes, "linear", 1, 0,
                                     context=context, scheduler="serial"))
    return rows, featurise


def whole_process(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one CLI run, from /usr/bin/time -v."""
    exe = str(Path(sys.executable).with_name("atomsieve"))
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["/usr/bin/time", "-v", exe, *args, "--output", f"{tmp}/sel.extxyz"],
                             capture_output=True, text=True, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) / 1024
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,40,80")
    parser.add_argument("--no-cli", action="store_true", help="skip the whole-process CLI runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, featurise = learning_rows(sizes)
    print(f"fingerprints of pool and prediction set (once; LE-bank and the models): {featurise:.1f} s")
    print("| method | size | selected | atoms | select s | F pred meV/Å | E pred meV/atom |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["size"], r["method"])):
        if r["method"] == "full":
            continue
        print(f"| {r['method']} | {r['size']} | {r['n_selected']} | {r['n_atoms']} | "
              f"{r['select_seconds']:.2f} | {r['rmse_f_pred']:.1f} | {r['rmse_e_pred']:.2f} |")
    if not args.no_cli:
        from atomsieve.datasets import default_path

        pool = str(default_path("train"))
        for cli in (["select", pool, "--budget", "40"], ["select", pool, "--method", "quests", "--n", "40"]):
            seconds, rss = whole_process(cli)
            shown = " ".join(cli[2:])
            print(f"whole process, atomsieve select POOL {shown}: {seconds:.1f} s wall, {rss:.0f} MiB peak")


if __name__ == "__main__":
    main()
