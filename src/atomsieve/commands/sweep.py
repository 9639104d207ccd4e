"""``atomsieve sweep PATH --element Ge --from 0.1 --to 0.45 --step 0.025 --output sweep.csv``.

Structures, atoms and bank size selected by the local-environment bank at each threshold (the LE-bank
paper's Fig. 2a), written as CSV.
"""

from __future__ import annotations

import csv

from atomsieve.commands import add_label_keys, add_query, check_output, fingerprints, load_dataset
from atomsieve.commands.options import add_feature_options, parse_thresholds
from atomsieve.commands.streamed import add_stream_options, refuse_in_stream, should_stream
from atomsieve.errors import ParameterError


def register(sub) -> None:
    from atomsieve.commands.options import number, seed

    p = sub.add_parser(
        "sweep",
        help="LE-bank selection counts over a range of thresholds (CSV)",
        description="Run local-environment-bank selection at each threshold from --from to --to (inclusive) "
        "and write threshold, structures, atoms and bank size per element as CSV.",
    )
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...)")
    add_label_keys(p)
    add_query(p)
    p.add_argument(
        "--element",
        default=None,
        help="element whose threshold is swept (default: one shared threshold for all elements)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        metavar="EL=T",
        help="fixed thresholds of the other elements when --element is given (repeatable)",
    )
    p.add_argument("--from", dest="start", type=number(0), default=0.1, help="first threshold (default 0.1)")
    p.add_argument("--to", dest="stop", type=number(0), default=0.45, help="last threshold (default 0.45)")
    p.add_argument("--step", type=number(0, low_open=True), default=0.025,
                   help="threshold step (default 0.025; at most 10,000 thresholds)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--shuffle", action="store_true", help="visit structures in a seeded random order")
    p.add_argument(
        "--init", choices=["random", "empty"], default="random", help="initial bank (default random)"
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR|local",
        help="run the selections on a local Dask cluster ('local') or a scheduler address",
    )
    p.add_argument("--output", "-o", required=True, metavar="FILE.csv", help="CSV file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_feature_options(p)
    add_stream_options(p, scheduler=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.data import atomic_path
    from atomsieve.progress import progress_bar
    from atomsieve.selectors import threshold_sweep
    from atomsieve.selectors.studies import threshold_range

    output = check_output(args.output, args.overwrite, (".csv",))
    thresholds = threshold_range(args.start, args.stop, args.step)
    fixed = parse_thresholds(args.threshold)
    if fixed is not None and args.element is None:
        raise ParameterError("--threshold fixes other elements while --element is swept; give --element too")
    if isinstance(fixed, float):
        raise ParameterError("--threshold in sweep takes EL=T values for the elements that are not swept")
    streamed = args.path is not None and should_stream(args, args.path, scheduler_streams=False) and (
        refuse_in_stream(args, args.path, **{"--shuffle": args.shuffle, "--features": args.features,
                                             "--query": getattr(args, "query", None)}))
    if streamed:  # a large file or --store: selections over the on-disk feature store
        from atomsieve.data.stream import scan_elements

        elements = scan_elements(args.path)
    else:
        ds = load_dataset(args)
        elements = ds.elements
    if args.element is not None and args.element not in elements:
        raise ParameterError(
            f"--element {args.element}: not in {args.path} (elements: {', '.join(elements)})"
        )
    others = [e for e in elements if e != args.element]
    if args.element is not None and others and not (fixed and all(e in fixed for e in others)):
        raise ParameterError(
            f"--element {args.element} is swept; give fixed thresholds of {', '.join(others)} "
            f"with --threshold EL=T"
        )
    options = {"element": args.element, "fixed": fixed, "seed": args.seed, "init": args.init,
               "device": args.device, "scheduler": args.scheduler}
    if streamed:
        from atomsieve.commands.streamed import descriptor_for, feature_store
        from atomsieve.selectors.streaming import threshold_sweep_stream

        with feature_store(args, args.path, descriptor_for(args, elements)) as store:
            with progress_bar("sweep", enabled=args.progress) as bar:
                table = threshold_sweep_stream(store, thresholds.tolist(), progress=bar, **options)
    else:
        feats = fingerprints(args, ds)
        with progress_bar("sweep", enabled=args.progress) as bar:
            table = threshold_sweep(feats, thresholds.tolist(), shuffle=args.shuffle, progress=bar, **options)
    columns = (
        ["threshold", "structures", "atoms", "bank_size"] + [f"bank_{e}" for e in elements] + ["seconds"]
    )
    with atomic_path(output, args.overwrite) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for i in range(len(table["threshold"])):
                writer.writerow([table[c][i] if c != "seconds" else f"{table[c][i]:.4f}" for c in columns])
    swept = args.element or "all elements"
    print(f"threshold ({swept})  structures  atoms  bank")
    for t, s, a, b in zip(table["threshold"], table["structures"], table["atoms"], table["bank_size"]):
        print(f"{t:>10.4g}  {s:>10d}  {a:>5d}  {b:>4d}")
    print(f"written: {output}")
    return 0
