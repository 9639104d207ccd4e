"""A fast linear potential: energy linear in the summed fingerprints, fitted in closed form.

``E = Σ_e w_e · Σ_{i of element e} G_i + Σ_e b_e n_e``: one weight vector and one energy offset
per element. Forces are linear in the same weights through the fingerprint Jacobian,
``F_j = −Σ_e w_e · Σ_{i of e} ∂G_i/∂r_j``, so energies and forces are fitted jointly by one ridge
regression (the loss of :mod:`atomsieve.potentials.loss` plus ``ridge`` · mean diagonal · |w|²;
offsets are not penalised). The energy rows of a prepared dataset are computed once and cached, the
force rows built from the summed Jacobian for the atoms a fit needs, and the whole set's force error
follows from cached Gram statistics (:func:`force_gram`), so repeated fits on subsets (learning
curves, the dashboard's live error) cost milliseconds and never hold every atom's rows.

How the fit is solved (exactly the minimiser of that loss, in a well-posed order):

1. **Offsets eliminated.** Forces do not depend on the offsets, and for fixed weights the best
   offsets are a weighted least-squares fit of the energy residuals on the element counts. So
   the energy rows and energies are projected (in the loss's weighted metric) onto the
   complement of the span of the count columns, and the weights are solved from the projected
   energy rows plus the force rows. When the counts have full column rank this is the same
   optimum as the joint solve; when they do not, it is still exact.
2. **Weights.** The normal matrix is scaled to unit diagonal (a preconditioner: the answer is
   the same, the arithmetic better conditioned), factorised by Cholesky, and its condition
   number estimated (LAPACK ``dpocon``, 1-norm). When the factorisation fails or the estimated
   condition number exceeds :data:`MAX_CONDITION`, a symmetric eigendecomposition gives the
   minimum-norm solution over the eigenvalues above ``max / MAX_CONDITION``.
3. **Offsets recovered.** ``b = μ + δ``: μ, one energy per atom common to every element, is the
   weighted least-squares fit of the energy residuals on the atom counts; δ, the per-element
   deviations, is the minimum-norm least-squares fit of what remains on the element counts
   (singular values below ``1e-10`` of the largest dropped). With varied compositions this is the
   unique solution. With a **fixed composition** (every structure 50 Na + 50 Cl, or Pd13H2) the
   counts are collinear and only ``Σ_e b_e n_e`` is determined by the data: then δ = 0 and every
   element gets the mean residual energy per atom μ, instead of the arbitrary (and, with
   round-off, huge) split a singular joint solve returns. Elements absent from the fitted
   structures get zero weights and the offset μ.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import torch

from atomsieve.errors import ParameterError
from atomsieve.potentials.loss import error_measures, loss_weights, scored_atoms
from atomsieve.potentials.prepared import PreparedData
from atomsieve.renamed import renamed_names

#: Largest condition number (of the unit-diagonal normal matrix) solved by Cholesky; above it
#: the weights come from a truncated eigendecomposition instead.
MAX_CONDITION = 1e12
#: Relative singular-value cut-off deciding which composition directions the data determine.
COUNT_RCOND = 1e-10
#: Atoms whose force rows are built at once in fits, predictions and the Gram statistics (64k atoms:
#: 63 MB of single-element rows of a 40-function descriptor), so no step holds every atom's rows.
BLOCK_ATOMS = 1 << 16


def energy_rows(data: PreparedData) -> np.ndarray:
    """Energy rows (n_structures, P) of the linear model, cached on ``data``.

    ``P = n_elements · (n_features + 1)``: per element the summed fingerprints, then the
    element counts (the offset columns).
    """
    if "linear_energy_rows" in data.cache:
        return data.cache["linear_energy_rows"]
    n_el, n_f = len(data.elements), data.n_features
    energy = torch.zeros((data.n_structures, n_el, n_f), dtype=torch.float64)
    flat = torch.as_tensor(data.structure_index * n_el + data.species)
    energy.view(-1, n_f).index_add_(0, flat, torch.as_tensor(data.features, dtype=torch.float64))
    rows = np.concatenate([energy.reshape(data.n_structures, n_el * n_f).numpy(), data.species_counts()],
                          axis=1)
    data.cache["linear_energy_rows"] = rows
    return rows


def force_rows(data: PreparedData, atoms=None) -> np.ndarray:
    """Force rows (n_atoms, 3, P) of the atoms at ``atoms`` (every atom when None):
    ``F_j = −Σ_e w_e · Σ_{i of e} ∂G_i/∂r_j``, zero in the offset columns.

    Built from the summed Jacobian when asked for, not cached: a large set's rows are read from
    its :class:`~atomsieve.potentials.prepared.JacobianFile` a selection or a block at a time.
    """
    summed = data.element_summed_jacobian(atoms)  # (n, n_el, n_f, 3)
    n, n_el, n_f = summed.shape[0], len(data.elements), data.n_features
    rows = np.zeros((n, 3, n_el * (n_f + 1)))
    rows[:, :, : n_el * n_f] = -summed.transpose(0, 3, 1, 2).reshape(n, 3, n_el * n_f)
    return rows


def force_gram(data: PreparedData) -> dict:
    """Sufficient statistics of the scored force rows ``A`` and labels ``f`` of ``data``:
    ``AᵀA``, ``Aᵀf``, ``fᵀf`` and the number of components, summed a block of atoms at a time
    and cached on ``data``. The squared force error of any weights ``w`` is then
    ``wᵀAᵀAw − 2wᵀAᵀf + fᵀf`` exactly: scoring a fit on the whole prediction set costs P² operations
    instead of reading every atom's Jacobian again."""
    if "linear_force_gram" in data.cache:
        return data.cache["linear_force_gram"]
    size = len(data.elements) * (data.n_features + 1)
    gram, cross, norm, count = np.zeros((size, size)), np.zeros(size), 0.0, 0
    scored = np.flatnonzero(scored_atoms(data))
    for a in range(0, len(scored), BLOCK_ATOMS):
        keep = scored[a:a + BLOCK_ATOMS]
        rows = force_rows(data, keep).reshape(-1, size)
        labels = data.forces[keep].reshape(-1)
        gram += rows.T @ rows
        cross += rows.T @ labels
        norm += float(labels @ labels)
        count += labels.size
    data.cache["linear_force_gram"] = out = {"gram": gram, "cross": cross, "norm": norm, "count": count}
    return out


class LinearModel:
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
        Ridge strength on the weights (not the offsets), relative to the mean diagonal of the
        normal matrix. The default 1e-8 only guards against round-off: it leaves the germanium
        fit unchanged; raise it (1e-4 to 1e-2) to regularise small or redundant training sets.

    Attributes
    ----------
    coef_ : ndarray (n_elements, n_features)
        Weight vector per element (eV per unit of scaled fingerprint).
    offsets_ : ndarray (n_elements,)
        Energy per atom of each element at zero fingerprint (eV). When the fitted compositions
        are collinear (fixed stoichiometry) only their count-weighted sum is determined; the
        elements then share the mean value (see the module notes).
    condition_number_ : float
        Condition number estimate of the unit-diagonal normal matrix the weights were solved from
        (ridge included); large values (> 1e8) mean some weight combinations are set by the ridge.
    solver_ : {"cholesky", "eigh"}
        How the weights were solved (``eigh``: ill-conditioned, minimum-norm truncated solution).
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
    >>> model = LinearModel(ridge=0.0).fit(d, structures=[0, 1])
    >>> bool(np.allclose(model.predict(d)[0], d.energies))
    True
    """

    def __init__(self, force_weight: float = 0.1, central_force_weight: float | None = None,
                 ridge: float = 1e-8):
        self.force_weight = force_weight
        self.central_force_weight = central_force_weight
        self.ridge = ridge

    def fit(self, data: PreparedData, structures=None, structure_weights=None,
            atom_force_weights=None, progress=None, should_stop=None) -> LinearModel:
        """Fit on ``data`` (or the structures at ``structures``, repeats allowed).

        ``structure_weights`` and ``atom_force_weights`` follow the order of the fitted
        structures and their atoms. ``progress`` and ``should_stop`` are accepted for the same
        signature as the network's ``fit``; one closed-form solve has nothing to report.
        """
        if self.ridge < 0:
            raise ParameterError(f"ridge must be non-negative; got {self.ridge}")
        e_rows = energy_rows(data)
        start = time.perf_counter()
        idx = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        if idx.size == 0:
            raise ParameterError("LinearModel.fit: no structures to fit")
        sub = _labels_view(data, idx)
        e_w, f_w = loss_weights(sub, structure_weights, self.force_weight, self.central_force_weight,
                                atom_force_weights)
        n_el, n_f = len(data.elements), data.n_features
        p = n_el * n_f
        # Energy part in the loss's metric: rows and targets times sqrt(weight).
        root_e = np.sqrt(e_w)
        x_e = e_rows[idx, :p] * root_e[:, None]
        y_e = (np.zeros(idx.size) if sub.energies is None else sub.energies) * root_e
        counts = e_rows[idx, p:] * root_e[:, None]
        basis = _range_basis(counts)
        x_proj = x_e - basis @ (basis.T @ x_e)
        y_proj = y_e - basis @ (basis.T @ y_e)
        keep = np.flatnonzero(f_w > 0)
        atoms, root_f = data.atoms_of(idx)[keep], np.sqrt(f_w[keep])
        # The force part of the normal equations, a block of atoms at a time (bounded memory).
        force_normal, rhs = np.zeros((p, p)), x_proj.T @ y_proj
        for a in range(0, len(atoms), BLOCK_ATOMS):
            part = slice(a, a + BLOCK_ATOMS)
            a_f = (force_rows(data, atoms[part])[:, :, :p] * root_f[part, None, None]).reshape(-1, p)
            force_normal += a_f.T @ a_f
            if sub.forces is not None:
                rhs += a_f.T @ (sub.forces[keep[part]] * root_f[part, None]).reshape(-1)
        normal = x_proj.T @ x_proj + force_normal
        # The ridge is relative to the mean diagonal of the unprojected normal matrix.
        diag = np.einsum("ij,ij->j", x_e, x_e) + np.diag(force_normal)
        scale = float(diag.mean()) if diag.size and diag.mean() > 0 else 1.0
        normal[np.arange(p), np.arange(p)] += self.ridge * scale + 1e-14 * scale
        # Elements absent from the fitted structures: pin their weights to zero.
        present = np.zeros(n_el, dtype=bool)
        present[np.unique(sub.species)] = True
        absent = np.flatnonzero(np.repeat(~present, n_f))
        normal[absent, :] = 0.0
        normal[:, absent] = 0.0
        normal[absent, absent] = 1.0
        rhs[absent] = 0.0
        w, self.condition_number_, self.solver_ = solve_normal_equations(normal, rhs)
        self.coef_ = w.reshape(n_el, n_f)
        self.offsets_ = _offsets(y_e - x_e @ w, counts)
        self.elements_ = list(data.elements)
        self.seconds_ = time.perf_counter() - start
        return self

    @property
    def weights_(self) -> np.ndarray:
        """All fitted parameters as one vector (per-element weights, then offsets)."""
        return np.concatenate([self.coef_.reshape(-1), self.offsets_])

    def _check(self, data: PreparedData) -> None:
        if not hasattr(self, "coef_"):
            raise ParameterError("LinearModel is not fitted; call fit first")
        if list(data.elements) != self.elements_ or data.n_features != self.coef_.shape[1]:
            raise ParameterError(
                f"data has elements {data.elements} and {data.n_features} features; the model was fitted "
                f"on {self.elements_} with {self.coef_.shape[1]}"
            )

    def predict(self, data: PreparedData, structures=None) -> tuple[np.ndarray, np.ndarray]:
        """Energies (eV) per structure and forces (eV/Å) per atom of ``data`` (or of ``structures``)."""
        self._check(data)
        w = self.weights_
        idx = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        atoms = np.arange(data.n_atoms) if structures is None else data.atoms_of(idx)
        forces = np.empty((len(atoms), 3))
        for a in range(0, len(atoms), BLOCK_ATOMS):  # a block of force rows at a time
            forces[a:a + BLOCK_ATOMS] = force_rows(data, atoms[a:a + BLOCK_ATOMS]) @ w
        return energy_rows(data)[idx] @ w, forces

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

    def rmse(self, data: PreparedData) -> dict[str, float]:
        """``rmse_e`` (eV/atom) and ``rmse_f`` (eV/Å) on the whole of ``data``, as :meth:`score` gives
        them, with the forces' from the cached :func:`force_gram` (no pass over the atoms)."""
        self._check(data)
        w = self.weights_
        out = error_measures(_labels_view(data, np.arange(data.n_structures), forces=False),
                             energy_rows(data) @ w, np.zeros((0, 3)))
        if data.forces is not None:
            g = force_gram(data)
            squared = float(w @ g["gram"] @ w - 2.0 * w @ g["cross"] + g["norm"])
            out["rmse_f"] = float(np.sqrt(max(squared, 0.0) / g["count"])) if g["count"] else np.nan
        return {"rmse_e": out["rmse_e"], "rmse_f": out["rmse_f"]}

    def get_config(self) -> dict:
        return {"force_weight": self.force_weight, "central_force_weight": self.central_force_weight,
                "ridge": self.ridge}


def solve_normal_equations(normal: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Solve the symmetric positive (semi-)definite system ``normal · x = rhs``.

    The matrix is scaled to unit diagonal first (``x = D z`` with ``D = diag(normal)^-1/2``),
    which leaves the solution unchanged and bounds round-off by the scaled matrix's condition.
    Cholesky is used when it succeeds and the condition number estimate (1-norm, LAPACK
    ``dpocon``) is at most :data:`MAX_CONDITION`; otherwise the minimum-norm solution over the
    eigenvalues above ``max / MAX_CONDITION`` of a symmetric eigendecomposition.

    Returns ``(x, condition_number, solver)`` with solver ``"cholesky"`` or ``"eigh"``.

    >>> x, cond, how = solve_normal_equations(np.array([[4.0, 2.0], [2.0, 3.0]]), np.array([2.0, 1.0]))
    >>> np.round(x, 6).tolist(), how
    ([0.5, 0.0], 'cholesky')
    >>> x, cond, how = solve_normal_equations(np.ones((2, 2)), np.array([2.0, 2.0]))  # singular
    >>> np.round(x, 6).tolist(), how
    ([1.0, 1.0], 'eigh')
    """
    d = np.sqrt(np.diag(normal).copy())
    d[~(d > 0)] = 1.0
    scaled = normal / d[:, None] / d[None, :]
    b = rhs / d
    if not np.all(np.isfinite(scaled)) or not np.all(np.isfinite(b)):
        raise ParameterError("LinearModel.fit: the design rows or labels hold NaN or infinite values")
    try:
        factor = scipy.linalg.cho_factor(scaled, lower=False, check_finite=False)
        rcond, info = scipy.linalg.lapack.dpocon(factor[0], float(np.abs(scaled).sum(axis=0).max()))
        condition = np.inf if info != 0 or rcond <= 0 else 1.0 / float(rcond)
        if condition <= MAX_CONDITION:
            return scipy.linalg.cho_solve(factor, b, check_finite=False) / d, condition, "cholesky"
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    values, vectors = np.linalg.eigh(scaled)
    top = float(values.max()) if values.size else 0.0
    kept = values > top / MAX_CONDITION if top > 0 else np.zeros(values.shape, dtype=bool)
    z = vectors[:, kept] @ ((vectors[:, kept].T @ b) / values[kept])
    condition = top / float(values.min()) if values.size and values.min() > 0 else np.inf
    return z / d, condition, "eigh"


def _range_basis(counts: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the weighted element-count columns."""
    if counts.size == 0:
        return np.zeros((counts.shape[0], 0))
    u, sv, _ = np.linalg.svd(counts, full_matrices=False)
    if not sv.size or sv[0] <= 0:
        return np.zeros((counts.shape[0], 0))
    return u[:, sv > COUNT_RCOND * sv[0]]


def _offsets(residual: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-element offsets ``μ + δ`` fitting the weighted energy residuals (see the module notes)."""
    n_el = counts.shape[1]
    total = counts.sum(axis=1)
    norm = float(total @ total)
    if norm <= 0:  # no weighted energies: nothing determines the offsets
        return np.zeros(n_el)
    mu = float(total @ residual) / norm
    u, sv, vt = np.linalg.svd(counts, full_matrices=False)
    kept = sv > COUNT_RCOND * sv[0]
    delta = vt[kept].T @ ((u[:, kept].T @ (residual - mu * total)) / sv[kept])
    return mu + delta


def _labels_view(data: PreparedData, idx: np.ndarray, forces: bool = True) -> PreparedData:
    """A light copy holding only counts, species and labels of the structures at ``idx`` (without
    the forces when ``forces`` is False)."""
    atoms = data.atoms_of(idx)
    empty = np.zeros(0, dtype=np.int64)
    return PreparedData(
        features=np.zeros((len(atoms), 0)), species=data.species[atoms], elements=data.elements,
        atom_counts=data.atom_counts[idx], pair_center=empty, pair_neighbour=empty,
        pair_values=np.zeros((0, 0, 3)),
        energies=None if data.energies is None else data.energies[idx],
        forces=None if data.forces is None or not forces else data.forces[atoms],
        central_atoms=None if data.central_atoms is None else data.central_atoms[idx],
    )


# LinearPotential: the old name of LinearModel, a model trained on prepared fingerprints (the bundle with
# a descriptor and scaler is potentials.Potential). Kept so old scripts and notebooks run.
__getattr__ = renamed_names(__name__, {"LinearPotential": LinearModel})
