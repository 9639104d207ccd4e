"""``atomsieve coverage TRAIN TEST``: how far test environments lie from the training environments."""

from __future__ import annotations

from atomsieve.commands import add_label_keys


def register(sub) -> None:
    from atomsieve.commands.options import number

    p = sub.add_parser("coverage",
                       help="nearest-neighbour fingerprint distances from TEST atoms to TRAIN atoms")
    p.add_argument("train", help="training structure file")
    p.add_argument("test", help="test structure file")
    add_label_keys(p)
    p.add_argument("--preset", help="descriptor preset (default: by the number of elements)")
    p.add_argument("--cutoff", type=number(0, 100, low_open=True),
                   help="descriptor cutoff in Å (default: the preset's)")
    p.add_argument("--scaler", choices=["minmax", "standard", "none"], default="minmax",
                   help="feature scaling, fitted on TRAIN and applied to TEST (default minmax)")
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.data import load
    from atomsieve.descriptors import preset
    from atomsieve.evaluate.coverage import coverage
    from atomsieve.progress import progress_bar

    train = load(args.train, energy_key=args.energy_key, forces_key=args.forces_key)
    test = load(args.test, energy_key=args.energy_key, forces_key=args.forces_key)
    sf = preset(args.preset, sorted(set(train.elements) | set(test.elements)), args.cutoff)
    with progress_bar("featurising") as bar:
        train_f = sf.compute(train, scaler=args.scaler, progress=bar)
        test_f = sf.compute(test, scaler=train_f.scaler, progress=bar)
    result = coverage(train_f, test_f)
    print(f"train: {args.train} ({len(train)} structures, {train.n_atoms} atoms)")
    print(f"test:  {args.test} ({len(test)} structures, {test.n_atoms} atoms)")
    print(f"descriptor: {sf.preset or 'custom'}, r_cut {sf.r_cut:g} Å, {sf.n_features} features, "
          f"{args.scaler} scaling fitted on train")
    print("nearest-neighbour distance from each test atom to the training atoms of its element")
    print(f"{'element':<8} {'test atoms':>10} {'train atoms':>11} {'mean':>10} {'median':>10} {'max':>10}")
    for element, row in result.by_element.items():
        print(f"{element:<8} {row['n_test']:>10} {row['n_train']:>11} {row['mean']:>10.4f} "
              f"{row['median']:>10.4f} {row['max']:>10.4f}")
    print(f"{'all':<8} {len(result.distances):>10} {train.n_atoms:>11} {result.mean:>10.4f} "
          f"{result.median:>10.4f} {result.max:>10.4f}")
    return 0
