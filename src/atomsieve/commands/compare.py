"""``atomsieve compare PATH``: learning curves of every selection method, as CSV (and a plot)."""

from __future__ import annotations

import argparse

from atomsieve.commands import add_label_keys, add_query, load_dataset
from atomsieve.errors import ParameterError


def _list(text: str, convert, what: str) -> list:
    try:
        items = [convert(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: expected a comma-separated list, got {text!r}") from None
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{what}: {exc}") from None
    if not items:
        raise argparse.ArgumentTypeError(f"{what}: empty list")
    return items


def register(sub) -> None:
    from atomsieve.commands.options import count, number, seed
    from atomsieve.evaluate.selection import DEFAULT_METHODS

    p = sub.add_parser("compare", help="RMSE of a model trained on each method's selection, versus size")
    p.add_argument("path", help="structure file with energies and forces (the pool)")
    add_label_keys(p)
    add_query(p)
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   type=lambda t: _list(t, str, "--methods"),
                   help=f"comma-separated selection methods (default {','.join(DEFAULT_METHODS)})")
    p.add_argument("--sizes", default="20,40,80,160", type=lambda t: _list(t, count(1), "--sizes"),
                   help="comma-separated numbers of structures (default 20,40,80,160)")
    p.add_argument("--model", choices=["linear", "bpnn"], default="linear",
                   help="model to train (default linear)")
    p.add_argument("--repeats", type=count(1, 1000), default=1,
                   help="repeats per method and size (default 1)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--test", metavar="TEST_PATH", help="prediction set; the whole pool when omitted")
    p.add_argument("--preset", help="descriptor preset (default: by the number of elements)")
    p.add_argument("--cutoff", type=number(0, 100, low_open=True),
                   help="descriptor cutoff in Å (default: the preset's)")
    p.add_argument("--scheduler", help="where jobs run: 'threads' (default, this process), 'serial', "
                   "Dask 'local' or a scheduler address tcp://host:port")
    p.add_argument("--output", required=True, help="CSV file for the table (meV/atom, meV/Å, seconds)")
    p.add_argument("--plot", help="also draw the curves into a .png, .svg, .pdf or .html file")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.commands import check_output
    from atomsieve.data import atomic_group, atomic_path, load
    from atomsieve.descriptors import preset
    from atomsieve.evaluate.context import build_context
    from atomsieve.evaluate.curves import learning_curves, summarize
    from atomsieve.evaluate.plots import save_curve_plot
    from atomsieve.progress import progress_bar
    from atomsieve.selectors.registry import METHODS

    if args.repeats < 1:
        raise ParameterError(f"--repeats must be at least 1; got {args.repeats}")
    unknown = [m for m in args.methods if m not in METHODS and m != "lebank"]
    if unknown:  # before minutes of featurising
        raise ParameterError(f"--methods: unknown selection method(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(sorted(set(METHODS) | {'lebank'}))}")
    if args.plot and not args.plot.lower().endswith((".png", ".svg", ".pdf", ".html")):
        raise ParameterError(f"--plot {args.plot}: use a .png, .svg, .pdf or .html file")
    for target in (args.output, args.plot):
        if target:
            check_output(target, args.overwrite)  # exists, folder missing, read-only: before the work
    pool = load_dataset(args)
    test = load(args.test, energy_key=args.energy_key, forces_key=args.forces_key) if args.test else None
    elements = sorted(set(pool.elements) | set(test.elements if test is not None else []))
    descriptor = preset(args.preset, elements, args.cutoff)
    with progress_bar("featurising") as bar:
        context = build_context(pool, test=test, descriptor=descriptor, model=args.model, progress=bar)
    with progress_bar("learning curves") as bar:
        table = learning_curves(pool, args.methods, args.sizes, args.model, args.repeats, args.seed,
                                progress=bar, scheduler=args.scheduler, context=context)
    with atomic_group():  # the table and the plot: all or nothing
        with atomic_path(args.output, args.overwrite) as tmp:
            table.to_csv(tmp, index=False)
        if args.plot:
            save_curve_plot(table, args.plot, overwrite=args.overwrite)
    summary = summarize(table)
    print(f"{'method':<10} {'size':>5} {'F pred meV/Å':>13} {'E pred meV/atom':>16} {'fit s':>7}")
    for _, row in summary.iterrows():
        print(f"{row['method']:<10} {int(row['size']):>5} {row['rmse_f_pred']:>13.1f} "
              f"{row['rmse_e_pred']:>16.2f} {row['fit_seconds']:>7.3f}")
    print(f"wrote {args.output}" + (f" and {args.plot}" if args.plot else ""))
    return 0
