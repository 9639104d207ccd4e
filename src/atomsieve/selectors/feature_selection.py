"""Choosing which symmetry functions to keep: CUR and force correlation.

Both return the chosen columns in selection order and the relative norm deviation
‖X − C C⁺X‖_F / ‖X‖_F of the per-atom fingerprint matrix X restricted to them (how much of
X the chosen functions cannot express), so the two can be compared.

Force correlation works on the fingerprints' force features: for a model that is linear
in the fingerprints, E = Σ_i Σ_j w_j G_ij, the force is F_aα = Σ_j w_j D_aα,j with
D_aα,j = −Σ_i ∂G_ij/∂r_aα. It keeps the function whose D column has the highest absolute
(Pearson) correlation with the force components, orthogonalises the other columns (and the
forces) against it, and repeats. A column's overall scale does not change its correlation,
so D may come from scaled or unscaled fingerprints alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors._greedy import GreedyScore, greedy_select
from atomsieve.selectors.base import resolve_count
from atomsieve.selectors.cur import cur_order, relative_norm_deviation
from atomsieve.selectors.structure_points import check_finite, one_blas_thread


class FeatureSelector:
    """Base of the feature (column) selectors; ``fit`` sets the trailing-underscore results.

    Attributes
    ----------
    selected_ : ndarray of int
        Chosen feature columns, in selection order.
    feature_names_ : list of str
        Their names (``feature_names`` of the features, or ``"f<j>"``).
    relative_norm_deviation_ : float
        ‖X − C C⁺X‖_F / ‖X‖_F of the per-atom fingerprints X for the chosen columns C.
    seconds_ : float
        Wall time of the selection.

    Every feature selector's constructor takes ``progress`` and ``should_stop`` as the structure
    selectors do (see :class:`~atomsieve.selectors.base.Selector`).
    """

    name = "feature-selector"

    def _choose(self, features: AtomicFeatures, **kwargs) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, features: AtomicFeatures, **kwargs) -> FeatureSelector:
        """Choose columns of ``features.values``; returns ``self``."""
        if not isinstance(features, AtomicFeatures):
            raise ParameterError(
                f"{type(self).__name__}.fit needs AtomicFeatures; got {type(features).__name__}"
            )
        if features.n_atoms == 0:
            raise ParameterError(f"{type(self).__name__}.fit: the features hold no atoms")
        check_finite(features.values, "features.values")
        start = time.perf_counter()
        selected = np.asarray(self._choose(features, **kwargs), dtype=np.int64)
        self.seconds_ = time.perf_counter() - start
        self.selected_ = selected
        names = features.feature_names or [f"f{j}" for j in range(features.n_features)]
        self.feature_names_ = [names[j] for j in selected]
        self.relative_norm_deviation_ = relative_norm_deviation(features.values, columns=selected)
        return self

    def transform(self, features: AtomicFeatures) -> AtomicFeatures:
        """The features restricted to the chosen columns (in selection order)."""
        if not hasattr(self, "selected_"):
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit first")
        names = features.feature_names or [f"f{j}" for j in range(features.n_features)]
        params = dict(features.params or {})
        params["selected_features"] = self.selected_.tolist()
        return AtomicFeatures(
            values=features.values[:, self.selected_], species=features.species,
            structure=features.structure, params=params, scaler=features.scaler,
            feature_names=[names[j] for j in self.selected_], n_structures=features.n_structures,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"


class FeatureCUR(FeatureSelector):
    """CUR selection of fingerprint columns (see :func:`atomsieve.selectors.cur.cur_order`).

    Parameters
    ----------
    n_to_select : int, float in (0, 1] or None
        Functions to keep; None keeps choosing until ``max_deviation`` is reached.
    k : int
        Singular vectors in the importance score.
    max_deviation : float, optional
        Stopping score on the relative norm deviation.

    Attributes
    ----------
    deviations_ : ndarray
        Relative norm deviation after each pick.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> X = np.array([[1.0, 2.0, 0.1], [2.0, 4.1, 0.0], [0.5, 1.0, 3.0]])
    >>> sel = FeatureCUR(2).fit(AtomicFeatures(values=X, species=[1, 1, 1], structure=[0, 1, 2]))
    >>> sel.selected_.tolist(), round(sel.relative_norm_deviation_, 3)
    ([1, 2], 0.004)
    """

    name = "cur"

    def __init__(
        self, n_to_select: int | float | None = None, *, k: int = 1, max_deviation: float | None = None,
        progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.k = k
        self.max_deviation = max_deviation
        self.progress = progress
        self.should_stop = should_stop

    def _choose(self, features: AtomicFeatures) -> np.ndarray:
        order, self.deviations_ = cur_order(
            features.values, self.n_to_select, axis=1, k=self.k, max_deviation=self.max_deviation,
            what="features", progress=self.progress, should_stop=self.should_stop,
        )
        return order


def force_features_from_jacobian(jacobian, scaler=None) -> np.ndarray:
    """D_aα,j = −Σ_i ∂G_ij/∂r_aα from a :class:`atomsieve.descriptors.jacobian.DescriptorJacobian`.

    Parameters
    ----------
    jacobian : DescriptorJacobian
        From ``SymmetryFunctions.jacobian(dataset)`` (unscaled fingerprints).
    scaler : fitted per-element affine scaler, optional
        The scaler of the features the selection is for (e.g. ``features.scaler``); the
        derivatives of atom i are multiplied by its element's scale factors.

    Returns
    -------
    ndarray of shape (n_atoms, 3, n_features)
    """
    import torch

    grad = jacobian.grad  # (M, F, 3): dG_center / dr_neighbor
    n_atoms, n_features = jacobian.values.shape
    if scaler is not None:
        species = jacobian.species.numpy()
        ones, zeros = np.ones((n_atoms, n_features)), np.zeros((n_atoms, n_features))
        factor = np.asarray(scaler.transform(ones, species)) - np.asarray(scaler.transform(zeros, species))
        grad = grad * torch.as_tensor(factor, dtype=grad.dtype)[jacobian.center][:, :, None]
    out = torch.zeros(n_atoms, n_features, 3, dtype=grad.dtype)
    out.index_add_(0, jacobian.neighbor, grad)
    return -out.permute(0, 2, 1).numpy()


class _ForceCorrelationScore(GreedyScore):
    """Force correlation's score (|corr| of each unspent column with the unexplained forces) and
    update (both orthogonalised against the pick)."""

    label = "force correlation"

    def __init__(self, residual: np.ndarray, target: np.ndarray, tolerance: float):
        self.residual, self.target, self.tolerance = residual, target, tolerance
        self.column_scale = np.linalg.norm(residual, axis=0)
        self.picked = np.zeros(residual.shape[1], dtype=bool)

    def best(self) -> tuple[int, float]:
        residual, target, picked = self.residual, self.target, self.picked
        self.norms = norms = np.linalg.norm(residual, axis=0)
        usable = (norms > self.tolerance * np.maximum(self.column_scale, 1e-300)) & ~picked
        corr = np.zeros(residual.shape[1])
        target_norm = float(np.linalg.norm(target))
        if target_norm > 0:
            corr[usable] = np.abs(target @ residual[:, usable]) / (norms[usable] * target_norm)
        corr[picked] = -np.inf
        j = int(np.argmax(corr))
        return j, float(corr[j])

    def update(self, j: int, step: int) -> None:
        self.picked[j] = True
        if self.norms[j] > 0:
            q = self.residual[:, j] / self.norms[j]
            self.residual -= np.outer(q, q @ self.residual)
            self.target = self.target - q * (q @ self.target)


@one_blas_thread
def force_correlation_order(
    force_features: np.ndarray,
    forces: np.ndarray,
    n_to_select: int,
    *,
    tolerance: float = 1e-8,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Greedy force-correlation selection of columns.

    Parameters
    ----------
    force_features : array of shape (n_atoms, 3, n_features) or (n_rows, n_features)
        D_aα,j = −Σ_i ∂G_ij/∂r_aα (eV/Å per unit of fingerprint in a linear model).
    forces : array of shape (n_atoms, 3) or (n_rows,)
        Reference forces in eV/Å.
    n_to_select : int
        Columns to choose.
    tolerance : float
        A column whose residual is below this fraction of its own norm is spent (a copy of
        earlier picks); it is chosen only when nothing else is left.

    Returns
    -------
    order : ndarray of int
        Chosen columns in order.
    correlations : ndarray
        |corr| of each pick with the forces not yet explained by the earlier picks.
    force_residual : float
        ‖F − D_C w‖ / ‖F‖ of the least-squares fit of the (centred) forces on the chosen columns.

    Examples
    --------
    >>> D = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> order, corr, residual = force_correlation_order(D, D[:, 1] * 2.0, 2)
    >>> int(order[0]), round(float(corr[0]), 3)
    (1, 1.0)
    """
    D = check_finite(force_features, "force_features")
    D = D.reshape(-1, D.shape[-1]) if D.ndim == 3 else D
    f = check_finite(forces, "forces").reshape(-1)
    if D.ndim != 2 or len(D) != len(f):
        raise ParameterError(
            f"force_features has {D.shape[0]} rows but forces has {len(f)} components; give "
            "force_features of shape (n_atoms, 3, n_features) and forces of shape (n_atoms, 3)"
        )
    residual = D - D.mean(axis=0)
    target = f - f.mean()
    total = float(np.linalg.norm(target))
    if total == 0.0:
        raise ParameterError("forces are all equal; force correlation has nothing to correlate with")
    score = _ForceCorrelationScore(residual, target, tolerance)
    run = greedy_select(score, n_to_select, progress=progress, should_stop=should_stop)
    correlations = np.maximum(run.scores, 0.0)
    return run.order, correlations, float(np.linalg.norm(score.target)) / total


class ForceCorrelation(FeatureSelector):
    """Keep the fingerprint functions whose force features correlate best with the forces.

    ``fit(features, force_features=D, forces=F)``: D of shape (n_atoms, 3, n_features),
    D_aα,j = −Σ_i ∂G_ij/∂r_aα, and F (eV/Å) of shape (n_atoms, 3), atoms in the order of
    the structures (see :func:`force_correlation_order`).

    Attributes
    ----------
    correlations_ : ndarray
        |corr| of each pick with the part of the forces the earlier picks leave.
    force_residual_ : float
        Relative residual of the least-squares fit of the forces on the chosen columns.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> rng = np.random.default_rng(0)
    >>> f = AtomicFeatures(values=rng.random((4, 3)), species=[1] * 4, structure=[0, 0, 1, 1])
    >>> D = rng.normal(size=(4, 3, 3))
    >>> ForceCorrelation(1).fit(f, force_features=D, forces=2.0 * D[:, :, 2]).selected_.tolist()
    [2]
    """

    name = "fcorr"

    def __init__(self, n_to_select: int | float, *, progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] | None = None):
        self.n_to_select = n_to_select
        self.progress = progress
        self.should_stop = should_stop

    def _choose(self, features: AtomicFeatures, force_features=None, forces=None) -> np.ndarray:
        if force_features is None or forces is None:
            raise ParameterError(
                "ForceCorrelation.fit needs force_features= (n_atoms, 3, n_features: minus the summed "
                "fingerprint derivatives, e.g. from SymmetryFunctions.jacobian) and forces= "
                "(n_atoms, 3, eV/Å)"
            )
        D = np.asarray(force_features, dtype=np.float64)
        if D.shape[-1] != features.n_features:
            raise ParameterError(
                f"force_features has {D.shape[-1]} columns but the features have {features.n_features}"
            )
        count = resolve_count(self.n_to_select, features.n_features, "features")
        order, self.correlations_, self.force_residual_ = force_correlation_order(
            D, forces, count, progress=self.progress, should_stop=self.should_stop
        )
        return order
