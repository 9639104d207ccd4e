"""One module per CLI verb; see :mod:`atomsieve.cli`.

What several verbs share lives here (reading the dataset, fingerprints, checking an output path)
and in :mod:`atomsieve.commands.options` (option types and the option groups of the selecting verbs).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_label_keys(parser: argparse.ArgumentParser) -> None:
    """The --energy-key / --forces-key options every dataset-reading verb shares."""
    parser.add_argument("--energy-key", metavar="K", help="where the energies (eV) are stored")
    parser.add_argument("--forces-key", metavar="K", help="where the forces (eV/Å) are stored")


def add_query(parser: argparse.ArgumentParser) -> None:
    """The --query option of the verbs that read a dataset: rows of an ASE database to use."""
    parser.add_argument(
        "--query", metavar="Q", default=None,
        help="for an ASE database (.db, .json): rows to read, in ASE's selection grammar, "
        "e.g. 'config_type=bulk,natoms<100' (as `ase db PATH Q` takes it)",
    )


def load_dataset(args: argparse.Namespace):
    """Load ``args.path`` (or the default germanium set when it is None) with the key and query options."""
    from atomsieve.data import load
    from atomsieve.datasets import load_default
    from atomsieve.errors import ParameterError

    query = getattr(args, "query", None)
    if getattr(args, "path", None) is None:
        if query:
            raise ParameterError("--query needs a PATH to an ASE database (.db or .json)")
        return load_default()
    return load(args.path, energy_key=args.energy_key, forces_key=args.forces_key, query=query)


def fingerprints(args, ds, bank=None):
    """Min-max-scaled symmetry functions of ``ds`` (or ``--features``); with a bank, its descriptor
    and scaler."""
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


def check_output(path: str, overwrite: bool, suffixes: tuple[str, ...] | None = None) -> Path:
    """Fail before the work when ``path`` cannot be written: a :class:`~atomsieve.errors.DataError`,
    as :func:`atomsieve.data.save` and :func:`atomsieve.data.atomic_path` raise for the same name."""
    from atomsieve.errors import DataError

    out = Path(path)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise DataError(f"{out}: use a name ending in {' or '.join(suffixes)}")
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise DataError(f"{out}: folder {out.parent} does not exist")
    from atomsieve.data.io import check_writable

    check_writable(out)
    return out
