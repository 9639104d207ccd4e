"""Potentials: physics of the forces, the loss terms, ensembles, the ASE calculator, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from emt_data import emt_clusters

from atomsieve import Dataset
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.errors import CacheError, DataError, ParameterError
from atomsieve.potentials import (
    AtomsieveCalculator,
    BPNNModel,
    Ensemble,
    LinearModel,
    fit_potential,
    load_calculator,
    load_potential,
    prepare,
)
from atomsieve.potentials.ensemble import UNCERTAINTY_FACTOR
from atomsieve.potentials.loss import loss_weights


def small_descriptor() -> SymmetryFunctions:
    radial = [{"form": "g2", "eta": eta, "r_s": 0.0} for eta in (0.3, 1.0, 3.0)]
    angular = [{"form": "g4", "eta": 0.05, "zeta": z, "lambda": lam}
               for z in (1.0, 4.0) for lam in (1.0, -1.0)]
    return SymmetryFunctions(["Cu"], 4.0, radial, angular)


@pytest.fixture(scope="module")
def sf():
    return small_descriptor()


@pytest.fixture(scope="module")
def clusters():
    return emt_clusters(12, strain=0.03, rattle=0.08)


@pytest.fixture(scope="module")
def prepared(clusters, sf):
    return prepare(clusters, sf, pairs=True, store_dtype=np.float64, cache=False)


@pytest.fixture(scope="module")
def bpnn(prepared):
    data, _ = prepared
    return BPNNModel(hidden=(12,), max_epochs=60, batch_size=4, dtype="float64", device="cpu",
                         seed=3).fit(data)


def finite_difference_forces(atoms, calc, indices, h=1e-4):
    atoms = atoms.copy()
    atoms.calc = calc
    out = np.zeros((len(indices), 3))
    for row, a in enumerate(indices):
        for c in range(3):
            pos = atoms.positions.copy()
            pos[a, c] += h
            atoms.positions = pos
            up = atoms.get_potential_energy()
            pos[a, c] -= 2 * h
            atoms.positions = pos
            down = atoms.get_potential_energy()
            pos[a, c] += h
            atoms.positions = pos
            out[row, c] = -(up - down) / (2 * h)
    return out


def test_linear_fit_is_exact_on_labels_it_can_represent(prepared):
    data, _ = prepared
    from atomsieve.potentials.linear import energy_rows, force_rows

    rng = np.random.default_rng(1)
    w = rng.standard_normal(energy_rows(data).shape[1])
    data_exact = type(data)(features=data.features, species=data.species, elements=data.elements,
                            atom_counts=data.atom_counts, summed_jacobian=data.summed_jacobian,
                            energies=energy_rows(data) @ w, forces=force_rows(data) @ w)
    model = LinearModel(ridge=0.0).fit(data_exact)
    np.testing.assert_allclose(model.weights_, w, rtol=1e-6, atol=1e-6)
    scores = model.score(data_exact)
    assert scores["rmse_e"] < 1e-8 and scores["rmse_f"] < 1e-8


def test_linear_energies_are_sums_of_atomic_energies(prepared):
    data, _ = prepared
    model = LinearModel().fit(data)
    energies, _ = model.predict(data)
    per_structure = np.bincount(data.structure_index, weights=model.atomic_energies(data))
    np.testing.assert_allclose(energies, per_structure, rtol=1e-10)


def test_linear_fit_on_emt_data_beats_a_constant(prepared):
    data, _ = prepared
    scores = LinearModel().fit(data).score(data)
    assert scores["rmse_f"] < 0.5 * np.sqrt(np.mean(data.forces**2))


@pytest.mark.parametrize("kind", ["linear", "bpnn"])
def test_calculator_forces_match_finite_differences(kind, clusters, sf, prepared, bpnn):
    from atomsieve.potentials import Potential

    data, feats = prepared
    model = LinearModel().fit(data) if kind == "linear" else bpnn
    calc = AtomsieveCalculator(Potential(model, sf, feats.scaler))
    atoms = clusters.atoms[0].copy()
    atoms.calc = calc
    forces = atoms.get_forces()
    assert calc.results["energies"].shape == (len(atoms),)
    assert np.isclose(calc.results["energies"].sum(), atoms.get_potential_energy())
    indices = [0, 5, 12]  # the centre and two surface atoms of the icosahedron
    fd = finite_difference_forces(atoms, calc, indices)
    np.testing.assert_allclose(forces[indices], fd, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_bpnn_forces_equal_autograd_through_the_descriptor(prepared, sf, bpnn, clusters):
    data, feats = prepared
    atoms = clusters.atoms[2]
    species = sf.species_index(torch.as_tensor(atoms.numbers))[None]
    positions = torch.tensor(atoms.positions[None], dtype=torch.float64, requires_grad=True)
    raw = sf(species, positions)[0]
    lo = torch.as_tensor(feats.scaler.min_[0])
    span = torch.as_tensor(feats.scaler.max_[0] - feats.scaler.min_[0])
    scaled = torch.where(span > 0, (raw - lo) / torch.where(span > 0, span, 1.0), 0.0)
    energy = bpnn.network_.atomic_energies(scaled, torch.zeros(len(atoms), dtype=torch.long)).sum()
    (grad,) = torch.autograd.grad(energy, positions)
    energies, forces = bpnn.predict(data, structures=[2])
    np.testing.assert_allclose(energies[0], float(energy), rtol=1e-10)
    np.testing.assert_allclose(forces, -grad[0].numpy(), atol=1e-9)


def test_bpnn_training_lowers_the_loss_and_is_seeded(prepared, bpnn):
    data, _ = prepared
    history = [h["train_loss"] for h in bpnn.history_]
    assert history[-1] < 0.5 * history[0]
    again = BPNNModel(hidden=(12,), max_epochs=60, batch_size=4, dtype="float64", device="cpu",
                          seed=3).fit(data)
    np.testing.assert_array_equal(bpnn.predict(data)[1], again.predict(data)[1])


def test_bpnn_early_stopping_keeps_the_best_epoch(prepared):
    data, _ = prepared
    model = BPNNModel(hidden=(4,), max_epochs=400, patience=3, learning_rate=0.05, batch_size=4,
                          optimizer="adam", validation_fraction=0.1, dtype="float64", device="cpu").fit(data)
    assert len(model.history_) < 400
    losses = [h["validation_loss"] for h in model.history_]
    assert model.best_epoch_ == int(np.nanargmin(losses))


def test_central_atom_loss_ignores_the_rest_of_a_chunk(prepared):
    data, _ = prepared
    chunks = type(data)(features=data.features, species=data.species, elements=data.elements,
                        atom_counts=data.atom_counts, pair_center=data.pair_center,
                        pair_neighbour=data.pair_neighbour, pair_values=data.pair_values,
                        summed_jacobian=data.summed_jacobian, energies=data.energies, forces=data.forces,
                        central_atoms=np.where(np.arange(data.n_structures) % 2 == 0, 0, -1))
    e_w, f_w = loss_weights(chunks, force_weight=2.0, central_force_weight=5.0)
    assert np.all(e_w[::2] == 0) and np.all(e_w[1::2] > 0)
    first = slice(data.offsets[0], data.offsets[1])
    assert f_w[first][0] > 0 and np.all(f_w[first][1:] == 0)
    # Labels that the loss must not see: energies of chunks and forces on non-central chunk atoms.
    scrambled_forces = data.forces.copy()
    scrambled_energies = data.energies.copy()
    for s in range(0, data.n_structures, 2):
        scrambled_forces[data.offsets[s] + 1 : data.offsets[s + 1]] += 10.0
        scrambled_energies[s] += 100.0
    kwargs = dict(features=data.features, species=data.species, elements=data.elements,
                  atom_counts=data.atom_counts, pair_center=data.pair_center,
                  pair_neighbour=data.pair_neighbour,
                  pair_values=data.pair_values, central_atoms=chunks.central_atoms)
    scrambled = type(data)(**kwargs, energies=scrambled_energies, forces=scrambled_forces)
    clean = type(data)(**kwargs, energies=data.energies, forces=data.forces)
    settings = dict(hidden=(6,), max_epochs=8, batch_size=4, dtype="float64", device="cpu", seed=0)
    a = BPNNModel(**settings).fit(clean).predict(clean)[1]
    b = BPNNModel(**settings).fit(scrambled).predict(clean)[1]
    np.testing.assert_allclose(a, b, atol=1e-10)
    la = LinearModel().fit(clean).predict(clean)[1]
    lb = LinearModel().fit(scrambled).predict(clean)[1]
    np.testing.assert_allclose(la, lb, atol=1e-8)


def test_ensemble_uncertainty_follows_the_formula(prepared):
    data, _ = prepared
    ens = Ensemble(LinearModel(), n_members=5, seed=2).fit(data)
    out = ens.predict_uncertainty(data)
    energies, forces = ens.member_predictions(data)
    mean = forces.mean(0)
    expected = UNCERTAINTY_FACTOR * np.sqrt(((forces - mean) ** 2).sum(axis=(0, 2)) / 4)
    np.testing.assert_allclose(out["delta"], expected)
    np.testing.assert_allclose(out["forces"], mean)
    for s in range(data.n_structures):
        own = expected[data.offsets[s] : data.offsets[s + 1]]
        assert out["structure_uncertainty"][s] == pytest.approx(own.max())
    assert any(len(np.unique(sample)) < len(sample) for sample in ens.samples_)  # drawn with replacement
    assert out["delta"].max() > 0


def test_bpnn_ensemble_fits_and_reports_uncertainty(prepared):
    data, _ = prepared
    member = BPNNModel(hidden=(4,), max_epochs=3, batch_size=6, device="cpu")
    ens = Ensemble(member, n_members=2).fit(data)
    assert ens.predict_uncertainty(data)["delta"].shape == (data.n_atoms,)
    assert [m.seed for m in ens.members_] == [0, 1]


@pytest.mark.parametrize("kind", ["linear", "bpnn", "ensemble"])
def test_save_and_load_round_trip(kind, tmp_path, clusters, sf):
    model = {"linear": LinearModel(),
             "bpnn": BPNNModel(hidden=(5,), max_epochs=2, device="cpu"),
             "ensemble": Ensemble(LinearModel(), n_members=3)}[kind]
    pot = fit_potential(clusters.subset(range(6)), model, sf)
    path = pot.save(tmp_path / "model.pt")
    back = load_potential(path)
    e1, f1 = pot.predict(clusters.atoms[7])
    e2, f2 = back.predict(clusters.atoms[7])
    np.testing.assert_allclose(e1, e2, rtol=1e-6)
    np.testing.assert_allclose(f1, f2, atol=1e-6)
    atoms = clusters.atoms[7].copy()
    atoms.calc = load_calculator(path)
    assert atoms.get_potential_energy() == pytest.approx(float(e1[0]), rel=1e-6)
    if kind == "ensemble":
        delta = atoms.calc.get_property("force_uncertainty", atoms)
        assert delta.shape == (len(atoms),)
        assert atoms.calc.get_property("uncertainty", atoms) == pytest.approx(delta.max())
    with pytest.raises(DataError, match="already exists"):
        pot.save(path)


def test_loading_refuses_files_that_are_not_potentials(tmp_path):
    import pickle

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump(ParameterError("x"), fh)
    with pytest.raises(CacheError, match="not an atomsieve potential"):
        load_potential(evil)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CacheError, match="not an atomsieve potential"):
        load_potential(other)
    with pytest.raises(DataError, match="no such potential file"):
        load_potential(tmp_path / "absent.pt")


def test_clear_errors(prepared, sf):
    data, _ = prepared
    with pytest.raises(ParameterError, match="not fitted"):
        LinearModel().predict(data)
    with pytest.raises(ParameterError, match="pairs=True"):
        BPNNModel(max_epochs=1).fit(data.subset([0]).__class__(
            features=data.features, species=data.species, elements=data.elements,
            atom_counts=data.atom_counts,
            summed_jacobian=data.summed_jacobian, energies=data.energies))
    with pytest.raises(ParameterError, match="at least 2 members"):
        Ensemble(LinearModel(), n_members=1).fit(data)
    with pytest.raises(ParameterError, match="activation"):
        BPNNModel(activation="relu6").fit(data)
    with pytest.raises(ParameterError, match="lacks"):
        prepare(Dataset([bulk("Al")]), sf)


@pytest.mark.cuda
def test_bpnn_on_cuda_matches_cpu(prepared):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data, _ = prepared
    settings = dict(hidden=(8,), max_epochs=3, batch_size=4, dtype="float64", seed=0)
    cpu = BPNNModel(device="cpu", **settings).fit(data)
    gpu = BPNNModel(device="cuda", **settings).fit(data)
    np.testing.assert_allclose(cpu.predict(data)[1], gpu.predict(data)[1], atol=1e-8)


def test_zero_structure_weight_equals_leaving_the_structure_out(prepared):
    data, _ = prepared
    weights = np.ones(data.n_structures)
    weights[[1, 4]] = 0.0
    weighted = LinearModel().fit(data, structure_weights=weights)
    kept = np.flatnonzero(weights > 0)
    without = LinearModel().fit(data, structures=kept)
    np.testing.assert_allclose(weighted.weights_, without.weights_, rtol=1e-8, atol=1e-10)
    doubled = LinearModel().fit(data, structures=np.r_[kept, kept])
    np.testing.assert_allclose(doubled.weights_, without.weights_, rtol=1e-6, atol=1e-8)


def test_bpnn_prediction_in_small_batches_equals_one_batch(prepared, bpnn):
    data, _ = prepared
    whole = bpnn.predict_all(data)
    pieces = bpnn.predict_all(data, batch_atoms=20)
    for a, b in zip(whole, pieces):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    subset = bpnn.predict_all(data, structures=[3, 1], batch_atoms=1)
    np.testing.assert_allclose(subset[0], whole[0][[3, 1]], rtol=1e-12)


# -- the trainer: L-BFGS beside Adam, convergence rules, L2 (issue 19) ---------------------------------

def teacher_labelled(data, seed: int = 7):
    """``data`` relabelled by a random small network, so a zero loss is reachable."""
    teacher = BPNNModel(hidden=(4,), seed=seed, device="cpu")
    net = teacher.build_network(data.n_features, data.elements)
    with torch.no_grad():
        net.shift.fill_(-3.0)
        net.scale.fill_(0.5)
    energies, forces = teacher.predict(data)
    return type(data)(features=data.features, species=data.species, elements=data.elements,
                      atom_counts=data.atom_counts, pair_center=data.pair_center,
                      pair_neighbour=data.pair_neighbour, pair_values=data.pair_values,
                      energies=energies, forces=forces)


def test_lbfgs_reaches_a_small_loss_on_a_learnable_problem(prepared):
    data = teacher_labelled(prepared[0])
    model = BPNNModel(hidden=(6,), max_epochs=400, patience=400, energy_rmse_goal=None, l2=0.0,
                          force_rmse_goal=None, force_max_goal=None, device="cpu", seed=1).fit(data)
    assert model.network_.scale.dtype == torch.float64  # float64 is the CPU default
    losses = [h["train_loss"] for h in model.history_]
    assert losses[-1] < 1e-5 * losses[0]
    score = model.score(data)
    assert score["rmse_f"] < 1e-3 and score["rmse_e"] < 1e-4


def test_lbfgs_and_adam_agree_on_a_convex_problem(prepared):
    # No hidden layer: energies and forces are linear in the weights, so the loss (with L2) has one minimum.
    data = prepared[0].subset([0, 1, 2, 3])
    settings = dict(hidden=(), l2=1e-2, energy_rmse_goal=None, force_rmse_goal=None, force_max_goal=None,
                    device="cpu", seed=0)
    lbfgs = BPNNModel(max_epochs=200, patience=200, **settings).fit(data)
    adam = BPNNModel(optimizer="adam", learning_rate=0.1, batch_size=4, max_epochs=800, patience=800,
                         **settings).fit(data)
    assert abs(adam.best_loss_ - lbfgs.best_loss_) < 1e-4 * lbfgs.best_loss_
    np.testing.assert_allclose(adam.predict(data)[1], lbfgs.predict(data)[1], atol=0.01)
    np.testing.assert_allclose(adam.predict(data)[0], lbfgs.predict(data)[0], atol=0.005)


def test_convergence_rules_stop_training(prepared):
    data = teacher_labelled(prepared[0])
    goal = 0.02  # eV/Å force RMSE: reached after some iterations, long before the 400 allowed
    model = BPNNModel(hidden=(6,), max_epochs=400, patience=400, energy_rmse_goal=None,
                          force_rmse_goal=goal, force_max_goal=None, device="cpu", seed=1).fit(data)
    rmse = [h["rmse_f"] for h in model.history_]
    assert model.converged_ and model.stop_reason_ == "converged"
    assert 1 < len(rmse) < 400 and rmse[-1] <= goal < min(rmse[:-1])
    # the converged weights are the ones kept
    np.testing.assert_allclose(model.score(data)["rmse_f"], rmse[-1], rtol=1e-10)
    with pytest.raises(ParameterError, match="force_max_goal"):
        BPNNModel(force_max_goal=0.0).fit(data)
    with pytest.raises(ParameterError, match="optimizer"):
        BPNNModel(optimizer="sgd").fit(data)


def test_lbfgs_training_is_seeded(prepared):
    data = prepared[0]
    settings = dict(hidden=(6,), max_epochs=30, device="cpu")
    one, again, other = (BPNNModel(seed=s, **settings).fit(data) for s in (4, 4, 5))
    np.testing.assert_array_equal(one.predict(data)[1], again.predict(data)[1])
    assert not np.allclose(one.predict(data)[1], other.predict(data)[1])


def test_l2_shrinks_the_weights(prepared):
    data = prepared[0]
    norms = []
    for l2 in (0.0, 0.1):
        model = BPNNModel(hidden=(6,), max_epochs=60, l2=l2, device="cpu", seed=2).fit(data)
        norms.append(sum(float((p.detach() ** 2).sum()) for n, p in model.network_.named_parameters()
                         if n.endswith("weight")))
    assert norms[1] < 0.5 * norms[0]


def test_a_selected_gaussian_descriptor_feeds_the_network(clusters):
    from atomsieve.descriptors.presets import gaussian_g2g4, keep_functions
    from atomsieve.selectors.feature_selection import FeatureCUR

    full = gaussian_g2g4(["Cu"], r_cut=4.0)
    feats = full.compute(clusters, scaler="none", device="cpu")
    chosen = FeatureCUR(6).fit(feats).selected_
    small = keep_functions(full, chosen)
    np.testing.assert_allclose(small.compute(clusters, scaler="none", device="cpu").values,
                               feats.values[:, np.sort(chosen)], rtol=1e-12, atol=1e-12)
    pot = fit_potential(clusters, BPNNModel(hidden=(6,), max_epochs=20, device="cpu"), small)
    assert pot.model.network_.element_nets[0][0].in_features == 6
    with pytest.raises(ParameterError, match="columns"):
        keep_functions(full, [56])
