"""Compare panel and environment map state without a browser: rows stream, cancel stops, PCA data."""

from __future__ import annotations

import numpy as np
import pytest

from atomsieve.app.compare_state import CompareState, parse_sizes
from atomsieve.app.learning_curves import LearningCurves, curve_series
from atomsieve.app.state import DatasetState
from atomsieve.datasets import load_default
from atomsieve.errors import ParameterError


@pytest.fixture(scope="module")
def small():
    return DatasetState(dataset=load_default("test").subset(range(12)), title="Ge, 12 structures")


@pytest.fixture(scope="module")
def descriptor():
    from atomsieve.descriptors import preset

    return preset(None, ["Ge"], r_cut=3.0)  # few neighbours: quick fingerprints and derivatives


def test_rows_stream_in_one_at_a_time_with_reference(small, descriptor):
    compare = CompareState(data=small, methods=["random", "fps"], sizes=[3, 6], descriptor=descriptor)
    lengths = []
    compare.param.watch(lambda e: lengths.append(len(e.new)), "rows")
    assert compare.start().join(600)
    assert lengths[-5:] == [1, 2, 3, 4, 5]  # the reference and 2 methods x 2 sizes, one by one
    methods = sorted({r["method"] for r in compare.rows})
    assert methods == ["fps", "full", "random"]
    for row in compare.rows:
        assert row["rmse_e_pred"] >= 0 and row["rmse_f_pred"] > 0
    assert not compare.running and compare.status.startswith("done")
    seconds = compare.seconds_per_method()
    assert set(seconds) == {"fps", "full", "random"} and all(s >= 0 for s in seconds.values())
    view = LearningCurves(compare=compare)
    view.refresh()
    x, _ = curve_series(compare.rows, "fps", "rmse_f_pred")
    assert view.sources[("rmse_f", "fps", "pred")].data["x"] == x == [3, 6]
    assert not np.isnan(view.references["rmse_f"].location)


def test_cancel_stops_between_jobs(small, descriptor):
    compare = CompareState(data=small, methods=["random", "fps", "cur"], sizes=[2, 4, 6, 8],
                           descriptor=descriptor)
    job = compare.start()
    job.cancel()
    assert job.join(600)
    assert len(compare.rows) < 1 + 3 * 4
    assert compare.status.startswith("cancelled")


def test_sizes_are_checked():
    assert parse_sizes("4 8,8", 12) == [4, 8]
    with pytest.raises(ParameterError, match=r"\[1, 12\]"):
        parse_sizes("4, 40", 12)
    with pytest.raises(ParameterError, match="whole numbers"):
        parse_sizes("four", 12)


def test_environment_map_projects_atoms_bank_and_structures(small):
    from atomsieve.app.environment_map import EnvironmentMap
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import SelectionState
    from atomsieve.app.structure_view import StructureViewer

    fs = FeaturesState(data=small)
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    viewer = StructureViewer(state=small)
    env = EnvironmentMap(selection=sel, structure=viewer)
    assert len(env.atoms_source.data["x"]) == small.dataset.n_atoms
    assert len(env.bank_source.data["x"]) == sel.outcome.bank_size
    assert len(env.structure_source.data["x"]) == 12
    assert env.structure_source.data["selected"].count("yes") == sel.outcome.n_structures
    env._on_tap("indices", [], [5])
    assert viewer.index == 5
