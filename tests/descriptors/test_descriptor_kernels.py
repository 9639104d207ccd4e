"""Compiled CPU kernels (numba) against the torch path, which stays the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from atomsieve.descriptors import SymmetryFunctions, preset
from atomsieve.descriptors.compute import raw_features_cpu
from atomsieve.descriptors.kernels import cutoff
from atomsieve.descriptors.neighbors import NeighborList, neighbor_pairs
from atomsieve.descriptors.terms import KernelPlan, power_family
from atomsieve.errors import ParameterError


def torch_path(sf, frames, dtype=torch.float64):
    return sf.compute(frames, scaler="none", engine="torch", dtype=dtype).values


def kernel_path(sf, frames, **kw):
    return sf.compute(frames, scaler="none", engine="kernel", **kw).values


def assert_same(ours, ref, rel=1e-10):
    """Relative agreement; values below 1e-6 are compared absolutely (the cutoff function's own
    rounding near R_c is ~1e-16 absolute in both paths)."""
    assert ours.shape == ref.shape
    assert np.all(np.isfinite(ours))
    err = np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-6)
    assert float(err.max(initial=0.0)) <= rel


PRESETS = ["acsf_standard", "li_single_element", "li_two_element"]


@pytest.mark.parametrize("name", PRESETS)
def test_periodic_germanium(name, ge_frames):
    sf = preset(name, ["Ge"])
    ref = torch_path(sf, ge_frames)
    assert np.abs(ref).max() > 0
    assert_same(kernel_path(sf, ge_frames), ref)


@pytest.mark.parametrize("name", PRESETS)
def test_3bpa_molecules(name, bpa_frames):
    sf = preset(name, ["C", "H", "N", "O"])
    ref = torch_path(sf, bpa_frames)
    assert np.count_nonzero(ref[:, sf.n_species * len(sf.radial):]) > 0  # angular blocks are used
    assert_same(kernel_path(sf, bpa_frames), ref)


@pytest.mark.parametrize("name", PRESETS)
def test_lone_atom_close_pair_and_absent_element(name):
    lone = Atoms("O", positions=[[0, 0, 0]])
    close = Atoms("HO", positions=[[0, 0, 0], [0.1, 0, 0]])
    # Pd is one of the descriptor's species but occurs in no structure: its blocks stay zero.
    water = molecule("H2O")
    crystal = Atoms("H", cell=np.eye(3) * 2.0, pbc=True)
    sf = preset(name, ["H", "O", "Pd"])
    frames = [lone, close, water, crystal]
    ours = kernel_path(sf, frames)
    assert_same(ours, torch_path(sf, frames))
    assert not ours[0].any()
    names = sf.feature_names
    assert not ours[:, [k for k, n in enumerate(names) if "Pd" in n]].any()


def test_g5_non_integer_zeta_and_skewed_small_cell_with_mixed_periodicity():
    sf = SymmetryFunctions(["Si"], 7.0, [{"form": "g1"}, {"form": "g2", "eta": 0.5, "r_s": 2.0}],
                           [{"form": "g4", "eta": 0.02, "zeta": 1.5, "lambda": 1.0},
                            {"form": "g5", "eta": 0.03, "zeta": 2.0, "lambda": -1.0},
                            {"form": "g5", "eta": 0.07, "zeta": 3.0, "lambda": 1.0},
                            {"form": "li", "eta": 1.0, "zeta": 5.0, "lambda": 1.0, "theta_s": 0.7}])
    skewed = bulk("Si", "diamond", a=5.43)  # fcc primitive cell, ~3.8 Å vectors < 7 Å cutoff
    skewed.positions[1] += [0.05, -0.1, 0.07]
    rng = np.random.default_rng(3)
    slab = Atoms("Si5", positions=rng.uniform(0, 4.0, (5, 3)), cell=[[4.2, 0, 0], [1.0, 4.0, 0], [0, 0, 0]],
                 pbc=[True, True, False])
    frames = [skewed, slab]
    assert_same(kernel_path(sf, frames), torch_path(sf, frames))


def test_float32_torch_path_agrees_to_float32_precision(ge_frames):
    sf = preset("li_single_element", ["Ge"])
    ref32 = torch_path(sf, ge_frames, dtype=torch.float32)
    ours = kernel_path(sf, ge_frames, dtype=torch.float32)
    # float32 rounding of exp(−η(R − R_s)²) with large exponents: ~1e-5 relative on tiny values.
    np.testing.assert_allclose(ours, ref32, rtol=1e-4, atol=1e-6 * np.abs(ours).max())
    assert not np.array_equal(ours, ref32)  # the torch side really ran in float32


def test_threads_change_nothing_and_setting_is_restored(ge_frames):
    import numba

    sf = preset("acsf_standard", ["Ge"])
    before = numba.get_num_threads()
    one = raw_features_cpu(sf, ge_frames, num_threads=1)
    assert numba.get_num_threads() == before
    two = raw_features_cpu(sf, ge_frames, num_threads=2)
    np.testing.assert_array_equal(one, two)


def test_default_cpu_path_is_the_kernel(ge_frames, monkeypatch):
    from atomsieve.descriptors import kernels

    calls = []
    original = kernels.features_from_csr
    monkeypatch.setattr(kernels, "features_from_csr", lambda *a, **k: calls.append(1) or original(*a, **k))
    sf = preset("acsf_standard", ["Ge"])
    sf.compute(ge_frames[:1], device="cpu")
    assert calls


def test_neighbor_pairs_equal_the_torch_neighbor_list(ge_frames):
    rng = np.random.default_rng(0)
    frames = [ge_frames[0], bulk("Si", "diamond", a=5.43),
              Atoms("Pd4H3", positions=rng.uniform(0, 4.0, (7, 3)),
                    cell=[[4.2, 0, 0], [1.0, 4.0, 0], [0, 0, 20]], pbc=[True, True, False]),
              molecule("CH3CH2OH"), Atoms("H")]
    r_cut = 5.0
    counts = np.array([len(a) for a in frames])
    pos = np.concatenate([a.positions for a in frames])
    ours = neighbor_pairs(pos, np.array([a.cell.array for a in frames]), np.array([a.pbc for a in frames]),
                          counts, r_cut)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for m, at in enumerate(frames):
        n = len(at)
        nb = NeighborList(r_cut)(torch.zeros(1, n, dtype=torch.long), torch.tensor(at.positions)[None],
                                 torch.tensor(at.cell.array)[None], torch.tensor(at.pbc)[None])
        d_ref = (at.positions[nb.neighbor] - at.positions[nb.center] + nb.shift.numpy() @ at.cell.array)
        ref = sorted(zip(nb.center.tolist(), nb.neighbor.tolist(), *np.round(d_ref, 8).T.tolist()))
        got = []
        for i in range(n):
            for p in range(ours.starts[offsets[m] + i], ours.starts[offsets[m] + i + 1]):
                got.append((i, int(ours.neighbor[p] - offsets[m]), *np.round(ours.d[p], 8).tolist()))
        assert sorted(got) == ref


def test_ase_fallback_for_big_structures_gives_the_same_features(monkeypatch, ge_frames, bpa_frames):
    from atomsieve.descriptors import neighbors

    sf = preset("li_two_element", ["H", "C", "N", "O", "Ge"], r_cut=4.5)
    frames = [ge_frames[0], bpa_frames[0], bulk("Ge", "diamond", a=5.66)]
    dense = kernel_path(sf, frames)
    monkeypatch.setattr(neighbors, "DENSE_LIMIT", 0)
    np.testing.assert_allclose(kernel_path(sf, frames), dense, rtol=1e-12, atol=1e-14)


def test_groups_split_structures_without_changing_results(monkeypatch, ge_frames):
    from atomsieve.descriptors import compute

    sf = preset("acsf_standard", ["Ge"])
    whole = raw_features_cpu(sf, ge_frames)
    monkeypatch.setattr(compute, "CHUNK_ATOMS", 10)
    assert len(list(compute.structure_groups(np.array([len(a) for a in ge_frames])))) == len(ge_frames)
    np.testing.assert_array_equal(raw_features_cpu(sf, ge_frames), whole)


def test_cutoff_polynomial_matches_the_cosine_form():
    r = np.linspace(0.0, 6.5, 20001)
    ours = np.array([cutoff(x, 6.0) for x in r])
    ref = np.where(r <= 6.0, 0.5 * (np.cos(np.pi * r / 6.0) + 1.0), 0.0)
    assert np.abs(ours - ref).max() < 1e-15
    assert cutoff(6.0, 6.0) < 1e-30 and cutoff(0.0, 6.0) == 1.0


def test_power_family():
    eta0, bits, _ = power_family([0.005, 0.02, 0.05, 0.1])
    assert eta0 == 0.005
    for row, n in zip(bits, [1, 4, 10, 20]):
        assert sum(2**t for t in row if t >= 0) == n
    assert power_family([0.1, 0.25])[0] == -1.0  # 2.5 is not an integer multiple
    assert power_family([0.0])[0] == 0.0
    plan = KernelPlan(preset("li_single_element", ["Ge"]))
    assert plan.rad_eta0 == -1.0  # shifted Gaussians: one exponential per function


def test_unknown_element_is_an_error():
    sf = preset("acsf_standard", ["H"])
    with pytest.raises(ParameterError, match="Cu"):
        kernel_path(sf, [Atoms("Cu")])
    with pytest.raises(ParameterError, match="engine"):
        sf.compute([Atoms("H")], engine="fast")
    assert math.isfinite(kernel_path(sf, [Atoms("H")])[0, 0])


@pytest.mark.parametrize("name", PRESETS)
def test_jacobian_kernel_equals_torch_jacobian(name, ge_frames):
    species = ["Ge"] if name != "li_two_element" else ["C", "H", "O", "Ge"]
    sf = preset(name, species, r_cut=4.5)
    frames = [ge_frames[0], molecule("CH3CH2OH"), Atoms("Ge")] if name == "li_two_element" else ge_frames[:1]
    ours = sf.jacobian(frames)
    ref = sf.jacobian(frames, engine="torch")
    assert torch.equal(ours.center, ref.center) and torch.equal(ours.neighbor, ref.neighbor)
    assert_same(ours.values.numpy(), ref.values.numpy())
    assert_same(ours.grad.numpy(), ref.grad.numpy(), rel=1e-9)


def test_jacobian_kernel_matches_finite_differences():
    sf = SymmetryFunctions(["Si"], 4.0, [{"form": "g2", "eta": 0.5, "r_s": 2.0}],
                           [{"form": "g4", "eta": 0.02, "zeta": 2.0, "lambda": -1.0},
                            {"form": "g5", "eta": 0.03, "zeta": 1.5, "lambda": 1.0},
                            {"form": "li", "eta": 1.0, "zeta": 4.0, "lambda": 1.0, "theta_s": 0.7}])
    at = bulk("Si", "diamond", a=5.43, cubic=True)
    at.rattle(0.05, seed=1)
    jac = sf.jacobian(at).dense().numpy()  # (N, F, N, 3)
    h = 1e-5
    for j, c in [(0, 0), (3, 2), (5, 1)]:
        plus, minus = at.copy(), at.copy()
        plus.positions[j, c] += h
        minus.positions[j, c] -= h
        fd = (kernel_path(sf, plus) - kernel_path(sf, minus)) / (2 * h)
        np.testing.assert_allclose(jac[:, :, j, c], fd, rtol=1e-5, atol=1e-7)


def test_molecules_one_and_two_threads_bit_identical(bpa_frames):
    sf = preset("acsf_standard", ["C", "H", "N", "O"])
    np.testing.assert_array_equal(raw_features_cpu(sf, bpa_frames, num_threads=1),
                                  raw_features_cpu(sf, bpa_frames, num_threads=2))


def test_task_bounds_split_the_work_evenly_and_do_not_change_results(bpa_frames):
    from atomsieve.descriptors.kernel_threads import task_bounds
    from atomsieve.descriptors.kernels import features_from_csr, pair_features

    sf = preset("acsf_standard", ["C", "H", "N", "O"])
    counts = np.array([len(a) for a in bpa_frames])
    pairs = neighbor_pairs(np.concatenate([a.positions for a in bpa_frames]), np.zeros((len(counts), 3, 3)),
                           np.zeros((len(counts), 3), bool), counts, sf.r_cut)
    species = sf.species_index_of_z.numpy()[np.concatenate([a.numbers for a in bpa_frames])]
    plan = KernelPlan(sf)
    bounds = task_bounds(pairs.starts, 8)
    assert bounds[0] == 0 and bounds[-1] == len(species) and np.all(np.diff(bounds) >= 0)
    k = np.diff(pairs.starts).astype(float)
    work = np.add.reduceat(k * (k - 1) / 2 + 4 * k + 16, bounds[:-1])
    assert work.max() <= work.sum() / 8 + (k * (k - 1) / 2 + 4 * k + 16).max()  # within one centre of even
    ref = features_from_csr(plan, species, *pairs)
    for split in (np.array([0, len(species)]), np.array([0, 1, 2, len(species) // 2, len(species)]), bounds):
        out = np.zeros_like(ref)
        pair_features(species.astype(np.int64), *pairs, *plan.arrays(), split, 2, out)
        np.testing.assert_array_equal(out, ref)


def test_atom_order_does_not_change_the_features(bpa_frames):
    """Neighbours are sorted by species inside the kernel; any input order gives the same sums."""
    sf = preset("acsf_standard", ["C", "H", "N", "O"])
    mol = bpa_frames[0]
    perm = np.random.default_rng(1).permutation(len(mol))
    np.testing.assert_allclose(raw_features_cpu(sf, [mol[perm]]), raw_features_cpu(sf, [mol])[perm],
                               rtol=1e-12, atol=1e-14)


def test_features_overwrite_out_in_place_and_wrong_out_rejected(ge_frames):
    from atomsieve.descriptors.kernels import features_from_csr

    sf = preset("acsf_standard", ["Ge"])
    at = ge_frames[0]
    pairs = neighbor_pairs(at.positions, at.cell.array[None], at.pbc[None], np.array([len(at)]), sf.r_cut)
    species = np.zeros(len(at), dtype=np.int64)
    out = np.full((len(at), sf.n_features), np.nan)  # overwritten entirely
    assert features_from_csr(KernelPlan(sf), species, *pairs, out=out) is out
    np.testing.assert_array_equal(out, raw_features_cpu(sf, [at]))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        features_from_csr(KernelPlan(sf), species, *pairs, out=np.zeros((len(at), sf.n_features + 1)))
