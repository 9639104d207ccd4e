"""Scalers, feature files and the on-disk feature cache."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from atomsieve import Dataset
from atomsieve.descriptors import (
    FeatureCache,
    MinMaxScaler,
    StandardScaler,
    load_features,
    load_scaler,
    preset,
    save_features,
    scaler_from_dict,
)
from atomsieve.descriptors.cache import default_cache_dir
from atomsieve.errors import CacheError, ParameterError


@pytest.fixture(scope="module")
def water_like():
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(4):
        pos = rng.uniform(0, 6.0, (9, 3))
        frames.append(Atoms("H6O3", positions=pos, cell=np.eye(3) * 6.5, pbc=True))
    return Dataset(frames)


def test_minmax_is_per_element_and_per_function(water_like):
    sf = preset("li_two_element", ["H", "O"], r_cut=4.0)
    feats = sf.compute(water_like)  # minmax by default
    assert isinstance(feats.scaler, MinMaxScaler)
    for z in (1, 8):
        rows = feats.values[feats.species == z]
        varying = rows.max(axis=0) > rows.min(axis=0)
        assert np.allclose(rows.min(axis=0)[varying], 0) and np.allclose(rows.max(axis=0)[varying], 1)
        assert np.all(rows[:, ~varying] == 0)
    assert feats.params == sf.params and feats.feature_names == sf.feature_names
    assert feats.n_structures == 4 and feats.atom_counts.tolist() == [9] * 4


def test_fitted_scaler_reused_and_serialised(water_like, tmp_path):
    sf = preset("li_two_element", ["H", "O"], r_cut=4.0)
    fitted = sf.compute(water_like.subset([0, 1])).scaler
    again = sf.compute(water_like, scaler=fitted)
    raw = sf.compute(water_like, scaler="none").values
    np.testing.assert_allclose(again.values, fitted.transform(raw, water_like.numbers))
    fitted.save(tmp_path / "s.json")
    assert load_scaler(tmp_path / "s.json") == fitted
    std = sf.compute(water_like, scaler="standard")
    assert isinstance(std.scaler, StandardScaler)
    assert scaler_from_dict(std.scaler.to_dict()) == std.scaler
    h = std.values[std.species == 1]
    assert np.allclose(h.mean(axis=0), 0, atol=1e-9)
    with pytest.raises(ParameterError, match="scaler"):
        sf.compute(water_like, scaler="zscore")
    with pytest.raises(ParameterError, match="not seen"):
        MinMaxScaler().fit(raw[:2], [1, 1]).transform(raw[:1], [8])


def test_feature_file_roundtrip_and_corruption(water_like, tmp_path):
    feats = preset(None, ["H", "O"], r_cut=4.0).compute(water_like)
    path = save_features(feats, tmp_path / "f.npz")
    back = load_features(path)
    np.testing.assert_array_equal(back.values, feats.values)
    assert back.scaler == feats.scaler and back.params == feats.params
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError):
        load_features(path)


def test_cache_hit_stale_and_corrupt(water_like, tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSIEVE_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"
    sf = preset("li_two_element", ["H", "O"], r_cut=4.0)
    calls = []
    first = sf.compute(water_like, cache=True, progress=lambda d, t, label: calls.append(label))
    files = list((tmp_path / "features").glob("*.npz"))
    assert len(files) == 1
    second = sf.compute(water_like, cache=True, progress=lambda d, t, label: calls.append(label))
    np.testing.assert_array_equal(first.values, second.values)
    assert calls[-1].endswith("(cached)") and second.scaler == first.scaler
    # Another scaler or cutoff is another entry.
    sf.compute(water_like, cache=tmp_path / "features", scaler="none")
    preset("li_two_element", ["H", "O"], r_cut=3.5).compute(water_like, cache=True)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 3
    # Corrupt entry: detected, removed and recomputed.
    files[0].write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="recomputing"):
        third = sf.compute(water_like, cache=True)
    np.testing.assert_array_equal(third.values, first.values)
    # Stale entry (written for another key) is recomputed too.
    other = FeatureCache(tmp_path / "features")
    key = files[0].stem
    save_features(first, other.path(key), overwrite=True, extra={"cache_key": "0" * 64})
    with pytest.warns(RuntimeWarning, match="another key"):
        assert other.load(key) is None


def test_periodic_structure_without_cell_is_an_error():
    bad = Atoms("Cu", pbc=True)
    with pytest.raises(ParameterError, match="cell"):
        preset(None, ["Cu"]).compute(bad)


def test_unscaled_values_of_bulk_are_equal_per_atom():
    feats = preset("acsf_standard", ["Cu"]).compute(bulk("Cu", cubic=True), scaler="none")
    assert np.allclose(feats.values, feats.values[0])
