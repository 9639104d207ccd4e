"""Datasets that ship with atomsieve, loaded without network access.

The default is the germanium DFT set (PBE, VASP) of Zuo et al., J. Phys. Chem. A 124, 731
(2020), from the materialsvirtuallab/mlearn repository (BSD-3-Clause, (c) 2019 Materials
Virtual Lab): 228 training structures (14,072 atoms) and a 25-structure test split.

Candidate pools labelled by real calculators are built, not shipped: :func:`build` (re-exported from
:mod:`atomsieve.builders`) makes ``"pdh-cluster"``, ``"molten-nacl"`` and ``"one-element"`` pools.
"""

from __future__ import annotations

from pathlib import Path

from atomsieve.data import Dataset, load
from atomsieve.errors import DataError, ParameterError

_FILES = {"train": "ge_mlearn_train.extxyz", "test": "ge_mlearn_test.extxyz"}


def default_path(split: str = "train") -> Path:
    """Path of the embedded germanium file for ``split`` ("train" or "test")."""
    if split not in _FILES:
        raise ParameterError(f"unknown split {split!r}; use 'train' or 'test'")
    name = _FILES[split]
    for folder in (
        Path(__file__).parent / "assets",  # installed wheel
        Path(__file__).resolve().parents[2] / "assets",  # source checkout
    ):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"embedded dataset {name} is missing from this installation")


def load_default(split: str = "train") -> Dataset:
    """The germanium DFT dataset (energies in eV, forces in eV/Å).

    >>> ds = load_default("test")
    >>> len(ds), ds.n_atoms
    (25, 1568)
    """
    return load(default_path(split))


def __getattr__(name: str):
    # build / BUILDERS come from atomsieve.builders, imported on first use: it pulls in ASE's MD and
    # optimisers, which `import atomsieve` should not pay for.
    if name in ("build", "BUILDERS"):
        from atomsieve import builders

        return getattr(builders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
