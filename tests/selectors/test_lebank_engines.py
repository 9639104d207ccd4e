"""The fast LE-bank engine gives exactly the reference engine's answer, on real and adversarial data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st

import atomsieve
from atomsieve.descriptors import AtomicFeatures
from atomsieve.selectors import LEBank
from atomsieve.selectors.lebank_engines import exact_distances, fast_engine, reference_engine

GE = "/work/shared/data/ge_mlearn_train.extxyz"
BPA = "/work/shared/data/3bpa_train_300K.xyz"


def radial_features(ds, etas=(0.05, 0.2, 0.5, 1.0, 2.0, 4.0), r_cut=5.0) -> AtomicFeatures:
    """Simple min-max-scaled radial symmetry functions, one block per neighbour element."""
    elements = sorted(set(ds.numbers.tolist()))
    etas = np.asarray(etas)
    blocks = []
    for atoms in ds.atoms:
        if atoms.pbc.any():
            i, j, d = neighbor_list("ijd", atoms, r_cut)
        else:  # a molecule: all pairs
            dist = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
            i, j = np.nonzero((dist < r_cut) & ~np.eye(len(atoms), dtype=bool))
            d = dist[i, j]
        fc = 0.5 * (np.cos(np.pi * d / r_cut) + 1)
        g = np.exp(-etas[None, :] * d[:, None] ** 2) * fc[:, None]
        out = np.zeros((len(atoms), len(elements) * len(etas)))
        for k, z in enumerate(elements):
            m = atoms.numbers[j] == z
            np.add.at(out[:, k * len(etas):(k + 1) * len(etas)], i[m], g[m])
        blocks.append(out)
    x = np.concatenate(blocks)
    lo, hi = x.min(axis=0), x.max(axis=0)
    x = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    return AtomicFeatures(x, ds.numbers, ds.structure_index)


@pytest.fixture(scope="module")
def ge_features():
    return radial_features(atomsieve.load(GE))


@pytest.fixture(scope="module")
def bpa_features():
    return radial_features(atomsieve.load(BPA, index="::4"))


def assert_same(features, **kwargs):
    fast = LEBank(engine="fast", **kwargs).fit(features)
    ref = LEBank(engine="reference", **kwargs).fit(features)
    np.testing.assert_array_equal(fast.selected_, ref.selected_)
    np.testing.assert_array_equal(fast.bank_.vectors, ref.bank_.vectors)
    np.testing.assert_array_equal(fast.bank_.species, ref.bank_.species)
    np.testing.assert_array_equal(fast.bank_.source_structure, ref.bank_.source_structure)
    np.testing.assert_array_equal(fast.bank_.source_atom, ref.bank_.source_atom)
    return fast


@pytest.mark.parametrize("threshold", [0.1, 0.275, 0.45])
@pytest.mark.parametrize("shuffle", [False, True])
def test_germanium_fast_equals_reference(ge_features, threshold, shuffle):
    sel = assert_same(ge_features, thresholds={"Ge": threshold}, shuffle=shuffle, seed=3)
    assert 1 < len(sel.selected_) <= ge_features.n_structures


def test_3bpa_four_elements_fast_equals_reference(bpa_features):
    assert bpa_features.elements == ["H", "C", "N", "O"]
    sel = assert_same(bpa_features, thresholds={"H": 0.08, "C": 0.1, "N": 0.15, "O": 0.12}, init="empty")
    assert set(sel.bank_.elements) == {"H", "C", "N", "O"}


def test_exact_duplicates_join_once():
    x = np.repeat(np.random.default_rng(0).random((5, 3)), 40, axis=0)
    f = AtomicFeatures(x, ["Ge"] * len(x), np.arange(len(x)) // 7)
    for t in (0.0, 1e-12, 0.3):
        sel = assert_same(f, thresholds={"Ge": t}, init="empty")
        if t < 0.01:
            assert len(sel.bank_) == 5


def test_points_at_exactly_the_threshold_do_not_join():
    # Distances that are exactly representable: 0.25, 0.5, 0.75 along one axis.
    x = np.zeros((8, 4))
    x[:, 2] = [0.0, 0.25, 0.5, 0.75, 0.5, 0.25, 1.0, 1.25]
    f = AtomicFeatures(x, ["Si"] * 8, np.arange(8))
    sel = assert_same(f, thresholds={"Si": 0.25}, init="empty")
    assert sel.selected_.tolist() == [0, 2, 6]  # 0.25 away is not "farther than 0.25"
    sel = assert_same(f, thresholds={"Si": 0.2499999}, init="empty")
    assert sel.selected_.tolist() == [0, 1, 2, 3, 6, 7]


def test_ties_in_many_dimensions_and_large_offsets():
    # Points on a lattice of spacing T, far from the origin: rounding of the expanded form is large.
    rng = np.random.default_rng(1)
    grid = rng.integers(0, 4, size=(600, 6)) * 0.125 + 1000.0
    f = AtomicFeatures(grid, ["C"] * 600, np.arange(600) // 3)
    for t in (0.125, 0.125 * np.sqrt(2), 0.2):
        assert_same(f, thresholds={"C": t}, init="empty")
        assert_same(f, thresholds={"C": t}, seed=5, shuffle=True)


def test_element_absent_from_some_structures_and_one_atom_structures():
    rng = np.random.default_rng(2)
    n = 400
    x = rng.random((n, 5))
    species = np.where(rng.random(n) < 0.3, 1, 8)
    structure = np.sort(rng.integers(0, 150, n))
    species[structure < 20] = 8  # the first structures hold no H
    f = AtomicFeatures(x, species, structure, n_structures=152)  # two structures without atoms
    for t in ({"H": 0.3, "O": 0.5}, {"H": 0.0, "O": 2.0}, {"H": 5.0, "O": 0.1}):
        assert_same(f, thresholds=t)
        assert_same(f, thresholds=t, init="empty", shuffle=True, seed=9)
    one = AtomicFeatures(np.ones((1, 3)), ["O"], [0])
    assert LEBank({"O": 0.1}, engine="fast").fit(one).selected_.tolist() == [0]
    assert LEBank({"O": 0.1}, engine="fast", init="empty").fit(one).selected_.tolist() == [0]


def test_rows_not_grouped_by_structure_are_visited_in_structure_order():
    rng = np.random.default_rng(4)
    x = rng.random((60, 2))
    structure = rng.permutation(np.arange(60) // 6)
    f = AtomicFeatures(x, ["H"] * 60, structure)
    sel = assert_same(f, thresholds={"H": 0.2}, init="empty")
    assert sel.selected_[0] == 0


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 120),
    f=st.integers(1, 6),
    t=st.sampled_from([0.0, 0.05, 0.1, 0.3, 1.0]),
    step=st.sampled_from([0.05, 0.1, 0.25]),
    seed=st.integers(0, 10_000),
)
def test_random_quantised_data_agrees(n, f, t, step, seed):
    # Quantised coordinates make exact ties and duplicates common.
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, size=(n, f)) * step
    species = rng.choice([1, 6], size=n)
    structure = np.sort(rng.integers(0, max(1, n // 3), n))
    initial = {1: x[:1]} if seed % 2 else {}
    by_z = {1: t, 6: 2 * t}
    ref = reference_engine(x, species, by_z, initial)
    fast = fast_engine(x, species, by_z, initial, device="cpu")
    np.testing.assert_array_equal(ref, fast)
    assert structure.size == n


@pytest.mark.parametrize("backend", ["numba", "numpy", "torch"])
def test_every_cpu_backend_equals_reference(ge_features, backend):
    x, z = ge_features.values, ge_features.species
    for t in (0.0, 0.15, 0.4):
        ref = reference_engine(x[:3000], z[:3000], {32: t}, {32: x[-5:]})
        fast = fast_engine(x[:3000], z[:3000], {32: t}, {32: x[-5:]}, device="cpu", backend=backend)
        np.testing.assert_array_equal(fast, ref)


def test_kernel_exact_distance_is_bit_identical_to_the_reference_expression():
    # Ties and duplicates are decided in the compiled loop with this one function.
    from atomsieve.selectors.lebank_kernel import exact_distance

    rng = np.random.default_rng(11)
    for f in (*range(1, 40), 63, 64, 127, 128, 129, 200, 256, 300, 513):
        for _ in range(20):
            scale = 10.0 ** rng.uniform(-4, 4)
            a, b = rng.standard_normal(f) * scale, rng.standard_normal(f) * scale
            assert exact_distance(a, b, np.empty(f)) == exact_distances(a[None, :], b)[0]


def test_duplicates_at_zero_threshold_in_many_structures(ge_features):
    # Crystalline structures repeat environments: at T = 0 every exact duplicate must be caught.
    x = np.concatenate([ge_features.values[:2000], ge_features.values[:500]])
    z = np.full(len(x), 32)
    np.testing.assert_array_equal(fast_engine(x, z, {32: 0.0}, {}, device="cpu"),
                                  reference_engine(x, z, {32: 0.0}, {}))


def test_exact_distances_do_not_depend_on_the_other_rows():
    rng = np.random.default_rng(0)
    for f in (1, 3, 7, 8, 9, 33, 64, 101):
        pts = rng.standard_normal((50, f)) * 10
        x = rng.standard_normal(f)
        whole = exact_distances(pts, x)
        one_by_one = np.array([exact_distances(pts[i:i + 1], x)[0] for i in range(50)])
        np.testing.assert_array_equal(whole, one_by_one)
        np.testing.assert_array_equal(whole[7:19], exact_distances(pts[7:19].copy(), x))


def test_existing_bank_is_screened_the_same(ge_features):
    first = ge_features.subset_structures(np.arange(0, 120))
    rest = ge_features.subset_structures(np.arange(120, 228))
    bank = LEBank({"Ge": 0.2}).fit(first).bank_
    for engine in ("fast", "reference"):
        sel = LEBank({"Ge": 0.2}, engine=engine).fit(rest, bank=bank)
        if engine == "fast":
            fast = sel
    ref = sel
    np.testing.assert_array_equal(fast.selected_, ref.selected_)
    np.testing.assert_array_equal(fast.bank_.vectors, ref.bank_.vectors)


def test_torch_code_path_on_cpu_equals_reference(ge_features):
    # The arrays CUDA would use, on the CPU: same operations, same answer.
    for t in (0.1, 0.3):
        x, z = ge_features.values, ge_features.species
        ref = reference_engine(x, z, {32: t}, {})
        np.testing.assert_array_equal(fast_engine(x, z, {32: t}, {}, device="cpu", backend="torch"), ref)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(300, 3)) * 0.25
    z = rng.choice([1, 8], size=300)
    init = {8: x[:5]}
    ref = reference_engine(x, z, {1: 0.25, 8: 0.5}, init)
    fast = fast_engine(x, z, {1: 0.25, 8: 0.5}, init, device="cpu", backend="torch")
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_engine_equals_reference(ge_features, bpa_features):
    for features, t in ((ge_features, {"Ge": 0.2}), (bpa_features, {"H": 0.1, "C": 0.1, "N": 0.1, "O": 0.1})):
        cuda = LEBank(t, device="cuda").fit(features)
        ref = LEBank(t, engine="reference").fit(features)
        np.testing.assert_array_equal(cuda.selected_, ref.selected_)
        np.testing.assert_array_equal(cuda.bank_.vectors, ref.bank_.vectors)


@pytest.mark.slow
def test_symmetry_function_fingerprints_fast_equals_reference():
    """The project's own descriptors (default presets, min-max scaled) on germanium and 3BPA subsets."""
    from atomsieve.descriptors import preset

    ge = atomsieve.load(GE).subset(range(0, 228, 19))
    bpa = atomsieve.load(BPA, index="::25")
    for ds, thresholds in ((ge, [0.1, 0.275, 0.45]), (bpa, [0.5, 1.5, 3.0])):
        feats = preset(None, ds.elements).compute(ds)
        counts = []
        for t in thresholds:
            sel = assert_same(feats, thresholds=t, seed=1)
            assert sel.bank_.params == feats.params
            counts.append(len(sel.selected_))
        assert counts[0] >= counts[-1] and counts[-1] < len(ds)
