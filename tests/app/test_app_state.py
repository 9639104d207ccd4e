"""Dashboard state without a browser: thresholds in -> counts, histogram data, curves, exports out."""

from __future__ import annotations

import io

import ase.io
import numpy as np
import pytest

from atomsieve.app.export import rows_csv, subset_bytes
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.selection_state import HISTOGRAM_BINS, OUTCOMES, SelectionState
from atomsieve.app.state import UPLOAD_LIMIT_BYTES, DatasetState, safe_filename
from atomsieve.app.studies_state import StudiesState
from atomsieve.datasets import default_path, load_default
from atomsieve.errors import DataError
from atomsieve.selectors import LEBank


@pytest.fixture(scope="module")
def features_state():
    fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    fs.compute_now()
    return fs


@pytest.fixture
def selection(features_state):
    return SelectionState(features_state=features_state, synchronous=True)


def test_thresholds_in_counts_out_match_lebank(selection, features_state):
    selection.thresholds = {"Ge": 0.4}
    out = selection.outcome
    reference = LEBank(thresholds={"Ge": 0.4}, seed=0).fit(features_state.features)
    assert out.selected.tolist() == reference.selected_.tolist()
    assert out.n_structures == len(reference.selected_)
    assert out.n_atoms == reference.n_selected_atoms_
    assert out.bank_size == len(reference.bank_)
    assert out.percent_structures(25) == pytest.approx(100 * out.n_structures / 25)


def test_larger_threshold_selects_no_more_atoms_in_the_bank(selection):
    sizes = []
    for t in (0.2, 0.5, 0.9):
        selection.thresholds = {"Ge": t}
        sizes.append(selection.outcome.bank_size)
    assert sizes[0] > sizes[1] > sizes[2]


def test_seed_and_shuffle_change_the_key_and_are_cached(selection):
    selection.thresholds = {"Ge": 0.3}
    first_key = selection.outcome.key
    selection.shuffle = True
    assert selection.outcome.key != first_key
    selection.shuffle = False
    assert OUTCOMES.get(first_key) is selection.outcome  # returning costs nothing


def test_histogram_fixed_bins_full_vs_selected(selection):
    selection.thresholds = {"Ge": 0.3}
    hist = selection.histogram(feature_index=5)
    assert len(hist["edges"]) == HISTOGRAM_BINS + 1 and len(hist["full"]) == HISTOGRAM_BINS
    assert hist["n_full"] == 1568
    assert hist["full"].sum() == pytest.approx(1.0) and hist["selected"].sum() == pytest.approx(1.0)
    assert hist["n_selected"] == selection.outcome.n_atoms
    selection.thresholds = {"Ge": 0.9}
    again = selection.histogram(feature_index=5)
    np.testing.assert_array_equal(again["edges"], hist["edges"])  # bins do not move with the selection
    assert again["n_selected"] < hist["n_selected"]


def test_background_selection_newest_request_wins(features_state):
    sel = SelectionState(features_state=features_state, synchronous=False, prefetch=False)
    OUTCOMES.clear()
    for t in (0.31, 0.33, 0.35):
        sel.thresholds = {"Ge": t}
    for _ in range(3):  # the running fit, then the coalesced newest one
        for job in list(sel.background.jobs):
            job.join(60)
    assert sel.outcome is not None and dict(sel.outcome.key[2]) == {"Ge": 0.35}
    assert not sel.busy


def test_threshold_curve_streams_points(selection):
    studies = StudiesState(selection=selection)
    seen = []
    studies.param.watch(lambda e: seen.append(len(e.new.get("threshold", []))), "curve")
    assert studies.run_curve(thresholds=(0.2, 0.6, 1.0)).join(120)
    assert studies.curve["threshold"] == [0.2, 0.6, 1.0]
    assert seen[-3:] == [1, 2, 3]  # one point at a time
    assert studies.curve["structures"][0] >= studies.curve["structures"][-1]


def test_shuffle_study_and_cancel(selection):
    selection.thresholds = {"Ge": 0.5}
    studies = StudiesState(selection=selection)
    assert studies.run_shuffles(n_runs=4, chunk=2).join(120)
    assert studies.shuffles["seed"] == [0, 1, 2, 3]
    assert all(1 <= s <= 25 for s in studies.shuffles["structures"])
    job = studies.run_shuffles(n_runs=40, chunk=1)
    job.cancel()
    assert job.join(120)
    assert len(studies.shuffles.get("seed", [])) < 40


def test_budget_calibration_sets_thresholds(selection):
    studies = StudiesState(selection=selection)
    assert studies.calibrate(10).join(180)
    assert studies.calibration is not None
    assert abs(selection.outcome.n_structures - 10) <= max(2, abs(studies.calibration.count - 10))


def test_export_subset_round_trip_extxyz_and_db(tmp_path):
    ds = load_default("test")
    for suffix in (".extxyz", ".db"):
        path = tmp_path / f"sel{suffix}"
        path.write_bytes(subset_bytes(ds, [4, 0, 7], suffix))
        frames = ase.io.read(path, ":")
        assert [len(a) for a in frames] == [len(ds.atoms[i]) for i in (4, 0, 7)]
        assert frames[1].get_potential_energy() == pytest.approx(ds.energies[0])
    with pytest.raises(DataError, match="nothing is selected"):
        subset_bytes(ds, [], ".extxyz")
    assert rows_csv([{"a": 1, "b": 2}]).decode() == "a,b\n1,2\n"


def test_upload_errors_keep_the_dataset(tmp_path):
    state = DatasetState.from_path()
    before = state.dataset
    with pytest.raises(DataError, match="broken.extxyz"):
        state.load_upload("broken.extxyz", b"3\nnot a header\nGe 0 0\n")
    with pytest.raises(DataError, match="pickle"):
        state.load_upload("evil.pkl", b"\x80\x04K\x01.")
    with pytest.raises(DataError, match="upload limit"):
        state.load_upload("big.extxyz", b"x" * (UPLOAD_LIMIT_BYTES + 1))
    assert state.dataset is before
    ds = state.load_upload("../../ge test.extxyz", default_path("test").read_bytes())
    assert len(ds) == 25 and state.title == "../../ge test.extxyz (uploaded)"


def test_open_by_path_confined_to_data_dir(tmp_path):
    inside = tmp_path / "data"
    inside.mkdir()
    (inside / "ge.extxyz").write_bytes(default_path("test").read_bytes())
    state = DatasetState.from_path(inside / "ge.extxyz", data_dir=inside)
    assert len(state.dataset) == 25
    with pytest.raises(DataError, match="outside the data folder"):
        state.load_path(default_path("test"))
    with pytest.raises(DataError, match="outside the data folder"):
        state.load_path(inside / ".." / ".." / "etc" / "passwd")


def test_safe_filename_strips_folders_and_odd_characters():
    assert safe_filename("../../x/y.extxyz") == "y.extxyz"
    assert safe_filename("a b;rm -rf.db") == "a_b_rm_-rf.db"
    assert "/" not in safe_filename("/etc/")


def test_export_panel_writes_the_selection(selection):
    from atomsieve.app.export_panel import ExportPanel

    selection.thresholds = {"Ge": 0.6}
    panel = ExportPanel(data=selection.features_state.data, selection=selection)
    frames = ase.io.read(io.StringIO(panel._subset_file().read().decode()), ":", format="extxyz")
    assert len(frames) == selection.outcome.n_structures


def test_served_page_adds_no_process_wide_busy_indicator():
    """Panel keeps one busy flag per process and sets every registered indicator from it: a template
    spinner per session would be restyled in all sessions whenever any one of them handles an event."""
    import panel as pn
    from bokeh.document import Document

    from atomsieve.app.serve import make_app

    before = list(pn.state._indicators)
    make_app(load_default("test"), title="Ge test").server_doc(Document())
    assert pn.state._indicators == before
