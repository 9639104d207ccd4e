"""LEBank API, EnvironmentBank persistence and growth, threshold studies and budget calibration."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import CacheError, DataError, ParameterError
from atomsieve.selectors import (
    EnvironmentBank,
    LEBank,
    calibrate_thresholds,
    shuffle_study,
    threshold_count_grid,
    threshold_sweep,
)


def clustered(n_structures=60, atoms=8, seed=0, params=None):
    """Two elements, fingerprints in a few clusters, so thresholds matter."""
    rng = np.random.default_rng(seed)
    centres = rng.random((6, 4))
    n = n_structures * atoms
    x = centres[rng.integers(0, 6, n)] + 0.05 * rng.standard_normal((n, 4))
    species = np.where(rng.random(n) < 0.4, 1, 8)
    return AtomicFeatures(x, species, np.arange(n) // atoms, params=params)


def test_fitted_attributes_and_published_semantics():
    f = clustered()
    sel = LEBank({"H": 0.1, "O": 0.2}, seed=1).fit(f)
    assert sel.selected_.dtype == np.int64 and len(set(sel.selected_.tolist())) == len(sel.selected_)
    assert sel.n_selected_atoms_ == 8 * len(sel.selected_)
    assert sel.seconds_ > 0 and sel.result_.extra["bank_size"] == len(sel.bank_)
    # The first selected structure holds the random initial vector.
    first = sel.bank_.source_structure[0]
    assert sel.selected_[0] == first
    # Every atom of the data is within T of some bank vector of its element (the bank covers the data).
    for z, t in ((1, 0.1), (8, 0.2)):
        bank = sel.bank_.vectors[sel.bank_.species == z]
        x = f.values[f.species == z]
        d = np.sqrt(((x[:, None] - bank[None]) ** 2).sum(-1)).min(axis=1)
        assert (d <= t).all()
        # and bank vectors of one element are pairwise farther than T apart
        dd = np.sqrt(((bank[:, None] - bank[None]) ** 2).sum(-1))
        assert (dd[np.triu_indices(len(bank), 1)] > t).all()
    # Source structure/atom point back at the very fingerprints.
    rows = [np.flatnonzero((f.structure == s) & (f.atom_index == a))[0]
            for s, a in zip(sel.bank_.source_structure, sel.bank_.source_atom)]
    np.testing.assert_array_equal(f.values[rows], sel.bank_.vectors)


def test_seed_and_shuffle_are_reproducible():
    f = clustered()
    a = LEBank(0.15, seed=4, shuffle=True).fit(f).selected_
    b = LEBank(0.15, seed=4, shuffle=True).fit(f).selected_
    c = LEBank(0.15, seed=5, shuffle=True).fit(f).selected_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert LEBank(0.15, init="empty").fit(f).selected_[0] == 0


def test_larger_threshold_selects_fewer():
    f = clustered()
    counts = [len(LEBank(t, init="empty").fit(f).selected_) for t in (0.01, 0.1, 0.3, 2.0)]
    assert counts[0] >= counts[1] >= counts[2] >= counts[3] == 1


@pytest.mark.parametrize(
    "thresholds, message",
    [
        ({"H": 0.1}, "no threshold for element(s) O"),
        ({"H": -0.1, "O": 0.1}, "threshold of H must be a finite number >= 0"),
        ({"Xx": 0.1}, "not a chemical symbol"),
        ({}, "mapping like"),
        (float("nan"), "finite number"),
    ],
)
def test_bad_thresholds(thresholds, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LEBank(thresholds).fit(clustered())


def test_bad_options():
    f = clustered()
    with pytest.raises(ParameterError, match="engine"):
        LEBank(0.1, engine="turbo").fit(f)
    with pytest.raises(ParameterError, match="init"):
        LEBank(0.1, init="first").fit(f)
    with pytest.raises(ParameterError, match="AtomicFeatures"):
        LEBank(0.1).fit(np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="EnvironmentBank"):
        LEBank(0.1).fit(f, bank="bank.npz")
    with pytest.raises(ParameterError, match="device"):
        LEBank(0.1, device="tpu").fit(f)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA device"):
            LEBank(0.1, device="cuda").fit(f)


def test_atomic_numbers_as_keys():
    f = clustered()
    a = LEBank({1: 0.1, 8: 0.2}, seed=0).fit(f).selected_
    b = LEBank({"H": 0.1, "O": 0.2}, seed=0).fit(f).selected_
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- persistence and growth
def test_save_load_round_trip(tmp_path):
    params = {"kind": "test", "r_cut": 5.0, "etas": (0.1, 0.2)}
    sel = LEBank({"H": 0.1, "O": 0.2}).fit(clustered(params=params))
    path = sel.bank_.save(tmp_path / "bank.npz")
    back = EnvironmentBank.load(path)
    for name in ("vectors", "species", "source_structure", "source_atom", "batch"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sel.bank_, name))
    assert back.thresholds == {"H": 0.1, "O": 0.2}
    assert back.params == {"kind": "test", "r_cut": 5.0, "etas": [0.1, 0.2]}
    with pytest.raises(DataError, match="already exists"):
        sel.bank_.save(path)
    sel.bank_.save(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.npz"]  # no temporary left behind


def test_scaler_is_kept(tmp_path):
    from atomsieve.descriptors.scaling import MinMaxScaler

    f = clustered()
    scaler = MinMaxScaler().fit(f.values, f.species)
    f.scaler = scaler
    bank = LEBank(0.2).fit(f).bank_
    back = EnvironmentBank.load(bank.save(tmp_path / "b.npz"))
    assert type(back.scaler) is MinMaxScaler
    expected = scaler.transform(f.values, f.species)
    np.testing.assert_allclose(back.scaler.transform(f.values, f.species), expected)


def test_corrupt_and_missing_files(tmp_path):
    bank = LEBank(0.2).fit(clustered()).bank_
    path = bank.save(tmp_path / "bank.npz")
    # Change one vector inside the archive, keeping a valid zip: the checksum catches it.
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["vectors"] = arrays["vectors"].copy()
    arrays["vectors"][0, 0] += 1e-9
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(CacheError, match="checksum"):
        EnvironmentBank.load(tmp_path / "edited.npz")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\x00" * 64
    (tmp_path / "broken.npz").write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="broken.npz"):
        EnvironmentBank.load(tmp_path / "broken.npz")
    (tmp_path / "text.npz").write_text("not a bank")
    with pytest.raises(CacheError, match="cannot be read"):
        EnvironmentBank.load(tmp_path / "text.npz")
    with pytest.raises(DataError, match="does not exist"):
        EnvironmentBank.load(tmp_path / "nope.npz")
    with zipfile.ZipFile(tmp_path / "pickled.npz", "w") as z:
        header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
        z.writestr("vectors.npy", b"\x93NUMPY\x01\x00v\x00" + header)
    with pytest.raises(CacheError):
        EnvironmentBank.load(tmp_path / "pickled.npz")


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_incremental_fit_equals_one_fit(engine, shuffle):
    f = clustered(n_structures=90, seed=3)
    old, new = f.subset_structures(np.arange(50)), f.subset_structures(np.arange(50, 90))
    t = {"H": 0.08, "O": 0.12}
    if shuffle:  # a shuffled one-shot fit equals fitting the two parts in that shuffled order
        order = np.random.default_rng(0).permutation(90)
        f = f.subset_structures(order)
        old, new = f.subset_structures(np.arange(50)), f.subset_structures(np.arange(50, 90))
    whole = LEBank(t, init="empty", engine=engine).fit(f)
    first = LEBank(t, init="empty", engine=engine).fit(old)
    second = LEBank(t, init="empty", engine=engine).fit(new, bank=first.bank_)
    combined = np.concatenate([first.selected_, second.selected_ + 50])
    np.testing.assert_array_equal(combined, whole.selected_)
    np.testing.assert_array_equal(second.bank_.vectors, whole.bank_.vectors)
    assert second.new_vectors_ == len(whole.bank_) - len(first.bank_)
    assert set(second.bank_.batch.tolist()) == {0, 1}
    assert len(first.bank_) == first.new_vectors_  # the given bank is not modified
    # Screening data already in the bank adds nothing.
    again = LEBank(t, engine=engine).fit(f, bank=whole.bank_)
    assert again.selected_.size == 0 and again.new_vectors_ == 0


def test_merge_and_refusals(tmp_path):
    a = LEBank(0.2).fit(clustered(params={"r_cut": 5.0})).bank_
    b = LEBank(0.3).fit(clustered(seed=1, params={"r_cut": 5.0})).bank_
    m = a.merge(b)
    assert len(m) == len(a) + len(b)
    np.testing.assert_array_equal(m.vectors[len(a):], b.vectors)
    assert m.batch.max() == 1
    back = EnvironmentBank.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.batch, m.batch)
    other = LEBank(0.2).fit(clustered(params={"r_cut": 6.0})).bank_
    with pytest.raises(CacheError, match="different descriptor parameters"):
        a.merge(other)
    with pytest.raises(CacheError, match="other descriptor parameters"):
        LEBank(0.2).fit(clustered(params={"r_cut": 6.0}), bank=a)
    narrow = AtomicFeatures(np.zeros((2, 3)), ["H", "O"], [0, 1])
    with pytest.raises(CacheError, match="4-column"):
        LEBank(0.2).fit(narrow, bank=a)


# ---------------------------------------------------------------- studies and calibration
def test_threshold_sweep_matches_single_fits():
    f = clustered()
    ts = [0.05, 0.1, 0.2]
    sweep = threshold_sweep(f, ts, element="H", fixed={"O": 0.15}, seed=2)
    assert sweep["threshold"] == ts and len(sweep["structures"]) == 3
    for t, s, a, b in zip(ts, sweep["structures"], sweep["atoms"], sweep["bank_size"]):
        sel = LEBank({"H": t, "O": 0.15}, seed=2).fit(f)
        assert (s, a, b) == (len(sel.selected_), sel.n_selected_atoms_, len(sel.bank_))
    assert sweep["bank_H"][0] >= sweep["bank_H"][-1]
    assert len(set(sweep["bank_O"])) == 1  # O's threshold is fixed, so is its bank
    with pytest.raises(ParameterError):
        threshold_sweep(f, [])


def test_threshold_grid_and_shuffle_study():
    f = clustered()
    grid = threshold_count_grid(f, ("H", [0.05, 0.2]), ("O", [0.05, 0.2]))
    assert grid["T_H"] == [0.05, 0.05, 0.2, 0.2] and grid["T_O"] == [0.05, 0.2, 0.05, 0.2]
    assert grid["structures"][0] >= grid["structures"][3]
    study = shuffle_study(f, {"H": 0.1, "O": 0.1}, n_runs=5, seed=10)
    assert study["seed"] == [10, 11, 12, 13, 14]
    expected = [len(LEBank(0.1, seed=s, shuffle=True).fit(f).selected_) for s in study["seed"]]
    assert study["structures"] == expected


@pytest.mark.slow
def test_studies_run_on_dask():
    f = clustered(n_structures=20)
    serial = threshold_sweep(f, [0.1, 0.2], scheduler=None)
    local = threshold_sweep(f, [0.1, 0.2], scheduler="local")
    assert serial["structures"] == local["structures"]


@pytest.mark.parametrize("budget", [10, 25, 0.5])
def test_calibration_meets_structure_budget(budget):
    f = clustered(n_structures=80, seed=5)
    res = calibrate_thresholds(f, budget, ratios={"H": 1.0, "O": 2.0}, rel_tol=0.05)
    target = budget if isinstance(budget, int) else 40
    assert res.target == target and res.met and abs(res.count - target) <= res.tolerance
    assert res.thresholds["O"] == pytest.approx(2 * res.thresholds["H"])
    assert len(LEBank(res.thresholds).fit(f).selected_) == res.count


def test_calibration_atoms_and_retention():
    f = clustered(n_structures=80, seed=6)
    res = calibrate_thresholds(f, 200, kind="atoms", rel_tol=0.05)
    assert res.met and LEBank(res.thresholds).fit(f).n_selected_atoms_ == res.count
    res = calibrate_thresholds(f, 30, mode="retention", rel_tol=0.1)
    assert res.met
    bank = LEBank(res.thresholds, init="empty").fit(f).bank_.counts_per_element()
    share = {e: bank[e] / (f.species == z).sum() for e, z in (("H", 1), ("O", 8))}
    assert share["H"] == pytest.approx(share["O"], abs=0.05)


def test_calibration_errors():
    f = clustered()
    with pytest.raises(ParameterError, match="larger than"):
        calibrate_thresholds(f, 1000)
    with pytest.raises(ParameterError, match="kind"):
        calibrate_thresholds(f, 10, kind="bytes")
    with pytest.raises(ParameterError, match="ratios"):
        calibrate_thresholds(f, 10, ratios={"H": 1.0})
