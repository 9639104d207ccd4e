"""Finding energies and forces in structures read by ASE, whatever the file called them."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from atomsieve.errors import DataError

#: Tried in order after the calculator results when no key is named.
ENERGY_KEYS = ("REF_energy", "energy", "dft_energy")
FORCES_KEYS = ("REF_forces", "forces", "dft_force", "dft_forces", "force")


def _results(atoms: Atoms) -> dict:
    calc = atoms.calc
    return dict(getattr(calc, "results", {}) or {}) if calc is not None else {}


def _number(value) -> float | None:
    """``value`` as a float, or None when it is not one (a garbled file can leave text in a label)."""
    if value is None or np.ndim(value) != 0:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _energy(atoms: Atoms, key: str):
    if key in atoms.info and np.ndim(atoms.info[key]) == 0:
        return _number(atoms.info[key])
    return _number(_results(atoms).get(key))


def _forces(atoms: Atoms, key: str):
    value = atoms.arrays.get(key)
    if value is None:
        value = _results(atoms).get(key)
    if value is None:
        return None
    try:
        value = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return value if value.shape == (len(atoms), 3) else None


def _available(frames: list[Atoms], kind: str) -> list[str]:
    keys: set[str] = set()
    for atoms in frames[:50]:
        if kind == "energy":
            keys |= {k for k, v in atoms.info.items() if np.ndim(v) == 0}
            keys |= {k for k, v in _results(atoms).items() if np.ndim(v) == 0}
        else:
            keys |= {k for k, v in atoms.arrays.items() if np.shape(v) == (len(atoms), 3)}
            keys |= {k for k, v in _results(atoms).items() if np.shape(v) == (len(atoms), 3)}
    return sorted(keys - {"positions", "momenta"})


def _collect(frames, key, getter):
    values = [getter(a, key) for a in frames]
    missing = [i for i, v in enumerate(values) if v is None]
    return values, missing


def _raw(atoms: Atoms, key: str):
    """What ``key`` holds in ``atoms`` (info, arrays or calculator results), or None when absent."""
    for store in (atoms.info, atoms.arrays, _results(atoms)):
        if key in store:
            return store[key]
    return None


def _held(value) -> str:
    shape = np.shape(value)
    if isinstance(value, str):
        return f"text {value[:20]!r}"
    return "one number" if shape == () else f"an array of shape {shape}"


_PLURAL = {"energy": "energies", "forces": "forces"}


def _listed(indices: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (", …" if len(indices) > limit else "")


def find_labels(
    frames: list[Atoms], kind: str, key: str | None, path: str, notes: list[str] | None = None
) -> tuple[np.ndarray | None, str | None]:
    """Energies (n_structures,) or forces (n_atoms, 3) and the key they came from.

    A named key must exist, with the right shape, in every structure; without one, the calculator
    results come first, then the common keys, and the first key present in every structure wins.
    No labels at all gives ``(None, None)``. When a key is present in only some structures the
    labels are not used and a line saying so, with the counts, is appended to ``notes``.
    """
    getter = _energy if kind == "energy" else _forces
    candidates = (key,) if key else (("energy",) if kind == "energy" else ("forces",)) + (
        ENERGY_KEYS if kind == "energy" else FORCES_KEYS
    )
    partial: tuple[str, list[int]] | None = None
    for name in dict.fromkeys(candidates):
        values, missing = _collect(frames, name, getter)
        if not missing:
            array = np.array(values) if kind == "energy" else np.concatenate(values)
            if not np.isfinite(array).all():
                bad = next(i for i, v in enumerate(values) if not np.isfinite(v).all())
                raise DataError(f"{path}: {kind} key {name!r} holds NaN or infinity in structure {bad}")
            return array, name
        if key:
            wrong = [i for i in missing if _raw(frames[i], key) is not None]
            if wrong:
                need = "one number per structure" if kind == "energy" else "one row of 3 numbers per atom"
                text = isinstance(_raw(frames[wrong[0]], key), str)
                what = "is not numeric" if text else "has the wrong shape"
                raise DataError(
                    f"{path}: {kind} key {key!r} {what}: structure {wrong[0]} "
                    f"({len(frames[wrong[0]])} atoms) holds {_held(_raw(frames[wrong[0]], key))} under it; "
                    f"{_PLURAL[kind]} need {need}"
                )
            available = _available(frames, kind) or ["none"]
            where = ("is absent" if len(missing) == len(frames) else
                     f"is missing in {len(missing)} of {len(frames)} structures ({_listed(missing)})")
            raise DataError(
                f"{path}: {kind} key {key!r} {where}; {kind} keys that exist: {', '.join(available)}"
            )
        if len(missing) < len(frames) and (partial is None or len(missing) < len(partial[1])):
            partial = (name, missing)
    if partial is not None and notes is not None:
        name, missing = partial
        notes.append(
            f"{path}: {kind} key {name!r} is present in {len(frames) - len(missing)} of {len(frames)} "
            f"structures (missing in structure {_listed(missing)}), so no {_PLURAL[kind]} are used; "
            "label every structure, or name the key to make this an error"
        )
    return None, None
