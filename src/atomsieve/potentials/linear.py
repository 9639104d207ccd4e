"""A fast linear potential: energy linear in the summed fingerprints, fitted in closed form.

``E = Σ_e w_e · Σ_{i of element e} G_i + Σ_e b_e n_e``: one weight vector and one energy offset
per element. Forces are linear in the same weights through the fingerprint Jacobian,
``F_j = −Σ_e w_e · Σ_{i of e} ∂G_i/∂r_j``, so energies and forces are fitted jointly by one ridge
regression (the loss of :mod:`atomsieve.potentials.loss` plus ``ridge`` · mean diagonal · |w|²;
offsets are not penalised). The design rows of a prepared dataset are computed once and cached,
so repeated fits on subsets (learning curves) cost milliseconds.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import torch

from atomsieve.errors import ParameterError
from atomsieve.potentials.loss import error_measures, loss_weights
from atomsieve.potentials.prepared import PreparedData


def design_rows(data: PreparedData) -> tuple[np.ndarray, np.ndarray]:
    """Energy rows (n_structures, P) and force rows (n_atoms, 3, P) of the linear model.

    ``P = n_elements · (n_features + 1)``: per element the summed fingerprints, then the
    element counts (offset columns, zero in the force rows). Cached on ``data``.
    """
    if "linear_rows" in data.cache:
        return data.cache["linear_rows"]
    n_el, n_f = len(data.elements), data.n_features
    p = n_el * n_f
    energy = torch.zeros((data.n_structures, n_el, n_f), dtype=torch.float64)
    flat = torch.as_tensor(data.structure_index * n_el + data.species)
    energy.view(-1, n_f).index_add_(0, flat, torch.as_tensor(data.features, dtype=torch.float64))
    counts = data.species_counts()
    energy = np.concatenate([energy.reshape(data.n_structures, p).numpy(), counts], axis=1)
    # F_j = -Σ_e w_e · Σ_{i of e} dG_i/dr_j
    summed = data.element_summed_jacobian()  # (n_atoms, n_el, n_f, 3)
    force = np.zeros((data.n_atoms, 3, p + n_el))
    force[:, :, :p] = -summed.transpose(0, 3, 1, 2).reshape(data.n_atoms, 3, p)
    data.cache["linear_rows"] = (energy, force)
    return energy, force


class LinearPotential:
    """Ridge regression of energies and forces on summed fingerprints.

    Parameters
    ----------
    force_weight : float
        α in the loss: weight of force errors relative to per-atom energy errors (Å²). The
        default 0.1 balances the two on the germanium set (α = 1 trades 2× the energy error for
        4 % less force error there).
    central_force_weight : float, optional
        β, the weight of a chunk's central-atom force; α when omitted.
    ridge : float
        Ridge strength relative to the mean diagonal of the normal matrix.

    Attributes
    ----------
    coef_ : ndarray (n_elements, n_features)
        Weight vector per element (eV per unit of scaled fingerprint).
    offsets_ : ndarray (n_elements,)
        Energy per atom of each element at zero fingerprint (eV).
    elements_ : list of str
    seconds_ : float
        Fit time, design rows excluded when they were cached.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((6, 2))
    >>> d = PreparedData(features=x, species=np.zeros(6, int), elements=["Ge"], atom_counts=[3, 3],
    ...                  pair_center=np.arange(6), pair_neighbour=np.arange(6),
    ...                  pair_values=np.zeros((6, 2, 3)), energies=np.array([x[:3].sum(), x[3:].sum()]))
    >>> model = LinearPotential(ridge=0.0).fit(d, structures=[0, 1])
    >>> bool(np.allclose(model.predict(d)[0], d.energies))
    True
    """

    def __init__(self, force_weight: float = 0.1, central_force_weight: float | None = None,
                 ridge: float = 1e-8):
        self.force_weight = force_weight
        self.central_force_weight = central_force_weight
        self.ridge = ridge

    def fit(self, data: PreparedData, structures=None, structure_weights=None,
            atom_force_weights=None, progress=None, should_stop=None) -> LinearPotential:
        """Fit on ``data`` (or the structures at ``structures``, repeats allowed).

        ``structure_weights`` and ``atom_force_weights`` follow the order of the fitted
        structures and their atoms. ``progress`` and ``should_stop`` are accepted for the same
        signature as the network's ``fit``; one closed-form solve has nothing to report.
        """
        if self.ridge < 0:
            raise ParameterError(f"ridge must be non-negative; got {self.ridge}")
        energy_rows, force_rows = design_rows(data)
        start = time.perf_counter()
        idx = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        if idx.size == 0:
            raise ParameterError("LinearPotential.fit: no structures to fit")
        sub = _labels_view(data, idx)
        e_w, f_w = loss_weights(sub, structure_weights, self.force_weight, self.central_force_weight,
                                atom_force_weights)
        atoms = data.atoms_of(idx)
        a_e = energy_rows[idx]
        keep = f_w > 0
        a_f = force_rows[atoms[keep]] * np.sqrt(f_w[keep])[:, None, None]
        a_f = a_f.reshape(-1, a_e.shape[1])
        normal = (a_e * e_w[:, None]).T @ a_e + a_f.T @ a_f
        rhs = np.zeros(a_e.shape[1])
        if sub.energies is not None:
            rhs += (a_e * e_w[:, None]).T @ sub.energies
        if sub.forces is not None and keep.any():
            rhs += a_f.T @ (sub.forces[keep] * np.sqrt(f_w[keep])[:, None]).reshape(-1)
        n_el, n_f = len(data.elements), data.n_features
        p = n_el * n_f
        diag = np.diag(normal)[:p]
        scale = float(diag.mean()) if diag.size and diag.mean() > 0 else 1.0
        normal[np.arange(p), np.arange(p)] += self.ridge * scale + 1e-14 * scale
        # Elements absent from the fitted structures: pin their columns to zero.
        present = np.zeros(n_el, dtype=bool)
        present[np.unique(sub.species)] = True
        absent_cols = np.concatenate([np.arange(e * n_f, (e + 1) * n_f) for e in np.flatnonzero(~present)]
                                     + [p + np.flatnonzero(~present)]).astype(np.int64)
        normal[absent_cols, :] = 0.0
        normal[:, absent_cols] = 0.0
        normal[absent_cols, absent_cols] = 1.0
        rhs[absent_cols] = 0.0
        try:
            w = scipy.linalg.solve(normal, rhs, assume_a="sym")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            w = np.linalg.lstsq(normal, rhs, rcond=None)[0]
        self.coef_ = w[:p].reshape(n_el, n_f)
        self.offsets_ = w[p:]
        self.elements_ = list(data.elements)
        self.seconds_ = time.perf_counter() - start
        return self

    @property
    def weights_(self) -> np.ndarray:
        """All fitted parameters as one vector (per-element weights, then offsets)."""
        return np.concatenate([self.coef_.reshape(-1), self.offsets_])

    def _check(self, data: PreparedData) -> None:
        if not hasattr(self, "coef_"):
            raise ParameterError("LinearPotential is not fitted; call fit first")
        if list(data.elements) != self.elements_ or data.n_features != self.coef_.shape[1]:
            raise ParameterError(
                f"data has elements {data.elements} and {data.n_features} features; the model was fitted "
                f"on {self.elements_} with {self.coef_.shape[1]}"
            )

    def predict(self, data: PreparedData, structures=None) -> tuple[np.ndarray, np.ndarray]:
        """Energies (eV) per structure and forces (eV/Å) per atom of ``data`` (or of ``structures``)."""
        self._check(data)
        energy_rows, force_rows = design_rows(data)
        w = self.weights_
        if structures is None:
            return energy_rows @ w, force_rows @ w
        idx = np.asarray(structures, dtype=np.int64)
        return energy_rows[idx] @ w, force_rows[data.atoms_of(idx)] @ w

    def atomic_energies(self, data: PreparedData) -> np.ndarray:
        """Energy of each atom (eV), summing to the structure energies."""
        self._check(data)
        return self.energies_from_features(data.features, data.species)

    def energies_from_features(self, features: np.ndarray, species: np.ndarray) -> np.ndarray:
        """Atomic energies (eV) from scaled fingerprints and element indices (no derivatives needed)."""
        species = np.asarray(species, dtype=np.int64)
        return np.einsum("af,af->a", features, self.coef_[species]) + self.offsets_[species]

    def score(self, data: PreparedData, structures=None) -> dict[str, float]:
        """Error measures (eV/atom, eV/Å) on ``data`` or on the structures at ``structures``."""
        energies, forces = self.predict(data, structures)
        target = data if structures is None else _labels_view(data, np.asarray(structures, dtype=np.int64))
        return error_measures(target, energies, forces)

    def get_config(self) -> dict:
        return {"force_weight": self.force_weight, "central_force_weight": self.central_force_weight,
                "ridge": self.ridge}


def _labels_view(data: PreparedData, idx: np.ndarray) -> PreparedData:
    """A light copy holding only counts, species and labels of the structures at ``idx``."""
    atoms = data.atoms_of(idx)
    empty = np.zeros(0, dtype=np.int64)
    return PreparedData(
        features=np.zeros((len(atoms), 0)), species=data.species[atoms], elements=data.elements,
        atom_counts=data.atom_counts[idx], pair_center=empty, pair_neighbour=empty,
        pair_values=np.zeros((0, 0, 3)),
        energies=None if data.energies is None else data.energies[idx],
        forces=None if data.forces is None else data.forces[atoms],
        central_atoms=None if data.central_atoms is None else data.central_atoms[idx],
    )
