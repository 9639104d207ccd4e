"""``atomsieve build NAME --output pool.extxyz``: build a labelled candidate pool."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from atomsieve.builders import BUILDERS
    from atomsieve.commands.options import count, seed

    p = sub.add_parser(
        "build", help="build a labelled candidate pool (pdh-cluster, molten-nacl, one-element)",
        description="Build a candidate pool by MD with a real calculator; energies (eV), forces (eV/Å) "
                    "and per-atom energies are stored.",
    )
    p.add_argument("name", choices=sorted(BUILDERS), help="which pool")
    p.add_argument("--output", "-o", required=True, metavar="PATH",
                   help="file to write (.extxyz, .xyz, .db, .json, .traj); written atomically")
    p.add_argument("--structures", "-n", type=count(1), default=None, metavar="N",
                   help="structures in the pool (default: the builder's, 1000/500/500)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--scheduler", default=None, metavar="ADDR|local",
                   help="run trajectories on a local Dask cluster ('local') or a scheduler address "
                        "(tcp://host:8786); serial by default")
    p.add_argument("--element", default=None, help="one-element only: the EMT metal (default Cu)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.builders import build
    from atomsieve.data import save
    from atomsieve.data.io import WRITE_FORMATS, check_writable
    from atomsieve.errors import DataError, ParameterError
    from atomsieve.progress import progress_bar

    output = Path(args.output)
    if output.suffix.lower() not in WRITE_FORMATS:  # fail before minutes of MD, not after
        raise DataError(
            f"{output}: cannot write suffix {output.suffix!r}; use one of {', '.join(WRITE_FORMATS)}"
        )
    if output.exists() and not args.overwrite:
        raise DataError(f"{output}: already exists; pass --overwrite to replace it")
    if not output.parent.exists():
        raise DataError(f"{output}: folder {output.parent} does not exist")
    check_writable(output)  # a read-only or forbidden folder fails now, not after minutes of MD
    if args.structures is not None and args.structures < 1:
        raise ParameterError(f"--structures must be at least 1; got {args.structures}")
    options = {}
    if args.element is not None:
        if args.name != "one-element":
            raise ParameterError(f"--element applies to one-element only, not {args.name}")
        options["element"] = args.element
    with progress_bar(f"build {args.name}") as progress:
        dataset = build(args.name, args.structures, seed=args.seed, progress=progress,
                        scheduler=args.scheduler, **options)
    save(dataset, output, overwrite=args.overwrite)
    print(f"wrote {len(dataset)} structures ({dataset.n_atoms} atoms, "
          f"{' '.join(dataset.elements)}) to {output}")
    return 0
