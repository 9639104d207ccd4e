"""Symmetry functions: reference values (DScribe and a plain loop), invariances, edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from atomsieve.descriptors import SymmetryFunctions, preset
from atomsieve.descriptors.presets import ACSF_STANDARD_G2, ACSF_STANDARD_G4
from atomsieve.errors import ParameterError


def dscribe_acsf(species, r_cut, g2, g4, g5, periodic):
    from dscribe.descriptors import ACSF

    return ACSF(r_cut=r_cut, g2_params=g2, g4_params=g4, g5_params=g5, species=species, periodic=periodic)


def rel_err(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-8)))


G5 = [[0.01, 2.0, -1.0], [0.05, 1.0, 1.0]]


def test_matches_dscribe_on_periodic_germanium(ge_frames):
    sf = SymmetryFunctions.like_dscribe_acsf(["Ge"], 6.0, ACSF_STANDARD_G2, ACSF_STANDARD_G4, G5)
    ref = np.concatenate([dscribe_acsf(["Ge"], 6.0, ACSF_STANDARD_G2, ACSF_STANDARD_G4, G5, True).create(a)
                          for a in ge_frames])
    ours = sf.compute(ge_frames, scaler="none").values
    assert ours.shape == ref.shape == (sum(map(len, ge_frames)), 1 + 8 + 32 + 2)
    assert rel_err(ours, ref) <= 1e-6


def test_matches_dscribe_on_3bpa_molecules(bpa_frames):
    species = ["C", "H", "N", "O"]
    g2, g4 = ACSF_STANDARD_G2[::2], ACSF_STANDARD_G4[::5]
    sf = SymmetryFunctions.like_dscribe_acsf(species, 5.0, g2, g4, G5)
    ref = np.concatenate([dscribe_acsf(species, 5.0, g2, g4, G5, False).create(a) for a in bpa_frames])
    ours = sf.compute(bpa_frames, scaler="none").values
    assert ours.shape == ref.shape
    assert np.abs(ref).max() > 0
    assert rel_err(ours, ref) <= 1e-6


def test_matches_dscribe_for_cell_smaller_than_cutoff_and_skewed():
    # Primitive diamond cell (fcc lattice vectors, ~4 Å) with a 7 Å cutoff: many images.
    at = bulk("Si", "diamond", a=5.43)
    at.positions[1] += [0.05, -0.1, 0.07]
    g4 = [[0.02, 1.0, 1.0], [0.02, 2.0, -1.0]]
    sf = SymmetryFunctions.like_dscribe_acsf(["Si"], 7.0, [[0.5, 2.0]], g4)
    ref = dscribe_acsf(["Si"], 7.0, [[0.5, 2.0]], g4, None, True).create(at)
    assert rel_err(sf.compute(at, scaler="none").values, ref) <= 1e-6


def reference_features(sf: SymmetryFunctions, atoms: Atoms) -> np.ndarray:
    """The formulas of atomsieve.descriptors.terms, as plain loops over ASE's neighbour list."""
    rc = sf.r_cut
    i_idx, j_idx, D = neighbor_list("ijD", atoms, rc)
    sp = {z: k for k, z in enumerate(sf.species_numbers)}
    n_s = len(sp)
    pairs = {(a, b): k for k, (a, b) in enumerate((a, b) for a in range(n_s) for b in range(a + 1))}
    out = np.zeros((len(atoms), sf.n_features))

    def fc(r):
        return 0.5 * (np.cos(np.pi * r / rc) + 1) if r <= rc else 0.0

    n_r = len(sf.radial)
    for i in range(len(atoms)):
        sel = np.flatnonzero(i_idx == i)
        for p in sel:
            r = np.linalg.norm(D[p])
            e = sp[atoms.numbers[j_idx[p]]]
            for f, rec in enumerate(sf.radial):
                if rec["form"] == "g1":
                    v = fc(r)
                else:
                    eta = rec["eta"] / (rc**2 if rec["form"] == "li" else 1)
                    v = np.exp(-eta * (r - rec["r_s"]) ** 2) * fc(r)
                out[i, e * n_r + f] += v
        for p, q in itertools.combinations(sel, 2):
            dj, dk = D[p], D[q]
            rij, rik, rjk = np.linalg.norm(dj), np.linalg.norm(dk), np.linalg.norm(dk - dj)
            theta = np.arccos(np.clip(dj @ dk / (rij * rik), -1, 1))
            a, b = sp[atoms.numbers[j_idx[p]]], sp[atoms.numbers[j_idx[q]]]
            block = pairs[(max(a, b), min(a, b))]
            for f, rec in enumerate(sf.angular):
                z, lam, eta = rec["zeta"], rec["lambda"], rec["eta"]
                ang = (1 + lam * np.cos(theta - rec.get("theta_s", 0.0))) ** z
                if rec["form"] == "g5":
                    v = np.exp(-eta * (rij**2 + rik**2)) * fc(rij) * fc(rik)
                else:
                    e = eta / (rc**2 if rec["form"] == "li" else 1)
                    v = np.exp(-e * (rij**2 + rik**2 + rjk**2)) * fc(rij) * fc(rik) * fc(rjk)
                mult = 2.0 if rec["form"] == "li" else 1.0  # li sums over ordered pairs j != k
                out[i, n_s * n_r + block * len(sf.angular) + f] += mult * 2 ** (1 - z) * ang * v
    return out


@pytest.mark.parametrize("name", ["li_single_element", "li_two_element"])
def test_li_presets_match_plain_loop_reference_mixed_pbc(name):
    rng = np.random.default_rng(0)
    at = Atoms("Pd4H3", positions=rng.uniform(0, 4.0, (7, 3)), cell=[[4.2, 0, 0], [1.0, 4.0, 0], [0, 0, 20]],
               pbc=[True, True, False])
    at.wrap()
    sf = preset(name, ["Pd", "H"], r_cut=4.5)
    ours = sf.compute(at, scaler="none").values
    assert rel_err(ours, reference_features(sf, at)) <= 1e-9


def test_feature_counts_and_names():
    assert SymmetryFunctions.li_single_element(["Ge"]).n_features == 40
    assert SymmetryFunctions.li_two_element(["Pd", "H"]).n_features == 36 + 12
    sf = preset("li_single_element", ["C", "H", "N", "O"])
    assert sf.n_features == 4 * 24 + 10 * 16 == len(sf.feature_names)
    names = sf.feature_names
    assert names[0].startswith("li[H]") and names[24].startswith("li[C]") and names[96].startswith("li[H-H]")
    assert sf.element_pairs()[:3] == [("H", "H"), ("C", "H"), ("C", "C")]


def test_params_roundtrip_and_errors():
    sf = SymmetryFunctions.like_dscribe_acsf(["Ti", "Al"], 5.0, [[1.0, 0.0]], [[0.005, 1.0, 1.0]])
    again = SymmetryFunctions.from_params(sf.params)
    assert again.params == sf.params and again.species == ["Al", "Ti"]
    with pytest.raises(ParameterError, match="species"):
        sf.compute(bulk("Cu"))
    with pytest.raises(ParameterError, match="unknown descriptor preset"):
        preset("soap", ["Ge"])
    with pytest.raises(ParameterError, match="r_cut"):
        SymmetryFunctions(["H"], -1.0, [{"form": "g1"}], [])


def _features(sf, atoms):
    return sf.compute(atoms, scaler="none").values


def test_invariances(ge_frames):
    sf = preset("li_single_element", ["Ge"], r_cut=5.0)
    at = ge_frames[0]
    base = _features(sf, at)
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = at.copy()
    rot.positions = at.positions @ q.T
    rot.cell = at.cell.array @ q.T
    np.testing.assert_allclose(_features(sf, rot), base, rtol=1e-9, atol=1e-10)
    moved = at.copy()
    moved.positions += [3.3, -17.0, 40.2]  # also far outside the cell
    np.testing.assert_allclose(_features(sf, moved), base, rtol=1e-9, atol=1e-10)
    perm = rng.permutation(len(at))
    np.testing.assert_allclose(_features(sf, at[perm]), base[perm], rtol=1e-9, atol=1e-10)
    sup = at.repeat((2, 1, 1))
    np.testing.assert_allclose(_features(sf, sup), np.concatenate([base, base]), rtol=1e-9, atol=1e-10)


def test_molecule_invariances(bpa_frames):
    sf = preset("li_two_element", ["C", "H", "N", "O"], r_cut=4.0)
    mol = bpa_frames[0]
    base = _features(sf, mol)
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = mol.copy()
    rot.positions = (mol.positions + 5.0) @ q.T
    np.testing.assert_allclose(_features(sf, rot), base, rtol=1e-9, atol=1e-10)


def test_batched_equals_one_by_one(ge_frames, bpa_frames):
    frames = [bpa_frames[0], ge_frames[1], bulk("Ge", "diamond", a=5.6), Atoms("Ge"), bpa_frames[1]]
    frames = [f for f in frames if set(f.get_chemical_symbols()) <= {"Ge"}] + [ge_frames[2]]
    sf = preset("acsf_standard", ["Ge"], r_cut=5.0)
    together = sf.compute(frames, scaler="none", batch_size=10_000).values
    alone = np.concatenate([_features(sf, f) for f in frames])
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-12)
    small = sf.compute(frames, scaler="none", batch_size=1).values
    np.testing.assert_allclose(small, alone, rtol=1e-12, atol=1e-12)


def test_lone_atom_and_close_pair_are_finite():
    sf = preset("li_two_element", ["H", "O"], r_cut=5.0)
    lone = _features(sf, Atoms("O", positions=[[0, 0, 0]]))
    assert lone.shape == (1, sf.n_features) and np.all(lone == 0)
    close = Atoms("HO", positions=[[0, 0, 0], [0.1, 0, 0]])
    vals = _features(sf, close)
    assert np.all(np.isfinite(vals)) and vals.max() > 0
    # Gradients of a close pair are finite too.
    pos = torch.tensor(close.positions[None], requires_grad=True)
    out = sf(sf.species_index(torch.tensor(close.numbers[None])), pos)
    out.sum().backward()
    assert torch.isfinite(pos.grad).all()
    # A lone atom in a periodic box smaller than the cutoff sees its own images.
    crystal = Atoms("H", cell=np.eye(3) * 2.0, pbc=True)
    assert _features(sf, crystal).max() > 0


def test_float32_close_to_float64(ge_frames):
    sf = preset("li_single_element", ["Ge"])
    f64 = sf.compute(ge_frames[:1], scaler="none").values
    f32 = sf.compute(ge_frames[:1], scaler="none", dtype=torch.float32).values
    np.testing.assert_allclose(f32, f64, rtol=1e-4, atol=1e-5 * np.abs(f64).max())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(ge_frames, bpa_frames):
    for sf, frames in ((preset("li_single_element", ["Ge"]), ge_frames),
                       (preset("li_two_element", ["C", "H", "N", "O"]), bpa_frames)):
        cpu = sf.compute(frames, scaler="none", device="cpu").values
        gpu = sf.compute(frames, scaler="none", device="cuda").values
        np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-10)


def test_cell_list_fallback_matches_dense_search(monkeypatch, ge_frames, bpa_frames):
    from atomsieve.descriptors import neighbors

    sf = SymmetryFunctions.like_dscribe_acsf(["H", "C", "N", "O", "Ge"], 4.0, [[0.5, 1.0]],
                                             [[0.02, 2.0, 1.0]])
    frames = [ge_frames[0], bpa_frames[0], bulk("Ge", "diamond", a=5.66)]
    dense = sf.compute(frames, scaler="none").values
    monkeypatch.setattr(neighbors, "DENSE_LIMIT", 0)
    np.testing.assert_allclose(sf.compute(frames, scaler="none").values, dense, rtol=1e-12, atol=1e-12)


def test_non_periodic_molecule_in_a_huge_box_is_fast_and_ignores_the_box(bpa_frames):
    mol = bpa_frames[0].copy()
    mol.cell = np.eye(3) * 1000.0  # 3BPA files carry a 50 Å box with pbc=False
    sf = preset("li_two_element", ["C", "H", "N", "O"], r_cut=6.0)
    np.testing.assert_allclose(_features(sf, mol), _features(sf, bpa_frames[0]), rtol=1e-12)


def test_num_threads_is_temporary_and_changes_nothing(ge_frames):
    sf = preset("li_single_element", ["Ge"], r_cut=4.0)
    before = torch.get_num_threads()
    one = sf.compute(ge_frames[:1], scaler="none", num_threads=1).values
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(one, _features(sf, ge_frames[0]), rtol=1e-12)
    with pytest.raises(ParameterError, match="num_threads"):
        sf.compute(ge_frames[:1], num_threads=0)
