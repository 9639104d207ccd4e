"""A summed Jacobian too large for memory goes to a file, read a selection or a block at a time: the
same fits, predictions and errors as in memory, and the linear model's whole-set error from its Gram
statistics equals the error from every prediction."""

from __future__ import annotations

import numpy as np
import pytest

from atomsieve.descriptors import preset
from atomsieve.errors import Stopped
from atomsieve.potentials import LinearModel, featurize, linear
from atomsieve.potentials.featurize import prepare
from atomsieve.potentials.prepared import JacobianFile


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSIEVE_CACHE_DIR", str(tmp_path))
    featurize._PREPARED.clear()  # what earlier tests prepared in this process
    return tmp_path / "prepared"


def on_disk(monkeypatch, max_atoms: int = 300):
    monkeypatch.setattr(featurize, "JACOBIAN_MEMORY_BYTES", 0)
    monkeypatch.setattr(featurize, "CHUNK_ATOMS", max_atoms)
    monkeypatch.setattr(linear, "BLOCK_ATOMS", max_atoms)  # several blocks on 1,568 atoms


def prepared_module():
    from atomsieve.potentials import prepared

    return prepared


def test_a_file_jacobian_gives_the_in_memory_fit_and_errors(ds, sf, cache_dir, monkeypatch):
    memory, _ = prepare(ds, sf, cache=False)
    on_disk(monkeypatch)
    disk, _ = prepare(ds, sf)
    assert isinstance(disk.summed_jacobian, JacobianFile) and isinstance(memory.summed_jacobian, np.ndarray)
    assert list(cache_dir.glob("*.npy")) and not list(cache_dir.glob(".*"))  # published, no temporaries
    atoms = disk.atoms_of([3, 0, 7, 7])  # out of order and repeated, as a bootstrap sample
    np.testing.assert_array_equal(disk.element_summed_jacobian(atoms), memory.element_summed_jacobian(atoms))
    picked = [0, 4, 9, 11, 20]
    fits = [LinearModel().fit(d, structures=picked) for d in (memory, disk)]
    np.testing.assert_allclose(fits[1].weights_, fits[0].weights_, rtol=1e-12, atol=1e-12)
    for d, model in zip((memory, disk), fits, strict=True):
        assert model.score(d) == pytest.approx(fits[0].score(memory), rel=1e-10)
        assert model.rmse(d) == pytest.approx({k: fits[0].score(memory)[k] for k in ("rmse_e", "rmse_f")},
                                              rel=1e-9)
    np.testing.assert_allclose(fits[1].predict(disk)[1], fits[0].predict(memory)[1], rtol=1e-10, atol=1e-12)
    subset = disk.subset(picked)  # a subset is small: read into memory
    assert isinstance(subset.summed_jacobian, np.ndarray)
    np.testing.assert_array_equal(subset.summed_jacobian, memory.subset(picked).summed_jacobian)


def test_the_file_is_reused_from_the_cache_and_a_damaged_one_recomputed(ds, sf, cache_dir, monkeypatch):
    on_disk(monkeypatch)
    first, _ = prepare(ds, sf)
    featurize._PREPARED.clear()
    with monkeypatch.context() as m:
        m.setattr(type(sf), "jacobian", lambda *a, **k: pytest.fail("recomputed"))
        again, _ = prepare(ds, sf)  # from the file: the Jacobian is not computed (features are, to rounding)
    np.testing.assert_allclose(again.element_summed_jacobian(), first.element_summed_jacobian(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(again.features, first.features, rtol=1e-12, atol=1e-12)
    reference = first.element_summed_jacobian()
    (path,) = cache_dir.glob("*.npy")
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    featurize._PREPARED.clear()
    with pytest.warns(RuntimeWarning, match="recomputing"):
        third, _ = prepare(ds, sf)
    np.testing.assert_array_equal(third.element_summed_jacobian(), reference)


def test_without_a_cache_the_file_is_temporary_and_a_stop_leaves_nothing(ds, sf, cache_dir, monkeypatch,
                                                                         tmp_path):
    on_disk(monkeypatch)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    data, _ = prepare(ds, sf, cache=False)
    assert isinstance(data.summed_jacobian, JacobianFile)
    assert not list((tmp_path / "tmp").iterdir()) and not cache_dir.exists()  # unlinked, still readable
    assert np.isfinite(data.element_summed_jacobian([0, 1, 2])).all()
    with pytest.raises(TypeError, match="temporary"):
        import pickle

        pickle.dumps(data.summed_jacobian)
    calls = iter(range(100))
    with pytest.raises(Stopped):
        prepare(ds, sf, should_stop=lambda: next(calls) >= 2)
    assert not list(cache_dir.glob("*")) if cache_dir.exists() else True


def test_shared_features_are_used_as_they_are(ds, sf):
    from atomsieve.errors import ParameterError

    own, own_feats = prepare(ds, sf, cache=False)
    feats = sf.compute(ds, scaler="minmax", device="cpu")
    shared, returned = prepare(ds, sf, cache=False, features=feats)
    assert returned is feats and shared.features is feats.values
    np.testing.assert_allclose(shared.features, own.features, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(shared.element_summed_jacobian(), own.element_summed_jacobian(), rtol=1e-12)
    with pytest.raises(ParameterError, match="descriptor"):
        prepare(ds, preset(None, ["Ge"], r_cut=4.0), cache=False, features=feats)


def test_gram_error_equals_the_scored_error_with_chunk_central_atoms(ds, sf):
    central = np.full(len(ds), -1)
    central[::3] = 0  # every third structure a chunk: only its first atom's force counts
    data, _ = prepare(ds, sf, cache=False, central_atoms=central)
    model = LinearModel().fit(data, structures=range(0, len(ds), 2))
    full = model.score(data)
    assert model.rmse(data) == pytest.approx({"rmse_e": full["rmse_e"], "rmse_f": full["rmse_f"]}, rel=1e-9)
