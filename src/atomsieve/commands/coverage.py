"""``atomsieve coverage TRAIN TEST``: how far test environments lie from the training environments."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from atomsieve.commands import add_label_keys
from atomsieve.commands.streamed import add_stream_options, refuse_in_stream, should_stream


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
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress bars (default: when stderr is a terminal)")
    add_stream_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.data import load
    from atomsieve.descriptors import preset
    from atomsieve.evaluate.coverage import coverage
    from atomsieve.progress import progress_bar

    if (should_stream(args, args.train) or should_stream(args, args.test)) and refuse_in_stream(
            args, f"{args.train} or {args.test}", **{f"--scaler {args.scaler}": args.scaler != "minmax"}):
        return _run_streamed(args)
    train = load(args.train, energy_key=args.energy_key, forces_key=args.forces_key)
    test = load(args.test, energy_key=args.energy_key, forces_key=args.forces_key)
    sf = preset(args.preset, sorted(set(train.elements) | set(test.elements)), args.cutoff)
    with progress_bar("featurising", enabled=args.progress) as bar:
        train_f = sf.compute(train, scaler=args.scaler, progress=bar)
        test_f = sf.compute(test, scaler=train_f.scaler, progress=bar)
    result = coverage(train_f, test_f)
    _print(args, sf, result, (len(train), train.n_atoms), (len(test), test.n_atoms))
    return 0


def _print(args, sf, result, train_size: tuple[int, int], test_size: tuple[int, int]) -> None:
    print(f"train: {args.train} ({train_size[0]} structures, {train_size[1]} atoms)")
    print(f"test:  {args.test} ({test_size[0]} structures, {test_size[1]} atoms)")
    print(f"descriptor: {sf.preset or 'custom'}, r_cut {sf.r_cut:g} Å, {sf.n_features} features, "
          f"{args.scaler} scaling fitted on train")
    print("nearest-neighbour distance from each test atom to the training atoms of its element")
    print(f"{'element':<8} {'test atoms':>10} {'train atoms':>11} {'mean':>10} {'median':>10} {'max':>10}")
    for element, row in result.by_element.items():
        print(f"{element:<8} {row['n_test']:>10} {row['n_train']:>11} {row['mean']:>10.4f} "
              f"{row['median']:>10.4f} {row['max']:>10.4f}")
    print(f"{'all':<8} {len(result.distances):>10} {train_size[1]:>11} {result.mean:>10.4f} "
          f"{result.median:>10.4f} {result.max:>10.4f}")


def _store_folder(folder: Path) -> None:
    """Make ``--store DIR`` (which holds DIR/train and DIR/test); a name that cannot be that folder is
    a DataError, as for every output the verbs write."""
    from atomsieve.errors import DataError

    if folder.exists() and not folder.is_dir():
        raise DataError(f"--store {folder}: exists and is not a folder; name a new folder")
    if not folder.parent.is_dir():
        raise DataError(f"--store {folder}: folder {folder.parent} does not exist")
    folder.mkdir(exist_ok=True)


def _run_streamed(args) -> int:
    """Both files through feature stores (``--store DIR``: DIR/train and DIR/test): the training
    fingerprints in memory (n_train × n_features), the test atoms a chunk at a time, scaled with the
    training set's min–max scaler."""
    import numpy as np

    from atomsieve.commands.streamed import descriptor_for, feature_store
    from atomsieve.data.stream import scan_elements
    from atomsieve.descriptors import AtomicFeatures
    from atomsieve.evaluate.coverage import Coverage, coverage
    from atomsieve.progress import progress_bar

    sf = descriptor_for(args, sorted(set(scan_elements(args.train)) | set(scan_elements(args.test))))

    def store_args(name: str):
        out = copy.copy(args)
        if args.store is not None:
            _store_folder(Path(args.store))
            out.store = str(Path(args.store) / name)
        return out

    with feature_store(store_args("train"), args.train, sf) as train_store:
        chunks = list(train_store.chunks())
        train_f = AtomicFeatures(values=np.concatenate([c.values for c in chunks]),
                                 species=np.concatenate([c.species for c in chunks]),
                                 structure=np.concatenate([c.structure for c in chunks]), params=sf.params,
                                 scaler=train_store.scaler, n_structures=train_store.n_structures)
        del chunks
    n_train = {int(z): int(n) for z, n in zip(*np.unique(train_f.species, return_counts=True))}
    distances, species = [], []
    with feature_store(store_args("test"), args.test, sf) as test_store:
        n_test_structures = test_store.n_structures
        with progress_bar("coverage", enabled=args.progress) as bar:
            for chunk in test_store.chunks(scaler=train_f.scaler):
                part = coverage(train_f, chunk)
                distances.append(part.distances)
                species.append(part.species)
                bar(sum(len(d) for d in distances), test_store.n_atoms, "test atoms")
    result = Coverage.from_distances(np.concatenate(distances), np.concatenate(species), n_train)
    _print(args, sf, result, (train_f.n_structures, train_f.n_atoms),
           (n_test_structures, len(result.distances)))
    return 0
