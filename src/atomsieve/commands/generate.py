"""``atomsieve generate``: entropy-maximisation generation of diverse configurations."""

from __future__ import annotations

import math

from atomsieve.commands.options import count, number, seed
from atomsieve.errors import ParameterError


def _cell(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ParameterError(f"--cell {text!r}: give 3 lengths or 9 numbers separated by commas, Å") from None
    if len(values) not in (3, 9):
        raise ParameterError(f"--cell {text!r}: give 3 lengths or 9 numbers separated by commas, Å")
    if not all(math.isfinite(v) for v in values) or (len(values) == 3 and min(values) <= 0):
        raise ParameterError(f"--cell {text!r}: lengths must be finite and positive, Å")
    return values


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate diverse configurations by entropy maximisation (Karabin & Perez 2020)",
        description="Anneal atoms under V = E_repulsive − K·S (S: nearest-neighbour entropy of their "
                    "symmetry-function vectors) and harvest one configuration per cycle. --kmax 0 gives the "
                    "unbiased reference. Units: Å, eV, K, fs.",
    )
    p.add_argument("--configs", type=count(1), default=100, help="configurations to harvest (default 100)")
    p.add_argument("--atoms", type=count(1, 100_000), default=39, help="atoms per configuration (default 39)")
    p.add_argument("--cell", default="9.54,9.54,14.31",
                   help="periodic cell: 3 lengths or 9 numbers, Å (default 9.54,9.54,14.31)")
    p.add_argument("--element", default="W", help="chemical symbol (default W)")
    p.add_argument("--kmax", type=number(0), default=1000.0,
                   help="final bias strength K, eV (default 1000; 0: unbiased)")
    p.add_argument("--t-start", type=number(0, low_open=True), default=10_000.0,
                   help="start temperature of a cycle, K (default 10000)")
    p.add_argument("--steps", type=count(1), default=1000, help="MD steps per cycle (default 1000)")
    p.add_argument("--timestep", type=number(0, 100, low_open=True), default=1.0,
                   help="MD timestep, fs (default 1)")
    p.add_argument("--chains", type=count(1, 10_000), default=None,
                   help="independent chains (default 1 when serial, else one per worker)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--scheduler", default=None,
                   help="where chains run: serial (default), local (a Dask LocalCluster) or tcp://host:port")
    p.add_argument("--workers", type=count(1, 1024), default=None, help="workers of a local cluster")
    p.add_argument("--output", "-o", required=True, help="output file (.extxyz, .xyz, .db, .json, .traj)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--progress", action=__import__("argparse").BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    p.set_defaults(run=run)


def run(args) -> int:
    import os

    from ase.data import chemical_symbols

    from atomsieve.commands import check_output
    from atomsieve.data import save
    from atomsieve.data.io import WRITE_FORMATS
    from atomsieve.generate import EntropyMaximisationGenerator
    from atomsieve.generate.repulsive import RepulsivePotential
    from atomsieve.progress import progress_bar

    out = check_output(args.output, args.overwrite, tuple(WRITE_FORMATS))  # before the long run
    if args.element not in chemical_symbols[1:]:
        raise ParameterError(f"--element {args.element!r}: not a chemical symbol (e.g. W, Cu, Si)")
    serial = args.scheduler in (None, "serial")
    chains = args.chains if args.chains is not None else (
        1 if serial else max(1, min(args.configs, args.workers or min(4, os.cpu_count() or 1))))
    gen = EntropyMaximisationGenerator(
        n_configs=args.configs, n_atoms=args.atoms, cell=_cell(args.cell), element=args.element,
        k_max=args.kmax, t_start=args.t_start, n_steps=args.steps, timestep=args.timestep,
        n_chains=chains, scheduler=args.scheduler, n_workers=args.workers, seed=args.seed,
    )
    with progress_bar("generate", enabled=args.progress) as bar:
        gen.fit(progress=bar)
    save(gen.configurations_, out, overwrite=args.overwrite)
    r0 = RepulsivePotential().r0
    print(f"wrote {len(gen.configurations_)} configurations to {out}")
    print(f"entropy S: mean {gen.entropies_.mean():.3f}, min {gen.entropies_.min():.3f}, "
          f"max {gen.entropies_.max():.3f}")
    closest = gen.min_distances_.min()
    print(f"smallest interatomic distance: {closest:.3f} Å ({closest / r0:.2f} r0)")
    print(f"time: {gen.seconds_:.1f} s ({gen.seconds_per_configuration_:.2f} s per configuration)")
    return 0
