"""``atomsieve select PATH --threshold Ge=0.275 --output selected.extxyz``: pick structures to label.

The default method is local-environment-bank selection (thresholds, or a budget that calibrates them;
optionally screening against an existing bank). ``--method fps|cur|...`` with ``--n N`` dispatches to
:func:`atomsieve.selectors.registry.make_selector` instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from atomsieve.commands import add_label_keys, add_query, load_dataset
from atomsieve.commands.options import count_or_fraction
from atomsieve.commands.select_streamed import run_streamed, run_streamed_method, wants_stream
from atomsieve.commands.selection_outputs import (
    add_selection_outputs,
    check_selection_outputs,
    write_selection_outputs,
)
from atomsieve.data.io import atomic_group
from atomsieve.errors import ParameterError


def parse_thresholds(items: list[str] | None) -> dict[str, float] | float | None:
    """``["Ge=0.275", "H=0.1"]`` -> ``{"Ge": 0.275, "H": 0.1}``; ``["0.2"]`` -> ``0.2`` (all elements)."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        try:
            return float(items[0])
        except ValueError:
            raise ParameterError(
                f"--threshold {items[0]!r}: expected ELEMENT=VALUE (e.g. Ge=0.275) or a number"
            ) from None
    out: dict[str, float] = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        if not sep or not symbol.strip():
            raise ParameterError(f"--threshold {item!r}: expected ELEMENT=VALUE, e.g. Ge=0.275")
        try:
            out[symbol.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"--threshold {item!r}: {value!r} is not a number") from None
    return out


def parse_budget(text: str | None) -> int | float | None:
    """``"1000"`` -> 1000; ``"20%"`` -> 0.2."""
    if text is None:
        return None
    text = text.strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100.0
            if not 0 < value < 1:
                raise ValueError
            return value
        value = int(text)
        if value < 1:
            raise ValueError
        return value
    except ValueError:
        raise ParameterError(
            f"--budget {text!r}: expected a whole number >= 1 or a percentage like 20%"
        ) from None


def add_feature_options(p: argparse.ArgumentParser) -> None:
    """Options that say how fingerprints are obtained (shared with ``sweep``)."""
    from atomsieve.commands.options import device, number
    from atomsieve.descriptors import PRESETS

    p.add_argument(
        "--features",
        metavar="FILE.npz",
        default=None,
        help="precomputed fingerprints (atomsieve featurize) instead of computing them",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="symmetry-function set (default: li_single_element for one element, else li_two_element)",
    )
    p.add_argument("--cutoff", type=number(0, 100, low_open=True), default=None,
                   help="cutoff radius, Å (default: the preset's)")
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu or cuda")
    p.add_argument(
        "--cache",
        action="store_true",
        help="reuse/store fingerprints in the feature cache ($ATOMSIEVE_CACHE_DIR or ~/.cache/atomsieve)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars (default: when stderr is a terminal)",
    )


def fingerprints(args, ds, bank=None):
    """Min-max-scaled symmetry functions of ``ds``; with a bank, its descriptor and scaler."""
    from atomsieve.commands.streamed import descriptor_for
    from atomsieve.descriptors import load_features
    from atomsieve.progress import progress_bar

    if args.features:
        from atomsieve.descriptors.storage import check_features_match

        feats = load_features(args.features)
        check_features_match(args.features, feats, ds)
        return feats
    sf = descriptor_for(args, ds.elements, bank)
    banked = bank is not None and bank.params is not None and bank.scaler is not None
    scaler = bank.scaler if banked else "minmax"
    with progress_bar("fingerprints", enabled=args.progress) as bar:
        return sf.compute(
            ds, scaler=scaler, device=args.device, progress=bar, cache=True if args.cache else None
        )


def add_method_options(p: argparse.ArgumentParser, threshold_help: str) -> None:
    """--method, --n and --threshold: how ``select`` and ``chemiscope`` choose structures."""
    from atomsieve.selectors.registry import METHODS, OPTIONAL_METHODS

    p.add_argument(
        "--method",
        choices=METHODS + OPTIONAL_METHODS,
        default="lebank",
        help="selection method (default lebank)",
    )
    p.add_argument(
        "--n",
        default=None,
        metavar="N",
        help="structures to pick for methods other than lebank (a count, or a fraction like 0.2)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        metavar="EL=T",
        help=threshold_help,
    )


def check_output(path: str, overwrite: bool, suffixes: tuple[str, ...] | None = None) -> Path:
    """Fail before the work when ``path`` cannot be written."""
    out = Path(path)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise ParameterError(f"{out}: use a name ending in {' or '.join(suffixes)}")
    if out.exists() and not overwrite:
        raise ParameterError(f"{out}: already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise ParameterError(f"{out}: folder {out.parent} does not exist")
    from atomsieve.data.io import check_writable

    check_writable(out)
    return out


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
