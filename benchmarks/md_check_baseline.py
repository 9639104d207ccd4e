"""What RDF distance does a *perfect* potential get? The finite-size baseline of md_check on NaCl.

md_check compares the RDFs of a large-cell MD run with reference frames. When the reference frames
come from small training cells (the 100-ion pool), even the reference potential itself does not get
zero: the cell size changes the RDF a little. This script measures that floor: Tosi–Fumi MD in an
``--ions`` box (default 1000, the salt study's size) at 1400 K and 1.38 g/cm³ against Tosi–Fumi MD
in a 100-ion box at the same state point. A trained potential's RDF distance against 100-ion
reference frames should be read relative to this number.

Run: ``.venv/bin/python benchmarks/md_check_baseline.py [--ions 1000] [--steps 600]``
"""

from __future__ import annotations

import argparse
import time

from atomsieve.builders import TosiFumi, md_structure
from atomsieve.evaluate.md_check import md_check, run_nvt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ions", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--equilibration", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=1400.0)
    args = parser.parse_args()
    settings = {"temperature": args.temperature, "n_steps": args.steps, "timestep": 2.0, "sample_every": 20}
    start = time.perf_counter()
    small = run_nvt(TosiFumi(), md_structure("molten-nacl", 100, seed=1), **settings)
    reference = [f for f, s in zip(small.frames, small.steps) if s >= args.equilibration]
    print(f"100-ion reference run: {small.steps_run} steps, {len(reference)} frames, "
          f"{time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    report = md_check(TosiFumi(), md_structure("molten-nacl", args.ions, seed=0), reference,
                      equilibration_steps=args.equilibration, nve_steps=100, r_max=6.0, n_bins=120,
                      **settings)
    print(f"{args.ions}-ion run under test: {time.perf_counter() - start:.0f} s")
    print(report.summary())


if __name__ == "__main__":
    main()
