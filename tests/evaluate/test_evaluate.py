"""Evaluation: coverage distances, learning curves, threshold curves, and the compare/coverage CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from emt_data import emt_clusters
from scipy.spatial.distance import cdist

from atomsieve import save
from atomsieve.cli import main
from atomsieve.descriptors import AtomicFeatures, SymmetryFunctions
from atomsieve.errors import ParameterError
from atomsieve.evaluate import coverage, coverage_table
from atomsieve.evaluate.context import build_context
from atomsieve.evaluate.curves import COLUMNS, learning_curves
from atomsieve.evaluate.thresholds import threshold_curves, threshold_error_grid


def small_descriptor(species=("Cu",)) -> SymmetryFunctions:
    radial = [{"form": "g2", "eta": eta, "r_s": 0.0} for eta in (0.3, 1.0, 3.0)]
    angular = [{"form": "g4", "eta": 0.05, "zeta": z, "lambda": 1.0} for z in (1.0, 4.0)]
    return SymmetryFunctions(list(species), 4.0, radial, angular)


@pytest.fixture(scope="module")
def pool():
    return emt_clusters(16, seed=1)


@pytest.fixture(scope="module")
def context(pool):
    return build_context(pool, test=emt_clusters(4, seed=2), descriptor=small_descriptor())


# ---------------------------------------------------------------------------------------------- coverage
def test_coverage_equals_brute_force_per_element():
    rng = np.random.default_rng(0)
    train = AtomicFeatures(values=rng.random((60, 5)), species=["H"] * 30 + ["O"] * 30,
                           structure=np.repeat(np.arange(6), 10))
    test = AtomicFeatures(values=rng.random((25, 5)), species=["H"] * 10 + ["O"] * 15,
                          structure=np.repeat(np.arange(5), 5))
    result = coverage(train, test)
    expected = np.concatenate([cdist(test.values[:10], train.values[:30]).min(1),
                               cdist(test.values[10:], train.values[30:]).min(1)])
    np.testing.assert_allclose(result.distances, expected, rtol=1e-12)
    assert result.mean == pytest.approx(expected.mean())
    assert result.median == pytest.approx(np.median(expected))
    assert result.max == pytest.approx(expected.max())
    assert result.by_element["O"]["n_test"] == 15 and result.by_element["H"]["n_train"] == 30
    assert coverage(train, train).max == 0.0


def test_coverage_of_an_element_missing_from_training_is_infinite():
    train = AtomicFeatures(values=[[0.0]], species=["H"], structure=[0])
    test = AtomicFeatures(values=[[0.0], [1.0]], species=["H", "O"], structure=[0, 0])
    result = coverage(train, test)
    assert result.by_element["H"]["max"] == 0.0 and np.isinf(result.by_element["O"]["max"])


def test_coverage_table_and_errors():
    a = AtomicFeatures(values=[[0.0, 0.0]], species=["H"], structure=[0])
    b = AtomicFeatures(values=[[3.0, 4.0], [0.0, 1.0]], species=["H", "H"], structure=[0, 0])
    rows = {(r["train"], r["test"]): r for r in coverage_table({"a": a, "b": b})}
    assert rows[("a", "b")]["max"] == pytest.approx(5.0)
    assert rows[("b", "a")]["max"] == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="features per atom"):
        coverage(a, AtomicFeatures(values=[[0.0]], species=["H"], structure=[0]))


# ---------------------------------------------------------------------------------------------- curves
def test_learning_curves_stream_rows_with_a_full_reference(pool, context):
    seen = []
    table = learning_curves(pool, methods=["random", "fps", "cur", "lebank", "energy", "force", "cluster"],
                            sizes=[4, 8], repeats=1, seed=3, context=context, on_row=seen.append)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 1 + 7 * 2 == len(seen)
    full = table[table["method"] == "full"].iloc[0]
    assert full["n_selected"] == pool.__len__()
    for column in ("rmse_e_train", "rmse_e_pred", "rmse_f_train", "rmse_f_pred"):
        assert np.isfinite(table[column]).all() and (table[column] >= 0).all()
    fixed = table[(table["method"] != "full") & (table["method"] != "lebank")]
    assert (fixed["n_selected"] == fixed["size"]).all()
    lebank = table[table["method"] == "lebank"]
    assert (abs(lebank["n_selected"] - lebank["size"]) <= 2).all()
    assert lebank["threshold"].str.startswith("Cu=").all()
    again = learning_curves(pool, methods=["random", "fps", "cur", "lebank", "energy", "force", "cluster"],
                            sizes=[4, 8], repeats=1, seed=3, context=context)
    pd.testing.assert_frame_equal(table.drop(columns=["select_seconds", "fit_seconds"]),
                                  again.drop(columns=["select_seconds", "fit_seconds"]))


def test_learning_curves_on_the_training_pool_score_the_whole_pool(pool):
    ctx = build_context(pool, descriptor=small_descriptor())
    table = learning_curves(pool, methods=["random"], sizes=[16], context=ctx)
    random_row = table[table["method"] == "random"].iloc[0]
    full_row = table[table["method"] == "full"].iloc[0]
    # Selecting everything is the full model; with no test set the prediction set is the pool.
    assert random_row["rmse_f_pred"] == pytest.approx(full_row["rmse_f_pred"], rel=1e-8)
    assert full_row["rmse_f_pred"] == pytest.approx(full_row["rmse_f_train"], rel=1e-12)


def test_learning_curves_can_be_cancelled(pool, context):
    done = []
    table = learning_curves(pool, methods=["random"], sizes=[3, 5, 7], repeats=2, context=context,
                            on_row=done.append, should_stop=lambda: len(done) >= 2)
    assert len(table) == 2


def test_learning_curves_repeats_use_different_seeds(pool, context):
    table = learning_curves(pool, methods=["random"], sizes=[5], repeats=3, reference=False, context=context)
    assert sorted(table["repeat"]) == [0, 1, 2]
    assert table["rmse_f_train"].nunique() > 1


def test_learning_curves_reject_bad_requests(pool, context):
    with pytest.raises(ParameterError, match="unknown selection method"):
        learning_curves(pool, methods=["magic"], sizes=[4], context=context)
    with pytest.raises(ParameterError, match="must lie in"):
        learning_curves(pool, methods=["random"], sizes=[400], context=context)
    with pytest.raises(ParameterError, match="model must be one of"):
        build_context(pool, descriptor=small_descriptor(), model="gp")


def test_learning_curves_with_the_neural_network(pool):
    ctx = build_context(pool, descriptor=small_descriptor(), model="bpnn",
                        model_params={"hidden": (4,), "max_epochs": 3})
    table = learning_curves(pool, methods=["random"], sizes=[6], model="bpnn", context=ctx)
    assert len(table) == 2 and np.isfinite(table["rmse_f_pred"]).all()


def test_threshold_curves_select_fewer_structures_as_the_threshold_grows(pool, context):
    table = threshold_curves(pool, [0.05, 0.2, 0.6], context=context)
    assert list(table["threshold_Cu"]) == [0.05, 0.2, 0.6]
    assert table["n_selected"].is_monotonic_decreasing
    assert {"rmse_f_train", "rmse_f_pred", "percent"} <= set(table.columns)


def test_threshold_grid_over_two_elements():
    alloy = emt_clusters(8, seed=4, gold=0.3)
    ctx = build_context(alloy, descriptor=small_descriptor(("Cu", "Au")))
    grid = threshold_error_grid(alloy, "Cu", [0.1, 0.5], "Au", [0.1, 0.5], context=ctx)
    assert len(grid) == 4
    assert {"threshold_Cu", "threshold_Au", "n_selected"} <= set(grid.columns)
    low = grid[(grid["threshold_Cu"] == 0.1) & (grid["threshold_Au"] == 0.1)]["n_selected"].item()
    high = grid[(grid["threshold_Cu"] == 0.5) & (grid["threshold_Au"] == 0.5)]["n_selected"].item()
    assert low >= high
    with pytest.raises(ParameterError, match="not in the data"):
        threshold_error_grid(alloy, "Cu", [0.1], "Pt", [0.1], context=ctx)


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def pool_file(tmp_path_factory, pool):
    folder = tmp_path_factory.mktemp("compare")
    save(pool, folder / "pool.extxyz")
    save(emt_clusters(3, seed=5), folder / "test.extxyz")
    return folder


def test_cli_compare_writes_the_table_and_a_plot(pool_file, capsys):
    out = pool_file / "curves.csv"
    code = main(["compare", str(pool_file / "pool.extxyz"), "--methods", "random,fps", "--sizes", "4,8",
                 "--test", str(pool_file / "test.extxyz"), "--cutoff", "4.0", "--output", str(out),
                 "--plot", str(pool_file / "curves.png")])
    assert code == 0
    table = pd.read_csv(out)
    assert set(table["method"]) == {"full", "random", "fps"} and len(table) == 5
    assert (pool_file / "curves.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out
    html = pool_file / "curves.html"
    assert main(["compare", str(pool_file / "pool.extxyz"), "--methods", "random", "--sizes", "4",
                 "--cutoff", "4.0", "--output", str(pool_file / "c2.csv"), "--plot", str(html)]) == 0
    assert "plotly" in html.read_text()[:200000].lower()


def test_cli_compare_errors_are_one_line(pool_file, capsys):
    args = ["compare", str(pool_file / "pool.extxyz"), "--sizes", "4", "--cutoff", "4.0"]
    assert main([*args, "--methods", "magic", "--output", str(pool_file / "x.csv")]) == 2
    assert "unknown selection method" in capsys.readouterr().err
    (pool_file / "exists.csv").write_text("x")
    assert main([*args, "--methods", "random", "--output", str(pool_file / "exists.csv")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_coverage_prints_the_distance_table(pool_file, capsys):
    code = main(["coverage", str(pool_file / "pool.extxyz"), str(pool_file / "test.extxyz"),
                 "--cutoff", "4.0"])
    assert code == 0
    out = capsys.readouterr().out
    assert "mean" in out and "median" in out and "max" in out
    assert any(line.startswith("Cu ") for line in out.splitlines())


def test_learning_curves_in_threads_by_default_match_serial(pool, context):
    methods, sizes = ["random", "fps", "lebank"], [4, 8]
    serial = learning_curves(pool, methods=methods, sizes=sizes, context=context, scheduler="serial")
    threads = learning_curves(pool, methods=methods, sizes=sizes, context=context)
    columns = ["method", "size", "n_selected", "rmse_e_pred", "rmse_f_pred"]
    pd.testing.assert_frame_equal(serial[columns], threads[columns])


@pytest.mark.slow
def test_learning_curves_on_a_local_dask_cluster_match_serial(pool, context):
    pytest.importorskip("distributed")
    serial = learning_curves(pool, methods=["random", "fps"], sizes=[4, 8], context=context)
    parallel = learning_curves(pool, methods=["random", "fps"], sizes=[4, 8], context=context,
                               scheduler="local")
    columns = ["method", "size", "n_selected", "rmse_e_pred", "rmse_f_pred"]
    pd.testing.assert_frame_equal(serial[columns], parallel[columns])
