"""``should_stop`` across the long operations (see :mod:`atomsieve.progress`): a stop either returns
the valid partial answer or raises :class:`Stopped` leaving nothing half-written, and
``should_stop=lambda: False`` changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from atomsieve.datasets import default_path, load_default
from atomsieve.descriptors import preset
from atomsieve.errors import AtomsieveError, Stopped
from atomsieve.progress import check_stop


def stop_after_first():
    """A ``should_stop`` that answers False once, then True; ``.calls`` counts the polls."""

    def should_stop() -> bool:
        should_stop.calls += 1
        return should_stop.calls > 1

    should_stop.calls = 0
    return should_stop


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def pool():
    return load_default("test").subset(range(6))


@pytest.fixture(scope="module")
def descriptor():
    return preset(None, ["Ge"], r_cut=3.0)


def test_check_stop_and_error_type():
    check_stop(None, "x")
    check_stop(never, "x")
    with pytest.raises(Stopped, match="x: stopped on request"):
        check_stop(lambda: True, "x")
    assert issubclass(Stopped, AtomsieveError)


@pytest.mark.parametrize("engine", ["kernel", "torch"])
def test_compute_features_raises(monkeypatch, pool, descriptor, engine):
    from atomsieve.descriptors import compute

    monkeypatch.setattr(compute, "CHUNK_ATOMS", 64)  # one structure per group: several polls
    stop = stop_after_first()
    with pytest.raises(Stopped):
        compute.compute_features(descriptor, pool, engine=engine, batch_size=64, device="cpu",
                                 should_stop=stop)
    assert stop.calls == 2
    plain = compute.compute_features(descriptor, pool, engine=engine, batch_size=64, device="cpu")
    polled = compute.compute_features(descriptor, pool, engine=engine, batch_size=64, device="cpu",
                                      should_stop=never)
    np.testing.assert_array_equal(plain.values, polled.values)


def test_jacobian_raises(pool, descriptor):
    with pytest.raises(Stopped):
        descriptor.jacobian(pool.atoms, batch_size=64, device="cpu", should_stop=stop_after_first())


def test_prepare_raises(monkeypatch, pool, descriptor):
    from atomsieve.potentials import featurize

    monkeypatch.setattr(featurize, "structure_chunks", lambda counts, max_atoms=None: [
        np.array([m]) for m in range(len(counts))])
    with pytest.raises(Stopped):
        featurize.prepare(pool, descriptor, cache=False, should_stop=stop_after_first())
    plain, plain_feats = featurize.prepare(pool, descriptor, cache=False)
    polled, polled_feats = featurize.prepare(pool, descriptor, cache=False, should_stop=never)
    np.testing.assert_array_equal(plain.features, polled.features)
    np.testing.assert_array_equal(plain_feats.values, polled_feats.values)


def test_feature_store_build_raises_and_leaves_nothing(tmp_path, descriptor):
    from atomsieve.descriptors.store import FeatureStore

    folder = tmp_path / "store"
    with pytest.raises(Stopped):
        FeatureStore.build(default_path("test"), folder, descriptor, partition_size=5,
                           should_stop=stop_after_first())
    assert list(tmp_path.iterdir()) == []
    plain = FeatureStore.build(default_path("test"), tmp_path / "a", descriptor, partition_size=5)
    polled = FeatureStore.build(default_path("test"), tmp_path / "b", descriptor, partition_size=5,
                                should_stop=never)
    assert plain.n_atoms == polled.n_atoms
    np.testing.assert_array_equal(plain.read("values", 0, plain.n_atoms),
                                  polled.read("values", 0, polled.n_atoms))


def test_write_selected_raises_and_leaves_no_file(tmp_path):
    from atomsieve.data.stream import write_selected

    out = tmp_path / "sel.extxyz"
    with pytest.raises(Stopped):
        write_selected(default_path("test"), [7, 2, 9, 20], out, partition_size=1,
                       should_stop=stop_after_first())
    assert list(tmp_path.iterdir()) == []
    a = write_selected(default_path("test"), [7, 2, 9, 20], tmp_path / "a.extxyz", partition_size=4)
    b = write_selected(default_path("test"), [7, 2, 9, 20], tmp_path / "b.extxyz", partition_size=4,
                       should_stop=never)
    assert a.read_bytes() == b.read_bytes()


def test_read_compact_raises():
    from atomsieve.data.stream import read_compact

    with pytest.raises(Stopped):
        read_compact(default_path("test"), partition_size=5, should_stop=stop_after_first())
    assert read_compact(default_path("test"), should_stop=never).content_hash() == \
        read_compact(default_path("test")).content_hash()


def test_run_nvt_returns_the_run_so_far():
    from atomsieve.evaluate.md_run import STOPPED_ON_REQUEST, run_nvt

    cell = bulk("Cu", cubic=True).repeat(2)
    kwargs = {"temperature": 300, "n_steps": 30, "sample_every": 10}
    run = run_nvt(EMT(), cell, should_stop=stop_after_first(), **kwargs)
    assert run.steps.tolist() == [0, 10] and run.steps_run == 10
    assert run.stopped == STOPPED_ON_REQUEST and run.timed_out
    plain = run_nvt(EMT(), cell, **kwargs)
    polled = run_nvt(EMT(), cell, should_stop=never, **kwargs)
    assert plain.stopped is None and polled.stopped is None
    np.testing.assert_array_equal(plain.potential_energy, polled.potential_energy)
    np.testing.assert_array_equal(plain.final.positions, polled.final.positions)


def test_md_check_judges_the_frames_so_far():
    from atomsieve.evaluate.md_check import md_check

    cell = bulk("Cu", cubic=True).repeat(3)
    ref = [bulk("Cu", cubic=True).repeat(3)]
    kwargs = {"temperature": 300, "n_steps": 30, "equilibration_steps": 0, "sample_every": 10, "r_max": 5.0,
              "n_bins": 50, "nve_steps": 10}
    report = md_check(EMT(), cell, ref, should_stop=stop_after_first(), **kwargs)
    assert report.steps_run == 10 and report.verdict in ("timed-out", "unphysical")
    assert "stopped on request" in report.reasons[0]
    with pytest.raises(Stopped):  # a reference run cut short cannot judge anything
        md_check(EMT(), cell, EMT(), should_stop=stop_after_first(), **kwargs)
    plain = md_check(EMT(), cell, ref, **kwargs)
    polled = md_check(EMT(), cell, ref, should_stop=never, **kwargs)
    assert (plain.verdict, plain.mean_rdf_distance) == (polled.verdict, polled.mean_rdf_distance)


def test_generator_returns_the_samples_so_far():
    from atomsieve.generate import EntropyMaximisationGenerator

    def make():
        return EntropyMaximisationGenerator(n_configs=3, n_atoms=6, cell=(6.0, 6.0, 6.0), k_max=20.0,
                                            t_start=3000.0, n_steps=10, seed=1)

    stopped = make().fit(should_stop=stop_after_first())
    assert len(stopped.configurations_) == 2 and stopped.stopped_
    plain, polled = make().fit(), make().fit(should_stop=never)
    assert not plain.stopped_ and not polled.stopped_
    np.testing.assert_array_equal(plain.entropies_, polled.entropies_)
    np.testing.assert_array_equal(plain.entropies_[:2], stopped.entropies_)


def test_build_returns_the_structures_so_far():
    from atomsieve.builders import build

    options = {"n_pairs": 4, "frames_per_trajectory": 1, "interval": 2, "equilibration": 2}
    stopped = build("molten-nacl", 3, should_stop=stop_after_first(), **options)
    assert len(stopped) == 1
    plain = build("molten-nacl", 3, **options)
    polled = build("molten-nacl", 3, should_stop=never, **options)
    np.testing.assert_array_equal(plain.energies, polled.energies)
    assert stopped.energies[0] == plain.energies[0]
