"""``atomsieve featurize PATH``: symmetry-function fingerprints of every atom, saved as ``.npz``."""

from __future__ import annotations

import argparse

from atomsieve.commands import add_label_keys, add_query, check_output, load_dataset
from atomsieve.commands.streamed import add_stream_options, refuse_in_stream, should_stream
from atomsieve.errors import DataError


def register(sub) -> None:
    from atomsieve.commands.options import count, device, number
    from atomsieve.descriptors import PRESETS

    p = sub.add_parser(
        "featurize",
        help="compute symmetry-function fingerprints of every atom and save them (.npz)",
        description="Compute Behler–Parrinello symmetry functions of every atom (PyTorch; CUDA when "
                    "available) and write values, elements, structure indices, descriptor parameters and "
                    "the fitted scaler to an .npz file (read it with atomsieve.descriptors.load_features). "
                    "Distances in Å.",
    )
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...)")
    add_label_keys(p)
    add_query(p)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="function set (default: li_single_element for one element, else li_two_element)")
    p.add_argument("--cutoff", type=number(0, 100, low_open=True), default=None,
                   help="cutoff radius, Å (default 6)")
    p.add_argument("--scaler", choices=["minmax", "standard", "none"], default="minmax",
                   help="per-element scaling (default minmax to [0, 1])")
    p.add_argument("--output", "-o", default=None,
                   help="output file (default features.npz; with --store, only the store unless given)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--float32", action="store_true", help="compute in single precision")
    p.add_argument("--threads", type=count(1, 1024), default=None,
                   help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)")
    p.add_argument("--cache", action="store_true",
                   help="reuse/store results in the feature cache "
                        "($ATOMSIEVE_CACHE_DIR or ~/.cache/atomsieve)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    add_stream_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import time
    from pathlib import Path

    import torch

    from atomsieve.descriptors import preset, save_features
    from atomsieve.progress import progress_bar

    out = Path(args.output or "features.npz")
    if args.output is None and args.store is not None:
        out = None  # the store is the result
    elif out.suffix != ".npz":
        raise DataError(f"--output {out}: features are written as .npz; use a name ending in .npz")
    if out is not None:  # fail before the work, not after
        check_output(out, args.overwrite)
    if args.path is not None and should_stream(args, args.path) and refuse_in_stream(
            args, args.path, **{f"--scaler {args.scaler}": args.scaler != "minmax", "--float32": args.float32,
                                "--query": getattr(args, "query", None), "--cache": args.cache}):
        return _run_streamed(args, out)
    ds = load_dataset(args)
    sf = preset(args.preset, ds.elements, r_cut=args.cutoff)
    start = time.perf_counter()
    with progress_bar("featurize", enabled=args.progress) as bar:
        feats = sf.compute(ds, scaler=args.scaler, device=args.device,
                           dtype=torch.float32 if args.float32 else torch.float64,
                           progress=bar, cache=True if args.cache else None, num_threads=args.threads)
    seconds = time.perf_counter() - start
    save_features(feats, out, overwrite=args.overwrite, extra={"structure_hash": ds.structure_hash()})
    print(f"{ds.n_atoms} atoms x {feats.n_features} features ({sf.preset}, r_cut {sf.r_cut:g} Å, "
          f"scaler {args.scaler}) in {seconds:.2f} s -> {out}")
    return 0


def _run_streamed(args, out) -> int:
    """Featurise ``args.path`` in partitions into a feature store (``--store DIR`` or a temporary one),
    on Dask workers with ``--scheduler``; write the .npz from the store when asked."""
    import time

    import numpy as np

    from atomsieve.commands.streamed import descriptor_for, feature_store
    from atomsieve.data.stream import scan_elements
    from atomsieve.descriptors import AtomicFeatures, save_features

    sf = descriptor_for(args, scan_elements(args.path))
    start = time.perf_counter()
    with feature_store(args, args.path, sf, label="featurize") as store:
        seconds = time.perf_counter() - start
        where = [] if args.store is None else [str(args.store)]
        if out is not None:  # the whole matrix: n_atoms x n_features x 8 bytes in memory
            values = np.empty((store.n_atoms, store.n_features), dtype=np.float64)
            species, structure = (np.empty(store.n_atoms, dtype=np.int64) for _ in range(2))
            row = 0
            for chunk in store.chunks():
                values[row:row + chunk.n_atoms] = chunk.values
                species[row:row + chunk.n_atoms] = chunk.species
                structure[row:row + chunk.n_atoms] = chunk.structure
                row += chunk.n_atoms
            feats = AtomicFeatures(values=values, species=species, structure=structure, params=sf.params,
                                   scaler=store.scaler, feature_names=sf.feature_names,
                                   n_structures=store.n_structures)
            save_features(feats, out, overwrite=args.overwrite,
                          extra={"structure_hash": _streamed_structure_hash(args)})
            where.append(str(out))
        print(f"{store.n_atoms} atoms x {store.n_features} features ({sf.preset}, r_cut {sf.r_cut:g} Å, "
              f"scaler minmax) in {seconds:.2f} s, streamed in partitions of {args.partition} structures"
              f"{'' if args.scheduler is None else ' on Dask ' + args.scheduler} -> {' and '.join(where)}")
    return 0


def _streamed_structure_hash(args) -> str:
    """``Dataset.structure_hash`` of ``args.path``, read once more in partitions, so that the .npz is
    matched to its dataset by content as the in-memory path's is."""
    from atomsieve.data.dataset import structures_sha256
    from atomsieve.data.stream import iter_partitions

    parts = iter_partitions(args.path, args.partition, energy_key=args.energy_key, forces_key=args.forces_key)
    return structures_sha256(atoms for part in parts for atoms in part.atoms).hexdigest()
