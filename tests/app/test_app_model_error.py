"""The live model-error state: thresholds in, RMSE of the selection and of the other methods out."""

from __future__ import annotations

import numpy as np
import pytest

from atomsieve.app.background import Background
from atomsieve.app.compare_state import context_key, evaluation_context
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.model_error_state import ModelErrorState, curve_sizes, nearest_first
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.datasets import load_default
from atomsieve.evaluate.jobs import train_and_score
from atomsieve.evaluate.selection import select
from atomsieve.potentials.linear import LinearModel

R_CUT = 3.0  # few neighbours: quick fingerprint derivatives


@pytest.fixture(scope="module")
def pool():
    return load_default("test")  # 25 germanium structures, 1,568 atoms


def make_states(pool, synchronous=True, **params):
    fs = FeaturesState(data=DatasetState(dataset=pool, title="Ge test"), r_cut=R_CUT)
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    errors = ModelErrorState(selection=sel, synchronous=synchronous, **params)
    if synchronous:
        errors.prepare_now()
    return sel, errors


def test_cards_equal_training_the_same_model_on_the_same_selection_directly(pool):
    sel, errors = make_states(pool, methods=["fps", "random"])
    for t in (0.3, 0.6):
        sel.thresholds = {"Ge": t}
        chosen = sel.outcome.selected
        # The same linear model fitted by hand on the selected structures, scored on the whole pool.
        ctx = evaluation_context(pool, None, "linear", sel.features_state.descriptor())
        model = LinearModel().fit(ctx.prepared, structures=chosen)
        pred = model.score(ctx.prepared)
        assert errors.current["n_selected"] == len(chosen) == sel.outcome.n_structures
        assert errors.current["rmse_f_pred"] == pytest.approx(1000 * pred["rmse_f"], rel=1e-9)
        assert errors.current["rmse_e_pred"] == pytest.approx(1000 * pred["rmse_e"], rel=1e-9)
        # "At this size": FPS and random select the same number of structures; same model, same scores.
        for method in ("fps", "random"):
            picked, _, _ = select(ctx.features, method, len(chosen), sel.seed, pool)
            direct = train_and_score(ctx, picked, sel.seed)
            row = errors.at_size[method]
            assert row["n_selected"] == len(chosen)
            assert row["rmse_f_pred"] == pytest.approx(direct["rmse_f_pred"], rel=1e-9)
            assert row["rmse_e_pred"] == pytest.approx(direct["rmse_e_pred"], rel=1e-9)
        assert errors.at_size["lebank"]["rmse_f_pred"] == errors.current["rmse_f_pred"]
    assert errors.summary()["at_size"]["fps"]["n_selected"] == sel.outcome.n_structures
    meta = errors.metadata()
    assert meta["atomsieve_rmse_f_pred_meV_per_A"] == round(errors.current["rmse_f_pred"], 4)


def test_size_in_atoms_picks_the_structure_count_closest_in_atoms(pool):
    sel, errors = make_states(pool, methods=["fps"], size_unit="atoms")
    sel.thresholds = {"Ge": 0.4}
    target = errors.current["n_atoms"]
    row = errors.at_size["fps"]
    ctx = errors.context
    # No other number of FPS structures holds a number of atoms closer to the selection's.
    gaps = []
    for n in range(1, len(pool) + 1):
        picked, _, _ = select(ctx.features, "fps", n, sel.seed, pool)
        gaps.append(abs(int(ctx.prepared.atom_counts[picked].sum()) - target))
    assert abs(row["n_atoms"] - target) == min(gaps)


def test_stale_results_never_overwrite_newer_ones(pool):
    sel, errors = make_states(pool, methods=["random"])
    sel.thresholds = {"Ge": 0.3}
    old_key, old_row = errors.current["key"], {k: v for k, v in errors.current.items() if k != "key"}
    sel.thresholds = {"Ge": 0.7}
    newer = dict(errors.current)
    assert newer["n_selected"] != old_row["n_selected"]
    errors._deliver(("current", old_key, old_row))  # an old job's result arriving late
    errors._deliver(("at_size", old_key, {**old_row, "method": "random"}))
    assert errors.current == newer
    assert errors.at_size["random"]["n_selected"] == newer["n_selected"]


def test_background_requests_coalesce_and_the_newest_wins(pool):
    sel, errors = make_states(pool, synchronous=False, methods=["fps", "cur", "random"], auto_curves=False,
                              background=Background())
    assert errors.preparing or errors.ready
    errors._prepare_job.join(300)
    for job in list(errors.background.jobs):
        job.join(300)
    assert errors.ready
    for t in (0.25, 0.35, 0.45, 0.55):  # moves faster than the scoring: only the last one must show
        sel.thresholds = {"Ge": t}
    for job in list(errors.background.jobs):
        assert job.join(300)
    assert errors.current_is_fresh
    assert errors.current["n_selected"] == sel.outcome.n_structures
    assert set(errors.at_size) == {"lebank", "fps", "cur", "random"}
    assert all(r["n_selected"] == sel.outcome.n_structures for r in errors.at_size.values())
    assert not errors.training


def test_curves_fill_nearest_first_and_give_the_threshold_curve(pool):
    sel, errors = make_states(pool, methods=["fps", "random"])
    sel.thresholds = {"Ge": 0.5}
    errors.fill_curves()
    sizes = curve_sizes(len(pool))
    for method in ("fps", "random"):
        xs, ys = errors.series(method)
        assert set(sizes) <= set(int(x) for x in xs)
        assert all(y > 0 for y in ys)
    curve = errors.threshold_curve()
    assert len(curve["threshold"]) >= 15  # every swept threshold that selects anything
    for t, n in zip(curve["threshold"], curve["n_selected"], strict=True):  # the slider's own selections
        sel.thresholds = {"Ge": t}
        assert n == sel.outcome.n_structures
    assert curve["n_selected"][0] > curve["n_selected"][-1]  # larger thresholds select fewer
    # Training error of the sweep is the fit on the selection; prediction error on the whole pool.
    assert all(p > 0 and t > 0 for p, t in zip(curve["rmse_f_pred"], curve["rmse_f_train"], strict=True))
    rows = errors.curve_rows()
    assert {"fps", "random", "lebank", "lebank (current)"} <= {r["method"] for r in rows}


def test_nearest_first_and_grid():
    assert nearest_first([1, 4, 16, 64], 10) == [16, 4, 64, 1]
    assert curve_sizes(25) == sorted(set(curve_sizes(25)))
    assert max(curve_sizes(25)) < 25


def test_selection_export_carries_the_rmse_in_its_metadata(pool, tmp_path):
    import io

    import ase.io

    from atomsieve.app.export import subset_bytes

    sel, errors = make_states(pool, methods=[])
    sel.thresholds = {"Ge": 0.5}
    data = subset_bytes(pool, sel.selected_indices(), ".extxyz", info=errors.metadata())
    frames = ase.io.read(io.StringIO(data.decode()), ":", format="extxyz")
    assert len(frames) == sel.outcome.n_structures
    value = frames[0].info["atomsieve_rmse_f_pred_meV_per_A"]
    assert value == pytest.approx(errors.current["rmse_f_pred"], abs=1e-4)
    assert "atomsieve_rmse_f_pred_meV_per_A" not in pool.atoms[int(sel.selected_indices()[0])].info
    assert np.isfinite(frames[0].get_potential_energy())


def test_error_grid_over_two_elements_equals_the_slider_selections(tmp_path):
    from emt_data import emt_clusters

    ds = emt_clusters(30, seed=3, gold=0.3)
    fs = FeaturesState(data=DatasetState(dataset=ds, title="CuAu"), r_cut=4.0)
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    errors = ModelErrorState(selection=sel, methods=["random"], synchronous=True)
    errors.prepare_now()
    assert errors.current["n_selected"] == sel.outcome.n_structures
    with pytest.raises(Exception, match="two different elements"):
        errors.run_error_grid("Cu", "Cu")
    errors.run_error_grid("Au", "Cu", thresholds=(0.2, 0.6))
    grid = errors.error_grid
    assert errors.error_grid_elements == ["Au", "Cu"] and errors.grid_progress == 1.0
    assert len(grid["T_Au"]) == 4
    for a, b, n, f in zip(grid["T_Au"], grid["T_Cu"], grid["n_selected"], grid["rmse_f_pred"], strict=True):
        sel.thresholds = {"Au": a, "Cu": b}  # the slider at that grid point shows the same selection and RMSE
        assert sel.outcome.n_structures == n
        assert errors.current["rmse_f_pred"] == pytest.approx(f, rel=1e-12)


def test_export_panel_writes_the_curves_csv_and_the_rmse_into_the_subset(pool):
    import csv
    import io

    import ase.io

    from atomsieve.app.export_panel import ExportPanel
    from atomsieve.app.model_error_state import ROW_COLUMNS

    sel, errors = make_states(pool, methods=["random"])
    sel.thresholds = {"Ge": 0.5}
    errors.fill_curves(max_points=4)
    panel = ExportPanel(data=sel.features_state.data, selection=sel, model_error=errors)
    rows = list(csv.DictReader(io.StringIO(panel._model_error_file().getvalue().decode())))
    assert list(rows[0]) == list(ROW_COLUMNS)
    assert len(rows) == len(errors.curves) + 1  # every curve point and the current selection
    current = [r for r in rows if r["method"] == "lebank (current)"]
    assert float(current[0]["rmse_f_pred"]) == pytest.approx(errors.current["rmse_f_pred"])
    frames = ase.io.read(io.StringIO(panel._subset_file().getvalue().decode()), ":", format="extxyz")
    assert len(frames) == sel.outcome.n_structures
    assert frames[0].info["atomsieve_model"] == "linear"
    sel.thresholds = {"Ge": 0.6}
    errors._wanted = None  # as if the new selection's numbers were still being computed
    errors.current = {**errors.current, "key": None}
    frames = ase.io.read(io.StringIO(panel._subset_file().getvalue().decode()), ":", format="extxyz")
    assert "atomsieve_model" not in frames[0].info  # stale numbers are not written into the file


def test_a_new_descriptor_rescores_with_the_new_model_input(pool):
    sel, errors = make_states(pool, synchronous=False, methods=[], auto_curves=False, background=Background())

    def jobs():  # the fingerprints' too: setting r_cut starts a computation of its own
        return [*errors.background.jobs, *sel.background.jobs, *sel.features_state.background.jobs]

    def settle():
        # A job's callbacks may start the next job (model input, selection, scoring) before the job
        # counts as finished, so once no job runs, none is pending; a fixed number of rounds missed
        # longer chains.
        while any(job.running for job in jobs()):
            for job in jobs():
                assert job.join(300)

    def stale() -> str:  # what a failure needs to be understood
        key, cur = errors.request_key(), errors.current.get("key")
        return (f"request key {key and key[1:]}, current {cur and cur[1:]}, same context "
                f"{key is not None and cur is not None and key[0] == cur[0]}, outcome "
                f"{sel.outcome and sel.outcome.key}, current outcome {sel.outcome_is_current()}, "
                f"jobs {[(j.label, j.running) for j in jobs()]}")

    settle()
    assert errors.current_is_fresh, stale()
    sel.synchronous = False  # as served: the new selection arrives after the new model input is asked for
    fs = sel.features_state
    fs.r_cut = 3.5
    fs.compute_now()  # new features: new selection, new model input, new numbers
    settle()
    # Keyed on the new descriptor (the object itself may have been rebuilt: the process keeps one).
    assert errors._ckey == context_key(pool, None, "linear", fs.descriptor())
    assert errors.context.features.params == fs.features.params
    direct = train_and_score(errors.context, sel.outcome.selected, sel.seed)
    assert errors.current_is_fresh, stale()
    assert errors.current["rmse_f_pred"] == pytest.approx(direct["rmse_f_pred"], rel=1e-9)


def test_greedy_methods_at_any_size_are_the_first_structures_of_their_ordering(pool):
    from atomsieve.app.model_error_state import PREFIX_METHODS, method_order

    _, errors = make_states(pool, methods=list(PREFIX_METHODS))
    ctx = errors.context
    for method in PREFIX_METHODS:
        order, _ = method_order(ctx, errors._ckey, method, 0)
        assert sorted(order.tolist()) == list(range(len(pool)))
        for n in (1, 2, 7, 13, 24):
            picked, _, _ = select(ctx.features, method, n, 0, pool)
            assert picked.tolist() == order[:n].tolist()
            assert method_order(ctx, errors._ckey, method, 0, n)[0][:n].tolist() == picked.tolist()


def test_greedy_orderings_are_computed_as_prefixes_that_grow(pool, monkeypatch):
    from atomsieve.app import model_error_state
    from atomsieve.app.model_error_state import method_order

    _, errors = make_states(pool, methods=["fps"])
    monkeypatch.setattr(model_error_state, "MIN_ORDER", 3)
    model_error_state._ORDERS.clear()
    ctx, ckey = errors.context, errors._ckey
    assert len(method_order(ctx, ckey, "fps", 0, 2)[0]) == 3  # at least MIN_ORDER
    assert len(method_order(ctx, ckey, "fps", 0, 3)[0]) == 3  # served from the prefix
    longer = method_order(ctx, ckey, "fps", 0, 4)[0]
    assert len(longer) == 6  # twice the longest so far
    assert longer.tolist() == select(ctx.features, "fps", 6, 0, pool)[0].tolist()
    assert len(method_order(ctx, ckey, "fps", 0)[0]) == len(pool)


def test_a_new_seed_replaces_the_curves_of_the_old_one(pool):
    sel, errors = make_states(pool, methods=["random"])
    errors.fill_curves()
    assert {r["seed"] for r in errors.curves} == {0}
    sel.seed = 1
    errors.fill_curves()
    assert {r["seed"] for r in errors.curves} == {1}
    xs, _ = errors.series("random")
    assert set(curve_sizes(len(pool))) <= {int(x) for x in xs}


def test_the_network_choice_trains_to_completion_and_equals_training_it_directly(pool):
    """The Behler–Parrinello choice gives finished rows (not only a cancel) equal to a direct fit."""
    fs = FeaturesState(data=DatasetState(dataset=pool, title="Ge test"), r_cut=R_CUT)
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    errors = ModelErrorState(selection=sel, synchronous=True, model="bpnn", methods=[])
    context = errors.prepare_now()
    # A short training budget (the default's 500 L-BFGS epochs take minutes on a busy machine); the
    # shared context is put back as it was, and its key names the model, so no other test sees it.
    context.model_params["max_epochs"] = 10
    try:
        sel.thresholds = {"Ge": 0.5}
        assert not errors.training and errors.current["model"] == "bpnn"
        assert errors.current["n_selected"] == sel.outcome.n_structures
        direct = train_and_score(context, sel.outcome.selected, sel.seed)
    finally:
        del context.model_params["max_epochs"]
    for key in ("rmse_f_pred", "rmse_e_pred", "rmse_f_train", "rmse_e_train"):
        assert np.isfinite(direct[key])
        assert errors.current[key] == pytest.approx(direct[key], rel=1e-6)
