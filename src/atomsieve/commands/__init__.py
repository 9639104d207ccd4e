"""One module per CLI verb; see :mod:`atomsieve.cli`."""

from __future__ import annotations

import argparse


def add_label_keys(parser: argparse.ArgumentParser) -> None:
    """The --energy-key / --forces-key options every dataset-reading verb shares."""
    parser.add_argument("--energy-key", metavar="K", help="where the energies (eV) are stored")
    parser.add_argument("--forces-key", metavar="K", help="where the forces (eV/Å) are stored")


def load_dataset(args: argparse.Namespace):
    """Load ``args.path`` (or the default germanium set when it is None) with the key options."""
    from atomsieve.data import load
    from atomsieve.datasets import load_default

    if getattr(args, "path", None) is None:
        return load_default()
    return load(args.path, energy_key=args.energy_key, forces_key=args.forces_key)
