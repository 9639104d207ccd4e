"""Labels the way fitting codes read them: MACE's ``REF_`` keys and isolated-atom reference frames.

MACE, NequIP and ACE fitting scripts read energies from ``atoms.info["REF_energy"]``, forces from
``atoms.arrays["REF_forces"]`` and stress from ``atoms.info["REF_stress"]`` (the prefix is theirs to
choose; ``REF_`` is MACE's default), and the per-element reference energies ``E0`` from single-atom
frames marked ``config_type=IsolatedAtom``. Units stay ASE's: eV, eV/Å, eV/Å³.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers

from atomsieve.errors import ParameterError

#: Where a stress may be found in a structure read by ASE, tried in order after the calculator's.
STRESS_KEYS = ("REF_stress", "stress", "dft_stress")
#: The ``config_type`` MACE gives the frames it takes ``E0`` from.
ISOLATED_ATOM = "IsolatedAtom"
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_prefix(prefix: str) -> str:
    """``prefix`` when it makes valid extxyz/ASE-db keys (``REF_``), else :class:`ParameterError`."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ParameterError(
            f"label prefix {prefix!r}: use letters, digits and underscores, starting with a letter "
            "or underscore (MACE's is REF_)"
        )
    return prefix


def stress_of(atoms: Atoms) -> np.ndarray | None:
    """The stress of ``atoms`` (Voigt 6 or 3x3, eV/Å³) from its calculator or info, or None."""
    calc = atoms.calc
    results = dict(getattr(calc, "results", {}) or {}) if calc is not None else {}
    for value in [results.get("stress")] + [atoms.info.get(k) for k in STRESS_KEYS]:
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        if value.shape in ((6,), (3, 3), (9,)) and np.isfinite(value).all():
            return value.reshape(3, 3) if value.shape == (9,) else value
    return None


def prefixed_copy(atoms: Atoms, energy, forces, prefix: str, *, drop: tuple[str, ...] = ()) -> Atoms:
    """A copy of ``atoms`` with its labels under ``prefix`` and every other key kept.

    Energy (eV) goes to ``info[prefix + "energy"]``, forces (eV/Å) to ``arrays[prefix + "forces"]``,
    a stress (eV/Å³) found by :func:`stress_of` to ``info[prefix + "stress"]``. ``drop`` names the keys
    the labels were read from, which are removed so that a file holds each label once. No calculator
    is attached: ASE would write its results under the bare names.

    Examples
    --------
    >>> from ase import Atoms
    >>> a = prefixed_copy(Atoms("Ge2", positions=[[0, 0, 0], [0, 0, 2.4]], info={"config_type": "dimer"}),
    ...                   -8.5, np.zeros((2, 3)), "REF_")
    >>> a.info["REF_energy"], a.info["config_type"], a.arrays["REF_forces"].shape
    (-8.5, 'dimer', (2, 3))
    """
    check_prefix(prefix)
    stress = stress_of(atoms)
    copy = atoms.copy()  # drops the calculator, keeps info and arrays
    for key in {"energy", "stress", *drop, *STRESS_KEYS}:
        copy.info.pop(key, None)
    for key in {"forces", *drop}:
        if key in copy.arrays and key not in ("positions", "numbers"):
            del copy.arrays[key]
    if energy is not None:
        copy.info[f"{prefix}energy"] = float(energy)
    if forces is not None:
        copy.arrays[f"{prefix}forces"] = np.asarray(forces, dtype=np.float64).reshape(len(copy), 3)
    if stress is not None:
        copy.info[f"{prefix}stress"] = stress
    return copy


def isolated_atoms(energies: Mapping[str, float], prefix: str | None = "REF_") -> list[Atoms]:
    """One single-atom frame per element, ``config_type=IsolatedAtom``, with the given energy (eV).

    These are the frames MACE reads its per-element reference energies ``E0`` from
    (``--E0s`` left at its default takes them from frames with this ``config_type``). The atom sits
    at the origin of a non-periodic frame and its force is zero. With ``prefix`` None the energy and
    forces are attached as calculator results, as :func:`atomsieve.save` writes unprefixed labels.

    Examples
    --------
    >>> [(a.get_chemical_symbols(), a.info) for a in isolated_atoms({"Ge": -0.1234})]
    [(['Ge'], {'config_type': 'IsolatedAtom', 'REF_energy': -0.1234})]
    """
    frames = []
    for symbol, energy in energies.items():
        if symbol not in atomic_numbers:
            raise ParameterError(f"isolated-atom energy for {symbol!r}: not a chemical element")
        try:
            value = float(energy)
        except (TypeError, ValueError):
            raise ParameterError(f"isolated-atom energy for {symbol}: {energy!r} is not a number") from None
        if not np.isfinite(value):
            raise ParameterError(f"isolated-atom energy for {symbol}: {value} is not finite")
        atoms = Atoms(symbol, positions=[[0.0, 0.0, 0.0]], pbc=False, info={"config_type": ISOLATED_ATOM})
        if prefix is None:
            atoms.calc = SinglePointCalculator(atoms, energy=value, forces=np.zeros((1, 3)))
        else:
            atoms.info[f"{check_prefix(prefix)}energy"] = value
            atoms.arrays[f"{prefix}forces"] = np.zeros((1, 3))
        frames.append(atoms)
    return frames
