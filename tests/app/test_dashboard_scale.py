"""Issue 18, the dashboard at scale: structures as flat arrays (CompactFrames) give the same dataset,
hash, selections and written files as the list of Atoms; the bounded-memory helpers agree with the
whole-array computations they replace. Correctness only; seconds and memory are in benchmarks/."""

from __future__ import annotations

import filecmp

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms

from atomsieve import load, save
from atomsieve.data import Dataset
from atomsieve.data.frames import CompactFrames
from atomsieve.data.stream import read_compact
from atomsieve.datasets import default_path


@pytest.fixture(scope="module")
def both():
    return load(default_path("test")), read_compact(default_path("test"), partition_size=7)


def same_atoms(a: Atoms, b: Atoms) -> None:
    assert a == b  # numbers, positions, cell, pbc
    assert a.info == b.info
    assert sorted(a.arrays) == sorted(b.arrays)
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])
    ra = {} if a.calc is None else a.calc.results
    rb = {} if b.calc is None else b.calc.results
    assert sorted(ra) == sorted(rb)
    for key in ra:
        np.testing.assert_array_equal(ra[key], rb[key])


def test_compact_read_is_the_loaded_dataset(both):
    listed, compact = both
    assert isinstance(compact.atoms, CompactFrames) and compact.is_compact and not listed.is_compact
    assert compact.content_hash() == listed.content_hash()
    assert compact.structure_hash() == listed.structure_hash()
    assert (compact.energy_key, compact.forces_key) == (listed.energy_key, listed.forces_key)
    for name in ("numbers", "structure_index", "atom_counts", "offsets", "energies", "forces"):
        np.testing.assert_array_equal(getattr(compact, name), getattr(listed, name))
    assert compact.formulas() == listed.formulas()
    assert compact.atoms.nbytes / compact.n_atoms < 100  # bytes per atom, against ~2.8 kB as Atoms
    for i in (0, 7, len(listed) - 1, -1):
        same_atoms(listed.atoms[i], compact.atoms[i])
    assert [len(a) for a in compact.atoms[3:9:2]] == [len(a) for a in listed.atoms[3:9:2]]


def test_compact_subset_and_written_files_are_identical(both, tmp_path):
    listed, compact = both
    order = [9, 2, 17, 2, 0]
    a, b = listed.subset(order), compact.subset(order)
    assert isinstance(b.atoms, CompactFrames)
    assert a.content_hash() == b.content_hash()
    np.testing.assert_array_equal(a.forces, b.forces)
    for name, options in (("plain.extxyz", {}), ("mace.extxyz", {"label_prefix": "REF_"}),
                          ("frames.traj", {})):
        pa = save(a, tmp_path / f"list_{name}", **options)
        pb = save(b, tmp_path / f"compact_{name}", **options)
        assert filecmp.cmp(pa, pb, shallow=False), name
    import ase.db

    rows = []
    for who, ds in (("list", a), ("compact", b)):
        path = save(ds, tmp_path / f"{who}.db")
        with ase.db.connect(str(path)) as db:  # equal but for the write times
            rows.append([(r.toatoms(), r.key_value_pairs, r.get("energy"), r.data) for r in db.select()])
    for ra, rb in zip(*rows, strict=True):
        same_atoms(ra[0], rb[0])
        assert ra[1:3] == rb[1:3] and str(ra[3]) == str(rb[3])


def test_frames_of_another_layout_are_kept_whole():
    plain = bulk("Cu", cubic=True)
    plain.calc = SinglePointCalculator(plain, energy=-1.0, forces=np.ones((4, 3)))
    extra = bulk("Cu")
    extra.arrays["charges"] = np.array([0.5])
    fixed = bulk("Al", cubic=True)
    fixed.set_constraint(FixAtoms([0]))
    frames = [plain, extra, fixed, plain.copy()]
    frames[3].calc = SinglePointCalculator(frames[3], energy=-2.0, forces=np.zeros((4, 3)))
    compact = CompactFrames.from_atoms(frames)
    assert sorted(compact.kept) == [1, 2]
    for a, b in zip(frames, compact, strict=True):
        same_atoms(a, b)
    assert compact[2].constraints and "charges" in compact[1].arrays
    assert Dataset(compact).content_hash() == Dataset(frames).content_hash()
    sub = compact.subset([3, 1])
    same_atoms(sub[0], frames[3])
    same_atoms(sub[1], frames[1])


def test_compact_dataset_gives_the_same_features_and_selections(both):
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import SelectionState
    from atomsieve.app.state import DatasetState

    listed, compact = both
    results = []
    for ds in (listed, compact):
        fs = FeaturesState(data=DatasetState(dataset=ds, title="t"), r_cut=3.0)
        feats = fs.compute_now()
        sel = SelectionState(features_state=fs, synchronous=True)
        counts = []
        for t in (0.2, 0.35, 0.6):
            sel.thresholds = {"Ge": t}
            counts.append((sel.outcome.selected.tolist(), sel.outcome.n_atoms, sel.outcome.bank_size))
        results.append((feats.values, counts, sel.histogram()["full"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    np.testing.assert_array_equal(results[0][2], results[1][2])


def test_a_large_file_is_opened_as_compact_frames(monkeypatch):
    from atomsieve.app.state import DatasetState

    monkeypatch.setenv("ATOMSIEVE_STREAM_BYTES", "1000")  # every file is "large"
    seen = []
    state = DatasetState.from_path(default_path("test"), progress=lambda done, total, label="": seen.append(
        (done, total)))
    assert state.dataset.is_compact and seen[-1] == (25, 25)
    assert state.dataset.content_hash() == load(default_path("test")).content_hash()
    assert "energy" in state.energy_keys and "forces" in state.forces_keys
    state.reload_with_keys("energy", "forces")
    assert state.dataset.is_compact
    monkeypatch.setenv("ATOMSIEVE_STREAM_BYTES", str(2**40))
    assert not DatasetState.from_path(default_path("test")).dataset.is_compact


def test_exports_from_compact_frames_are_identical(both):
    from atomsieve.app.export import subset_bytes

    listed, compact = both
    for suffix, prefix, info in ((".extxyz", None, None), (".extxyz", "REF_", {"rmse": 1.5})):
        assert (subset_bytes(listed, [4, 1, 8], suffix, info=info, label_prefix=prefix)
                == subset_bytes(compact, [4, 1, 8], suffix, info=info, label_prefix=prefix))
    assert "rmse" not in compact.atoms[4].info  # the dataset's structures are left unchanged


def test_plane_projection_sampled_and_chunked(monkeypatch):
    from sklearn.decomposition import PCA

    import atomsieve.app.projection as projection
    from atomsieve.descriptors import AtomicFeatures

    rng = np.random.default_rng(1)
    values = rng.normal(size=(3000, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    feats = AtomicFeatures(values=values, species=["H"] * 3000, structure=np.repeat(np.arange(300), 10))
    full = projection.plane_projection(feats)
    ref = PCA(n_components=2, random_state=0).fit(values)
    np.testing.assert_allclose(full["atoms"], ref.transform(values))
    monkeypatch.setattr(projection, "PROJECT_CHUNK", 700)
    sampled = projection.plane_projection(feats, fit_atoms=1000)
    assert sampled["sample"] == 1000 and sampled["atoms"].shape == (3000, 2)
    np.testing.assert_allclose(sampled["atoms"], sampled["pca"].transform(values))
    # the same plane up to the sign of each axis: the dominant directions are found from the sample
    cos = np.abs(np.sum(sampled["pca"].components_ * ref.components_, axis=1))
    assert np.all(cos > 0.99)


def test_most_varied_feature_in_chunks_is_the_whole_array_answer(both, monkeypatch):
    import atomsieve.app.selection_state as selection_state
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.state import DatasetState

    fs = FeaturesState(data=DatasetState(dataset=both[1], title="t"), r_cut=3.0)
    fs.compute_now()
    sel = selection_state.SelectionState(features_state=fs, synchronous=True)
    whole = sel.most_varied_feature("Ge")
    monkeypatch.setattr(selection_state, "STD_CHUNK", 100)
    assert sel.most_varied_feature("Ge") == whole


def test_model_input_over_the_limit_is_refused_with_its_size(both, monkeypatch):
    from atomsieve.app.compare_state import check_model_input
    from atomsieve.errors import ParameterError

    check_model_input(both[1])
    monkeypatch.setenv("ATOMSIEVE_MODEL_INPUT_BYTES", "1e6")
    with pytest.raises(ParameterError, match=r"1,568 atoms .* about 0\.\d GiB, more than"):
        check_model_input(both[1])


def test_the_data_panel_reads_a_large_file_in_the_background(monkeypatch):
    from atomsieve.app.background import Background
    from atomsieve.app.data_panel import DataPanel
    from atomsieve.app.state import DatasetState

    monkeypatch.setenv("ATOMSIEVE_STREAM_BYTES", "1000")
    state = DatasetState.from_path()
    seen = []
    state.param.watch(lambda e: seen.append(e.new), ["load_progress"])
    panel = DataPanel(state=state, background=Background())
    job = panel.open_path(default_path("test"))
    assert job.join(120) and job.error is None
    assert state.dataset.is_compact and len(state.dataset) == 25 and not state.loading
    assert seen and seen[-1] == 1.0 and state.source_path == str(default_path("test"))
    assert panel.open_path("/no/such/file.extxyz") is None  # notified, the dataset kept
    assert len(state.dataset) == 25


def test_the_chunked_lebank_fit_is_the_whole_array_fit(both, monkeypatch):
    import atomsieve.app.feature_chunks as feature_chunks
    from atomsieve.app.features_state import features_for
    from atomsieve.app.outcomes import fit_outcome

    feats = features_for(both[1], r_cut=3.0)
    for t in (0.15, 0.3, 0.7):
        for seed in (0, 3):
            whole = fit_outcome(feats, ("k",), {"Ge": t}, seed, False)
            monkeypatch.setattr(feature_chunks, "STREAM_FIT_ATOMS", 0)
            monkeypatch.setattr(feature_chunks, "CHUNK_ATOMS", 300)
            chunked = fit_outcome(feats, ("k",), {"Ge": t}, seed, False)
            monkeypatch.undo()
            assert chunked.selected.tolist() == whole.selected.tolist()
            assert (chunked.n_atoms, chunked.bank_size) == (whole.n_atoms, whole.bank_size)
            np.testing.assert_array_equal(np.sort(chunked.bank_rows), np.sort(whole.bank_rows))
            np.testing.assert_array_equal(chunked.bank.vectors[np.argsort(chunked.bank_rows)],
                                          whole.bank.vectors[np.argsort(whole.bank_rows)])


def test_a_refused_model_input_is_said_on_the_panel(monkeypatch):
    from atomsieve.app.dashboard import Dashboard
    from atomsieve.app.model_error_view import ModelErrorPanel

    monkeypatch.setenv("ATOMSIEVE_MODEL_INPUT_BYTES", "1e6")
    dash = Dashboard(read_compact(default_path("test")))
    assert dash.wait(300)
    view = ModelErrorPanel(model_error=dash.model_error)
    view.refresh_text()
    assert not dash.model_error.ready
    assert dash.model_error.status.startswith("model error off: the model input")
    assert "GiB allowed" in dash.model_error.status
    assert "no model error for this dataset" in view.text.object
    assert np.isnan(view.force.value) and np.isnan(view.energy.value)  # shown as "–", not 0.0 meV/Å
