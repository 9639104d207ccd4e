"""LinearModel's solve: collinear compositions, conditioning, agreement with a joint least squares."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from atomsieve import Dataset
from atomsieve.builders.sampling import label
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.potentials import LinearModel, prepare
from atomsieve.potentials.linear import energy_rows, force_rows, solve_normal_equations
from atomsieve.potentials.loss import loss_weights


def alloy_descriptor() -> SymmetryFunctions:
    radial = [{"form": "g2", "eta": eta, "r_s": 0.0} for eta in (0.5, 2.0)]
    angular = [{"form": "g4", "eta": 0.05, "zeta": 1.0, "lambda": lam} for lam in (1.0, -1.0)]
    return SymmetryFunctions(["Cu", "Au"], 4.0, radial, angular)


def emt_alloy(n: int, seed: int, n_gold=None) -> Dataset:
    """Rattled, strained 16-atom Cu/Au fcc cells labelled by EMT; ``n_gold`` atoms of Au per cell
    (8 when omitted: a fixed 50/50 composition), or a list of counts per cell."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.8 * (1 + 0.02 * rng.standard_normal()), cubic=True).repeat((2, 2, 1))
        gold = 8 if n_gold is None else n_gold[k]
        symbols = np.array(["Cu"] * len(atoms))
        symbols[rng.permutation(len(atoms))[:gold]] = "Au"
        atoms.set_chemical_symbols(symbols.tolist())
        atoms.rattle(0.1, seed=int(rng.integers(1 << 30)))
        frames.append(label(atoms, EMT()))
    return Dataset(frames, energies=[a.get_potential_energy() for a in frames],
                   forces=np.concatenate([a.get_forces() for a in frames]))


def reference_fit(data, ridge: float, force_weight: float = 0.1, offsets: str = "per-element"):
    """The loss minimised by dense least squares on the stacked rows (minimum-norm solution).

    ``offsets="single"`` replaces the per-element offset columns by one column of atom counts.
    Returns (weights (n_el * n_f), offset columns' coefficients, energies, forces) of ``data``.
    """
    e_rows, f_rows = energy_rows(data), force_rows(data)
    p = len(data.elements) * data.n_features
    if offsets == "single":
        e_rows = np.concatenate([e_rows[:, :p], e_rows[:, p:].sum(1, keepdims=True)], axis=1)
        f_rows = f_rows[:, :, : p + 1]
    e_w, f_w = loss_weights(data, None, force_weight)
    x = np.vstack([e_rows * np.sqrt(e_w)[:, None],
                   (f_rows * np.sqrt(f_w)[:, None, None]).reshape(-1, e_rows.shape[1])])
    y = np.concatenate([data.energies * np.sqrt(e_w), (data.forces * np.sqrt(f_w)[:, None]).reshape(-1)])
    scale = float(np.mean(np.sum(x[:, :p] ** 2, axis=0)))
    penalty = np.zeros((p, x.shape[1]))
    penalty[np.arange(p), np.arange(p)] = np.sqrt((ridge + 1e-14) * scale)
    coef = np.linalg.lstsq(np.vstack([x, penalty]), np.r_[y, np.zeros(p)], rcond=1e-13)[0]
    return coef[:p], coef[p:], e_rows @ coef, f_rows @ coef


@pytest.fixture(scope="module")
def fixed_composition():
    data, _ = prepare(emt_alloy(10, seed=0), alloy_descriptor(), store_dtype=np.float64, cache=False)
    return data


@pytest.mark.parametrize("ridge", [1e-8, 0.0])
def test_fixed_composition_gives_finite_shared_offsets_and_the_single_offset_fit(fixed_composition, ridge):
    data = fixed_composition
    assert np.all(data.species_counts() == 8)  # the count columns are identical: collinear offsets
    model = LinearModel(ridge=ridge).fit(data)
    assert np.all(np.isfinite(model.weights_))
    # Only the sum of the two offsets is determined; the elements share it.
    assert model.offsets_[0] == pytest.approx(model.offsets_[1], abs=1e-9)
    per_atom = data.energies / data.atom_counts
    assert abs(model.offsets_[0]) < 10 * np.abs(per_atom).max() + 10.0
    energies, forces = model.predict(data)
    w, single, ref_energies, ref_forces = reference_fit(data, ridge, offsets="single")
    if ridge > 0:  # without a ridge the pair-symmetric Cu-Au / Au-Cu sums leave weights undetermined
        np.testing.assert_allclose(model.coef_.reshape(-1), w, rtol=1e-6, atol=1e-8)
        assert model.offsets_[0] == pytest.approx(single[0], rel=1e-6)
    scores = model.score(data)
    ref_rmse_f = np.sqrt(np.mean((ref_forces - data.forces) ** 2))
    assert scores["rmse_f"] == pytest.approx(ref_rmse_f, rel=1e-4)
    np.testing.assert_allclose(forces, ref_forces, atol=1e-3 * np.abs(data.forces).max())
    np.testing.assert_allclose(energies, ref_energies, atol=1e-6 * np.abs(data.energies).max())


def test_varied_composition_equals_the_joint_least_squares(fixed_composition):
    raw = emt_alloy(10, seed=1, n_gold=[2, 4, 5, 6, 8, 8, 10, 11, 12, 14])
    data, _ = prepare(raw, alloy_descriptor(), store_dtype=np.float64, cache=False)
    model = LinearModel().fit(data)
    w, offsets, energies, forces = reference_fit(data, 1e-8)
    np.testing.assert_allclose(model.coef_.reshape(-1), w, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.offsets_, offsets, rtol=1e-8)
    np.testing.assert_allclose(model.predict(data)[1], forces, atol=1e-8)
    assert model.solver_ == "cholesky" and np.isfinite(model.condition_number_)


def test_germanium_fit_is_unchanged():
    """One element: the eliminated-offset solve equals the joint solve it replaced."""
    from atomsieve.datasets import load_default
    from atomsieve.descriptors import preset

    data, _ = prepare(load_default("test").subset(range(10)), preset(None, ["Ge"], r_cut=3.0),
                      store_dtype=np.float64, cache=False)
    assert len(set(data.atom_counts.tolist())) > 1
    model = LinearModel().fit(data)
    w, offsets, _, forces = reference_fit(data, 1e-8)
    # The normal matrix's condition is ~1e10 here: weights agree to ~1e-7 of their size.
    np.testing.assert_allclose(model.coef_.reshape(-1), w, atol=1e-6 * np.abs(w).max())
    np.testing.assert_allclose(model.offsets_, offsets, rtol=1e-8)
    np.testing.assert_allclose(model.predict(data)[1], forces, atol=1e-8)
    assert model.score(data)["rmse_f"] == pytest.approx(np.sqrt(np.mean((forces - data.forces) ** 2)))


def test_duplicated_columns_do_not_blow_up(fixed_composition):
    """A duplicated fingerprint (exactly collinear weights) with no ridge: the truncated solve."""
    data = fixed_composition
    doubled = type(data)(features=np.repeat(data.features, 2, axis=1), species=data.species,
                         elements=data.elements, atom_counts=data.atom_counts,
                         summed_jacobian=np.repeat(data.element_summed_jacobian(), 2, axis=2),
                         energies=data.energies, forces=data.forces)
    single = LinearModel(ridge=0.0).fit(data)
    model = LinearModel(ridge=0.0).fit(doubled)
    assert model.solver_ == "eigh" and model.condition_number_ > 1e12
    assert np.all(np.isfinite(model.weights_))
    assert np.abs(model.coef_).max() < 1e3 * np.abs(single.coef_).max()
    # The two copies share the weight, and predictions are those of the single copy.
    np.testing.assert_allclose(model.coef_[:, 0::2], model.coef_[:, 1::2], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.predict(doubled)[1], single.predict(data)[1],
                               atol=1e-4 * np.abs(data.forces).max())


def test_solver_reports_conditioning():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 4))
    normal = a.T @ a
    x, cond, how = solve_normal_equations(normal, normal @ np.arange(4.0))
    np.testing.assert_allclose(x, np.arange(4.0), atol=1e-10)
    scaled = normal / np.sqrt(np.outer(np.diag(normal), np.diag(normal)))
    assert how == "cholesky" and np.linalg.cond(scaled, 1) == pytest.approx(cond, rel=0.5)
    # Badly scaled columns: the unit-diagonal scaling keeps the solve exact.
    d = np.array([1e-6, 1.0, 1e6, 1.0])
    x, _, how = solve_normal_equations(normal * np.outer(d, d), (normal @ np.arange(4.0)) * d)
    assert how == "cholesky"
    np.testing.assert_allclose(x * d, np.arange(4.0), atol=1e-9)
