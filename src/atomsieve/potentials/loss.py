"""The training loss shared by every model, and the error measures reported for them.

For structures s with N_s atoms, structure weights w_s, the force weight α and the central-atom
weight β, the loss is::

    L = Σ_s w_s (E_s/N_s − Ê_s/N_s)²  +  α Σ_s w_s/(3 N_s) Σ_{j∈s} m_j |F_j − F̂_j|²
        + β Σ_{chunks c} w_c |F_{centre(c)} − F̂_{centre(c)}|² / 3

divided by Σ_s w_s. ``m_j`` is an optional per-atom force mask or weight. A *chunk* is a
structure with a central atom (nearsighted force training, Zeng et al. 2022): only its central
atom's force enters the loss, never its energy or the forces on its other atoms.

Reported errors: ``rmse_e`` is the root mean square of (E − Ê)/N over structures (eV/atom),
``rmse_f`` the root mean square over force components of all atoms (eV/Å; for chunks, of the
central atom only).
"""

from __future__ import annotations

import numpy as np

from atomsieve.errors import ParameterError
from atomsieve.potentials.prepared import PreparedData


def loss_weights(
    data: PreparedData,
    structure_weights: np.ndarray | None = None,
    force_weight: float = 1.0,
    central_force_weight: float | None = None,
    atom_force_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-structure weights of (E − Ê)² and per-atom weights of |F − F̂|² in the loss above.

    Returns ``(energy_weights (n_structures,), force_weights (n_atoms,))``, normalised so that
    the structure weights sum to one. Missing energies or forces give zero weights.

    >>> import numpy as np
    >>> d = PreparedData(features=np.ones((3, 1)), species=np.zeros(3, int), elements=["Ge"],
    ...                  atom_counts=[1, 2], pair_center=np.arange(3), pair_neighbour=np.arange(3),
    ...                  pair_values=np.zeros((3, 1, 3)), energies=np.zeros(2), forces=np.zeros((3, 3)))
    >>> e, f = loss_weights(d)
    >>> e.tolist(), np.round(f, 4).tolist()
    ([0.5, 0.125], [0.1667, 0.0833, 0.0833])
    """
    n_s = data.n_structures
    w = np.ones(n_s) if structure_weights is None else np.asarray(structure_weights, dtype=np.float64)
    if w.shape != (n_s,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ParameterError(f"structure_weights must be {n_s} non-negative finite numbers")
    if w.sum() <= 0:
        raise ParameterError("structure_weights are all zero: nothing to fit")
    if force_weight < 0:
        raise ParameterError(f"force_weight must be non-negative; got {force_weight}")
    beta = force_weight if central_force_weight is None else float(central_force_weight)
    w = w / w.sum()
    counts = data.atom_counts.astype(np.float64)
    central = data.central_atoms if data.central_atoms is not None else np.full(n_s, -1)
    is_chunk = central >= 0
    energy_w = np.where(is_chunk, 0.0, w / counts**2)
    if data.energies is None:
        energy_w = np.zeros(n_s)
    per_atom = np.repeat(np.where(is_chunk, 0.0, force_weight * w / (3 * counts)), data.atom_counts)
    if atom_force_weights is not None:
        m = np.asarray(atom_force_weights, dtype=np.float64).reshape(-1)
        if m.shape != (data.n_atoms,) or np.any(m < 0):
            raise ParameterError(f"atom_force_weights must be {data.n_atoms} non-negative numbers")
        per_atom = per_atom * m
    chunks = np.flatnonzero(is_chunk)
    per_atom[data.offsets[chunks] + central[chunks]] = beta * w[chunks] / 3
    if data.forces is None:
        per_atom = np.zeros(data.n_atoms)
    return energy_w, per_atom


def scored_atoms(data: PreparedData) -> np.ndarray:
    """Which atoms' forces are scored (a boolean mask): every atom of an ordinary structure, only
    the central atom of a chunk."""
    if data.central_atoms is None:
        return np.ones(data.n_atoms, dtype=bool)
    ordinary = data.central_atoms < 0
    mask = np.repeat(ordinary, data.atom_counts)
    chunks = np.flatnonzero(~ordinary)
    mask[data.offsets[chunks] + data.central_atoms[chunks]] = True
    return mask


def error_measures(data: PreparedData, energies: np.ndarray, forces: np.ndarray) -> dict[str, float]:
    """``rmse_e`` (eV/atom), ``rmse_f`` (eV/Å), ``mae_e``, ``mae_f`` of predictions on ``data``.

    NaN where the reference labels are missing. Energies count for ordinary structures, forces
    for the atoms of :func:`scored_atoms`.
    """
    out = {"rmse_e": np.nan, "mae_e": np.nan, "rmse_f": np.nan, "mae_f": np.nan}
    central = data.central_atoms if data.central_atoms is not None else np.full(data.n_structures, -1)
    ordinary = central < 0
    if data.energies is not None and ordinary.any():
        de = ((np.asarray(energies) - data.energies) / data.atom_counts)[ordinary]
        out["rmse_e"], out["mae_e"] = float(np.sqrt(np.mean(de**2))), float(np.mean(np.abs(de)))
    if data.forces is not None and data.n_atoms:
        df = (np.asarray(forces) - data.forces)[scored_atoms(data)]
        if df.size:
            out["rmse_f"], out["mae_f"] = float(np.sqrt(np.mean(df**2))), float(np.mean(np.abs(df)))
    return out
