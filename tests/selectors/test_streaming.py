"""Larger than memory: partitioned reading, the memory-mapped feature store, streamed LE-bank selection."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from atomsieve import CacheError, DataError, ParameterError, load, save
from atomsieve.data.stream import iter_partitions, read_ahead
from atomsieve.datasets import default_path
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.descriptors.store import FeatureStore
from atomsieve.selectors import LEBank
from atomsieve.selectors.streaming import lebank_stream

GE_TEST = default_path("test")


@pytest.fixture(scope="module")
def sf():
    return SymmetryFunctions.li_single_element(["Ge"])


@pytest.fixture(scope="module")
def store(tmp_path_factory, sf):
    return FeatureStore.build(GE_TEST, tmp_path_factory.mktemp("store") / "ge", sf, partition_size=7)


@pytest.mark.parametrize("suffix", [".extxyz", ".db", ".traj"])
def test_partitions_concatenate_to_the_whole_file(tmp_path, suffix):
    whole = load(GE_TEST)
    path = save(whole, tmp_path / f"ge{suffix}")
    parts = list(iter_partitions(path, 10))
    assert [len(p) for p in parts] == [10, 10, 5]
    np.testing.assert_allclose(np.concatenate([p.energies for p in parts]), whole.energies)
    np.testing.assert_allclose(np.concatenate([p.forces for p in parts]), whole.forces)


def test_partition_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text(GE_TEST.read_text().replace("Ge", "Ge nan", 1))
    with pytest.raises(DataError, match="bad.extxyz"):
        list(iter_partitions(bad, 5))
    with pytest.raises(DataError, match="no such file"):
        list(iter_partitions(tmp_path / "absent.extxyz"))


def test_store_matches_in_memory_features(store, sf):
    whole = sf.compute(load(GE_TEST))
    chunks = list(store.chunks(max_atoms=400))
    assert len(chunks) > 3
    values = np.concatenate([c.values for c in chunks])
    np.testing.assert_allclose(values, whole.values, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([c.structure for c in chunks]), whole.structure)
    for c in chunks:  # every chunk ends on a structure boundary
        assert set(np.unique(c.structure)).isdisjoint(
            set().union(*(set(np.unique(o.structure)) for o in chunks if o is not c))
        )


@pytest.mark.parametrize("init", ["random", "empty"])
@pytest.mark.parametrize("threshold", [0.1, 0.3])
def test_streamed_selection_equals_one_fit(store, init, threshold):
    whole = next(store.chunks(max_atoms=10**9))
    one = LEBank({"Ge": threshold}, seed=3, init=init).fit(whole)
    selected, bank = lebank_stream(store, {"Ge": threshold}, seed=3, init=init, max_atoms=250)
    assert selected.tolist() == one.selected_.tolist()
    np.testing.assert_array_equal(bank.vectors, one.bank_.vectors)
    np.testing.assert_array_equal(bank.source_structure, one.bank_.source_structure)


def test_damaged_store_is_detected(store, tmp_path, sf):
    copy = FeatureStore.build(GE_TEST, tmp_path / "copy", sf)
    with open(copy.folder / "values.f64", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(CacheError, match="checksum"):
        FeatureStore(copy.folder)
    with open(copy.folder / "species.i64", "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(CacheError, match="wrong size"):
        FeatureStore(copy.folder)
    with pytest.raises(DataError, match="already exists"):
        FeatureStore.build(GE_TEST, copy.folder, sf)


def test_read_ahead_yields_in_order_and_raises_the_readers_error(tmp_path):
    whole = [len(p) for p in iter_partitions(GE_TEST, 4)]
    assert [len(p) for p in read_ahead(iter_partitions(GE_TEST, 4), depth=2)] == whole
    bad = tmp_path / "bad.extxyz"
    text = GE_TEST.read_text()
    bad.write_text(text + text.replace("Ge", "Ge nan", 1))  # garbled in the second copy
    seen = []
    with pytest.raises(DataError, match="bad.extxyz"):
        for part in read_ahead(iter_partitions(bad, 5)):
            seen.append(len(part))
    assert sum(seen) >= 25  # the good first copy came through before the error
    stream = read_ahead(iter_partitions(GE_TEST, 5))
    assert len(next(stream)) == 5
    stream.close()  # stopping early ends the reader thread
    assert not any(t.name == "atomsieve-read-ahead" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(ParameterError, match="depth"):
        next(read_ahead(iter_partitions(GE_TEST, 5), depth=0))


def test_store_build_threads_and_partition_size_do_not_change_the_store(store, tmp_path, sf):
    other = FeatureStore.build(GE_TEST, tmp_path / "other", sf, partition_size=25, num_threads=None)
    np.testing.assert_allclose(other.values, store.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(other.species, store.species)
    np.testing.assert_array_equal(other.structure, store.structure)
    np.testing.assert_allclose(other.scaler.to_dict()["min"], store.scaler.to_dict()["min"], atol=1e-12)
    np.testing.assert_allclose(other.scaler.to_dict()["max"], store.scaler.to_dict()["max"], atol=1e-12)
    np.testing.assert_array_equal(store.read("values", 3, 90), store.values[3:90])
    np.testing.assert_array_equal(store.read("structure", 1500, 10**9), store.structure[1500:])
    with pytest.raises(ParameterError, match="name must be one of"):
        store.read("forces", 0, 1)
    with pytest.raises(ParameterError, match="num_threads"):
        FeatureStore.build(GE_TEST, tmp_path / "bad", sf, num_threads=0)
    assert not (tmp_path / "bad").exists()
