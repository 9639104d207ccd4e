"""``atomsieve chemiscope PATH --budget 40 --output map.json.gz``: a selection to look at and share.

Selects as ``atomsieve select`` does (LE-bank with ``--threshold``/``--budget``, or ``--method``
with ``--n``), or takes the indices of an earlier ``select --indices-out`` record
(``--selection``), and writes a chemiscope input file (open it at https://chemiscope.org or with
``chemiscope.show_input``): structures, a 2-D map of the fingerprints, ``selected`` and the bank
membership, labels and ``config_type``, atomic environments.
"""

from __future__ import annotations

from atomsieve.commands import add_label_keys, add_query, load_dataset
from atomsieve.errors import ParameterError


def register(sub) -> None:
    from atomsieve.commands.options import add_feature_options, add_method_options, seed

    p = sub.add_parser(
        "chemiscope",
        help="write a chemiscope file (fingerprint map, selected structures, bank) to view a selection",
        description="Select structures (as `atomsieve select`) or read an earlier selection record, and "
        "write a chemiscope input: the structures, the first two principal components of the fingerprints, "
        "per-structure and per-atom properties (selected, selection order, in bank, energies in eV/atom, "
        "forces in eV/Å, config_type) and atomic environments.",
    )
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...; .gz/.bz2/.xz too)")
    add_label_keys(p)
    add_query(p)
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="MAP.json.gz",
        help="chemiscope file to write (.json or .json.gz)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--selection",
        metavar="SEL.json",
        help="use the indices of this `atomsieve select --indices-out` record instead of selecting",
    )
    add_method_options(p, threshold_help="LE-bank threshold per element, repeatable (Ge=0.275)")
    p.add_argument(
        "--budget", metavar="N|P%", help="calibrate LE-bank thresholds to select N structures or P%%"
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--name", default=None, help="title chemiscope shows (default: the file name)")
    add_feature_options(p)
    p.set_defaults(run=run)


def _select(args, ds, feats):
    """The fitted selector the options describe, and a line saying what it did."""
    from atomsieve.commands.options import count_or_fraction, parse_budget, parse_thresholds
    from atomsieve.selectors import LEBank, calibrate_thresholds
    from atomsieve.selectors.registry import fit_labels, make_selector

    if args.method != "lebank":
        if args.threshold or args.budget:
            raise ParameterError(
                f"--threshold and --budget apply to --method lebank; --method {args.method} takes --n"
            )
        if args.n is None:
            raise ParameterError(f"--method {args.method} needs --n (a count, or a fraction like 0.2)")
        sel = make_selector(args.method, count_or_fraction(args.n), seed=args.seed).fit(
            feats, **fit_labels(args.method, ds)
        )
        return sel, f"method {args.method}"
    if args.n is not None:
        raise ParameterError("--n applies to the comparison methods; lebank takes --threshold or --budget")
    thresholds, budget = parse_thresholds(args.threshold), parse_budget(args.budget)
    if thresholds is None and budget is None:
        raise ParameterError(
            "give --threshold EL=T or --budget N|P% (LE-bank), --method M --n N, or --selection SEL.json"
        )
    if budget is not None:
        thresholds = calibrate_thresholds(
            feats,
            budget,
            ratios=thresholds if isinstance(thresholds, dict) else None,
            seed=args.seed,
            device=args.device,
        ).thresholds
    sel = LEBank(thresholds, seed=args.seed, device=args.device).fit(feats)
    shown = ", ".join(f"{e}={t:.6g}" for e, t in sel.thresholds_.items())
    return sel, f"LE-bank, thresholds {shown}, {len(sel.bank_)} bank vectors"


def run(args) -> int:
    from atomsieve.commands import check_output, fingerprints
    from atomsieve.data.chemiscope_map import write_chemiscope
    from atomsieve.errors import DataError
    from atomsieve.selectors.record import read_selection_record

    output = check_output(args.output, args.overwrite)
    if not output.name.endswith((".json", ".json.gz")):
        raise DataError(
            f"{output}: chemiscope reads .json or .json.gz; use a name ending in one of those"
        )
    record = read_selection_record(args.selection) if args.selection else None
    if record is not None and (
        args.threshold or args.budget or args.n is not None or args.method != "lebank"
    ):
        raise ParameterError("--selection gives the indices; drop --method/--n/--threshold/--budget")
    ds = load_dataset(args)
    if record is not None and record.get("dataset_sha256") not in (None, ds.content_hash()):
        raise DataError(
            f"--selection {args.selection}: made from other structures or labels than {args.path} "
            f"(its source: {record.get('source')}, query {record.get('query')!r})"
        )
    feats = fingerprints(args, ds)
    if record is not None:
        selected, bank, what = record["indices"], None, f"record {args.selection} ({record.get('method')})"
        if max(selected, default=-1) >= len(ds):
            raise DataError(
                f"--selection {args.selection}: index {max(selected)} is past the {len(ds)} structures"
            )
    else:
        sel, what = _select(args, ds, feats)
        selected, bank = sel.selected_, getattr(sel, "bank_", None)
    write_chemiscope(
        output,
        ds,
        feats,
        selected,
        bank=bank,
        name=args.name,
        overwrite=args.overwrite,
        description=f"atomsieve selection: {what}; {len(selected)} of {len(ds)} structures",
    )
    print(f"selection:   {what}")
    print(f"selected:    {len(selected)} of {len(ds)} structures")
    print(f"written:     {output} (open at https://chemiscope.org or with chemiscope.show_input)")
    return 0
