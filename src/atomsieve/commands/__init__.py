"""One module per CLI verb; see :mod:`atomsieve.cli`."""

from __future__ import annotations

import argparse


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
