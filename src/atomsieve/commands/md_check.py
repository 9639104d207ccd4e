"""``atomsieve md-check MODEL --reference REF --system SYSTEM``: is MD with a potential physical?

MODEL and REF are a named calculator (``emt``, ``tosi-fumi``) or a trained-model file, loaded with
``atomsieve.potentials.load_calculator``; REF may also be a structure file of reference frames (the
training pool). SYSTEM is a builder name (a large starting cell, see
:func:`atomsieve.builders.md_structure`) or a structure file.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Calculators the CLI can name; each entry makes a fresh ASE calculator.
NAMED_CALCULATORS = ("emt", "tosi-fumi")


def register(sub) -> None:
    from atomsieve.commands.options import MAX_COUNT, count, number, seed

    p = sub.add_parser(
        "md-check", help="run NVT MD with a potential and compare RDFs with a reference",
        description="Langevin NVT MD with MODEL; per-pair RDFs against REF; flags short-range contacts "
                    "and stops cleanly on blow-ups. Exit status 0: ok, 3: unphysical, blew up or "
                    "inconclusive (no distances within the RDF range, so nothing compared).",
    )
    p.add_argument("model", help=f"{' or '.join(NAMED_CALCULATORS)}, or a trained-model file")
    p.add_argument("--reference", required=True, metavar="CALC|FILE",
                   help="a named calculator or model file run the same way, or a structure file of frames")
    p.add_argument("--system", required=True, metavar="NAME|FILE",
                   help="pdh-cluster, molten-nacl, one-element, or a structure file (see --frame)")
    p.add_argument("--atoms", type=count(1, 1_000_000), default=None, metavar="N",
                   help="size of a named system (defaults: 1000 molten-nacl, 15 pdh-cluster, "
                        "256 one-element)")
    p.add_argument("--frame", type=count(-MAX_COUNT), default=0,
                   help="which structure of a --system file (default 0)")
    p.add_argument("--repeat", type=count(1, 100), default=1, metavar="K",
                   help="repeat a periodic system K×K×K")
    p.add_argument("--temperature", type=number(0), default=1400.0, help="thermostat temperature in K (1400)")
    p.add_argument("--steps", type=count(1), default=2000, help="MD steps (2000)")
    p.add_argument("--equilibration", type=count(0), default=500, help="steps before RDF sampling (500)")
    p.add_argument("--timestep", type=number(0, 100, low_open=True), default=1.0, help="fs (1.0)")
    p.add_argument("--friction", type=number(0), default=0.01, help="Langevin friction in 1/fs (0.01)")
    p.add_argument("--sample-every", type=count(1), default=20, help="steps between samples and checks (20)")
    p.add_argument("--nve-steps", type=count(0), default=200,
                   help="NVE steps after the NVT run to check energy conservation (200; 0 skips)")
    p.add_argument("--r-max", type=number(0, 1000, low_open=True), default=6.0,
                   help="RDF range in Å, clipped to the cells (6.0)")
    p.add_argument("--bins", type=count(1, 1_000_000), default=120, help="RDF bins (120)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--max-seconds", type=number(0, low_open=True), default=None,
                   help="wall-clock budget of the MD")
    p.add_argument("--output", "-o", default=None, metavar="PATH", help="write the report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    p.set_defaults(run=run)


def make_calculator(spec: str):
    """An ASE calculator from a name in :data:`NAMED_CALCULATORS` or a trained-model file (a missing file is
    a DataError, as for every verb's input files)."""
    from atomsieve.errors import DataError

    if spec == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if spec == "tosi-fumi":
        from atomsieve.builders import TosiFumi

        return TosiFumi()
    path = Path(spec)
    if not path.exists():
        raise DataError(
            f"{spec}: neither a named calculator ({', '.join(NAMED_CALCULATORS)}) nor a file"
        )
    from atomsieve.potentials import load_calculator

    return load_calculator(path)


def _system(args):
    from atomsieve.builders import BUILDERS, md_structure
    from atomsieve.data.io import read_frames
    from atomsieve.errors import ParameterError

    if args.system in BUILDERS:
        atoms = md_structure(args.system, args.atoms, seed=args.seed)
    else:
        if args.atoms is not None:
            raise ParameterError("--atoms applies to named systems; use --repeat to enlarge a structure file")
        frames, _ = read_frames(args.system)
        if not -len(frames) <= args.frame < len(frames):
            raise ParameterError(f"--frame {args.frame} outside {args.system}'s {len(frames)} structures")
        atoms = frames[args.frame]
        atoms.calc = None
    if args.repeat < 1:
        raise ParameterError(f"--repeat must be at least 1; got {args.repeat}")
    if args.repeat > 1:
        if not atoms.pbc.all():
            raise ParameterError("--repeat needs a 3-D periodic system")
        atoms = atoms.repeat(args.repeat)
    return atoms


def _reference(spec: str):
    from atomsieve.data import load
    from atomsieve.errors import DataError

    if spec in NAMED_CALCULATORS:
        return make_calculator(spec)
    try:
        return list(load(spec).atoms)
    except Exception as exc:
        try:
            return make_calculator(spec)
        except DataError:  # neither a name nor a file
            raise DataError(f"--reference {spec}: not a named calculator, model file or structure "
                            f"file ({exc})") from None


def run(args) -> int:
    from atomsieve.data import atomic_path
    from atomsieve.evaluate.md_check import md_check
    from atomsieve.progress import progress_bar

    if args.output:
        from atomsieve.commands import check_output

        check_output(args.output, args.overwrite)  # before the MD, not after
    calculator = make_calculator(args.model)
    reference = _reference(args.reference)
    atoms = _system(args)
    with progress_bar("md-check") as progress:
        report = md_check(
            calculator, atoms, reference, temperature=args.temperature, n_steps=args.steps,
            equilibration_steps=args.equilibration, timestep=args.timestep, friction=args.friction,
            sample_every=args.sample_every, seed=args.seed, r_max=args.r_max, n_bins=args.bins,
            nve_steps=args.nve_steps, max_seconds=args.max_seconds, progress=progress,
        )
    print(report.summary())
    if args.output:
        with atomic_path(args.output, args.overwrite) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1))
        print(f"report written to {args.output}")
    return 0 if report.ok else 3
