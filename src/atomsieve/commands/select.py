"""``atomsieve select PATH --threshold Ge=0.275 --output selected.extxyz``: pick structures to label.

The default method is local-environment-bank selection (thresholds, or a budget that calibrates them;
optionally screening against an existing bank). ``--method fps|cur|...`` with ``--n N`` dispatches to
:func:`atomsieve.selectors.registry.make_selector` instead.
"""

from __future__ import annotations

from pathlib import Path

from atomsieve.commands import add_label_keys, add_query, check_output, fingerprints, load_dataset
from atomsieve.commands.options import (
    add_feature_options,
    add_method_options,
    count_or_fraction,
    parse_budget,
    parse_thresholds,
)
from atomsieve.commands.select_streamed import run_streamed, run_streamed_method, wants_stream
from atomsieve.commands.selection_outputs import (
    add_selection_outputs,
    check_selection_outputs,
    write_selection_outputs,
)
from atomsieve.data.io import atomic_group
from atomsieve.errors import ParameterError


def register(sub) -> None:
    from atomsieve.commands.options import seed
    from atomsieve.commands.streamed import add_stream_options

    p = sub.add_parser(
        "select",
        help="select structures to label (local-environment bank by default)",
        description="Select structures whose atoms bring new local environments (LE-bank, Li et al. 2024) "
        "or, with --method, by a comparison method. Fingerprints: min-max-scaled symmetry "
        "functions; thresholds are distances between fingerprints (dimensionless).",
    )
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...)")
    add_label_keys(p)
    add_query(p)
    p.add_argument("--output", "-o", required=True, metavar="PATH", help="file for the selected structures")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_method_options(p, threshold_help="LE-bank threshold per element, repeatable (Ge=0.275); one "
                       "bare number applies to all elements; with --budget the values only set the ratios")
    p.add_argument(
        "--budget", metavar="N|P%", help="calibrate thresholds to select N structures or P%% of them"
    )
    p.add_argument(
        "--budget-kind",
        choices=["structures", "atoms"],
        default="structures",
        help="what --budget counts (default structures; atoms = atoms of selected structures)",
    )
    p.add_argument(
        "--retention",
        action="store_true",
        help="with --budget: equalise the share of each element's atoms kept in the bank "
        "instead of keeping the threshold ratios",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--shuffle", action="store_true", help="visit structures in a seeded random order")
    p.add_argument(
        "--init",
        choices=["random", "empty"],
        default="random",
        help="start the bank with one random fingerprint (default) or empty",
    )
    p.add_argument("--bank-in", metavar="BANK.npz", help="screen against this existing bank")
    p.add_argument("--bank-out", metavar="BANK.npz", help="write the bank after selection")
    add_selection_outputs(p)
    add_feature_options(p)
    add_stream_options(p)
    p.set_defaults(run=run)


def _run_other_method(args, ds, output: Path) -> int:
    from atomsieve.selectors.registry import fit_labels, make_selector

    for flag, value in (
        ("--threshold", args.threshold),
        ("--budget", args.budget),
        ("--bank-in", args.bank_in),
        ("--bank-out", args.bank_out),
    ):
        if value:
            raise ParameterError(f"{flag} applies to --method lebank only; --method {args.method} takes --n")
    if args.n is None:
        raise ParameterError(f"--method {args.method} needs --n (a count, or a fraction like 0.2)")
    n = count_or_fraction(args.n)
    check_selection_outputs(args, ds.elements)
    feats = fingerprints(args, ds)
    sel = make_selector(args.method, n, seed=args.seed).fit(feats, **fit_labels(args.method, ds))
    print(f"method:      {args.method}")
    print(
        f"selected:    {len(sel.selected_)} of {len(ds)} structures, "
        f"{sel.n_selected_atoms_} of {ds.n_atoms} atoms"
    )
    print(f"time:        {sel.seconds_:.3f} s (selection only)")
    with atomic_group():  # selection and record: all or nothing
        write_selection_outputs(args, ds, sel, feats, output, n=args.n)
    return 0


def run(args) -> int:
    from atomsieve.data.io import WRITE_FORMATS
    from atomsieve.selectors import EnvironmentBank, LEBank, calibrate_thresholds
    from atomsieve.selectors.lebank import normalise_thresholds, thresholds_for

    output = check_output(args.output, args.overwrite, tuple(WRITE_FORMATS))
    if args.n is not None:
        count_or_fraction(args.n)  # before the dataset is read
    if args.method != "lebank":
        if wants_stream(args):  # a large file or --store/--scheduler: the mean fingerprints, out of core
            return run_streamed_method(args, output)
        return _run_other_method(args, load_dataset(args), output)
    if args.n is not None:
        raise ParameterError("--n applies to the comparison methods; lebank takes --threshold or --budget")
    thresholds = parse_thresholds(args.threshold)
    budget = parse_budget(args.budget)
    if thresholds is None and budget is None:
        raise ParameterError("lebank needs --threshold EL=T (e.g. --threshold Ge=0.275) or --budget N|P%")
    if budget is not None and args.bank_in:
        raise ParameterError("--budget cannot be combined with --bank-in; give --threshold values instead")
    if args.bank_out:
        check_output(args.bank_out, args.overwrite, (".npz",))
    bank = EnvironmentBank.load(args.bank_in) if args.bank_in else None
    if wants_stream(args):  # a large file or --store/--scheduler: the same selection, out of core
        return run_streamed(args, thresholds, bank, output)
    check_selection_outputs(args)
    ds = load_dataset(args)
    check_selection_outputs(args, ds.elements)
    if thresholds is not None and budget is None:  # fail before computing fingerprints
        thresholds_for(normalise_thresholds(thresholds), ds.elements)
    feats = fingerprints(args, ds, bank)
    if budget is not None:
        result = calibrate_thresholds(
            feats,
            budget,
            kind=args.budget_kind,
            mode="retention" if args.retention else "ratio",
            ratios=thresholds if isinstance(thresholds, dict) else None,
            seed=args.seed,
            shuffle=args.shuffle,
            init=args.init,
            device=args.device,
        )
        thresholds = result.thresholds
        status = "met" if result.met else "NOT met (closest found)"
        print(
            f"budget:      {result.target} {result.kind}, tolerance ±{result.tolerance}: {status} "
            f"with {result.count} after {len(result.history)} selections"
        )
    sel = LEBank(thresholds, seed=args.seed, shuffle=args.shuffle, init=args.init, device=args.device)
    sel.fit(feats, bank=bank)
    shown = ", ".join(f"{e}={t:.6g}" for e, t in sel.thresholds_.items())
    print(f"thresholds:  {shown}")
    print(
        f"selected:    {len(sel.selected_)} of {len(ds)} structures, "
        f"{sel.n_selected_atoms_} of {ds.n_atoms} atoms"
    )
    per = ", ".join(f"{e} {c}" for e, c in sel.bank_.counts_per_element().items())
    print(f"bank:        {len(sel.bank_)} vectors ({per}); {sel.new_vectors_} new")
    print(f"time:        {sel.seconds_:.3f} s (selection only)")
    budget_record = None if budget is None else {
        "target": args.budget, "kind": args.budget_kind, "mode": "retention" if args.retention else "ratio"}
    with atomic_group():  # selection, record and bank: all or nothing
        write_selection_outputs(args, ds, sel, feats, output, budget=budget_record, bank_in=args.bank_in)
        if args.bank_out:
            sel.bank_.save(args.bank_out, overwrite=args.overwrite)
            print(f"bank saved:  {args.bank_out}")
    return 0
