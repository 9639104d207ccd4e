"""``atomsieve select-features PATH --method {cur,fcorr} --n 20``: which symmetry functions to keep."""

from __future__ import annotations

import json

import numpy as np

from atomsieve.commands import add_label_keys, load_dataset
from atomsieve.errors import ParameterError


def register(sub) -> None:
    from atomsieve.commands.options import add_feature_options, count, seed

    p = sub.add_parser(
        "select-features",
        help="choose which symmetry functions to keep (CUR or force correlation)",
        description="Rank the symmetry functions of a preset by CUR on the per-atom fingerprint matrix, "
        "or by force correlation (the functions whose force features -sum_i dG_i/dr correlate "
        "best with the reference forces, eV/Å), and report the relative norm deviation "
        "||X - C C+ X||_F / ||X||_F of the fingerprints the chosen functions leave unexplained.",
    )
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...)")
    add_label_keys(p)
    p.add_argument("--method", choices=["cur", "fcorr"], default="cur", help="cur (default) or fcorr")
    p.add_argument("--n", required=True, metavar="N",
                   help="functions to keep (a count or a fraction like 0.5)")
    p.add_argument("--k", type=count(1, 10_000), default=1,
                   help="singular vectors in the CUR score (default 1)")
    p.add_argument(
        "--sample",
        type=count(1),
        default=5,
        metavar="S",
        help="fcorr: structures (drawn with --seed) whose force derivatives are computed (default 5)",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed for --sample (default 0)")
    p.add_argument("--output", "-o", metavar="FILE.json", help="write the chosen functions as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_feature_options(p)
    p.set_defaults(run=run)


def _check_fcorr(args, ds) -> None:
    if ds.forces is None:
        raise ParameterError(
            f"{args.path}: --method fcorr needs reference forces and the file has none; name them with "
            "--forces-key or use --method cur"
        )
    if args.features:
        raise ParameterError("--method fcorr computes derivatives of a preset; it cannot use --features")
    if args.sample < 1:
        raise ParameterError(f"--sample {args.sample}: need at least one structure")


def _force_features(args, ds, feats):
    from atomsieve.descriptors import preset
    from atomsieve.progress import progress_bar
    from atomsieve.selectors.feature_selection import force_features_from_jacobian

    chosen = np.sort(np.random.default_rng(args.seed).permutation(len(ds))[: args.sample])
    part = ds.subset(chosen)
    sf = preset(args.preset, ds.elements, r_cut=args.cutoff)
    with progress_bar("derivatives", enabled=args.progress) as bar:
        jac = sf.jacobian(part, device=args.device, progress=bar)
    return force_features_from_jacobian(jac, scaler=feats.scaler), part.forces, chosen


def run(args) -> int:
    from atomsieve.commands import check_output, fingerprints
    from atomsieve.commands.options import count_or_fraction
    from atomsieve.data import atomic_path
    from atomsieve.selectors import FeatureCUR, ForceCorrelation

    output = check_output(args.output, args.overwrite, (".json",)) if args.output else None
    n = count_or_fraction(args.n)
    ds = load_dataset(args)
    if args.method == "fcorr":
        _check_fcorr(args, ds)
    feats = fingerprints(args, ds)
    extra = {}
    if args.method == "cur":
        sel = FeatureCUR(n, k=args.k).fit(feats)
    else:
        D, forces, chosen = _force_features(args, ds, feats)
        sel = ForceCorrelation(n).fit(feats, force_features=D, forces=forces)
        extra = {"sample_structures": chosen.tolist(), "force_residual": sel.force_residual_,
                 "correlations": sel.correlations_.tolist()}
    print(f"method:      {args.method}")
    print(f"kept:        {len(sel.selected_)} of {feats.n_features} functions")
    for rank, (j, name) in enumerate(zip(sel.selected_, sel.feature_names_), 1):
        print(f"  {rank:3d}. #{j:<4d} {name}")
    print(f"relative norm deviation: {sel.relative_norm_deviation_:.4g}")
    if args.method == "fcorr":
        print(f"force residual (linear fit on {len(extra['sample_structures'])} structures): "
              f"{sel.force_residual_:.4g}")
    print(f"time:        {sel.seconds_:.3f} s (selection only)")
    if output is not None:
        record = {"method": args.method, "selected": sel.selected_.tolist(), "names": sel.feature_names_,
                  "relative_norm_deviation": sel.relative_norm_deviation_, "params": feats.params, **extra}
        with atomic_path(output, args.overwrite) as tmp:
            with open(tmp, "w") as fh:
                json.dump(record, fh, indent=1, default=str)
        print(f"written:     {output}")
    return 0
