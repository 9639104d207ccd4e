"""Two-element dashboard views without a browser: the threshold grid (Fig. 4) and its marker."""

from __future__ import annotations

import pytest
from emt_data import emt_clusters


@pytest.fixture(scope="module")
def studies():
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import SelectionState
    from atomsieve.app.state import DatasetState
    from atomsieve.app.studies_state import StudiesState

    fs = FeaturesState(data=DatasetState(dataset=emt_clusters(8, seed=3, gold=0.3), title="CuAu"), r_cut=4.5)
    fs.compute_now()
    selection = SelectionState(features_state=fs, synchronous=True)
    return StudiesState(selection=selection)


def test_grid_over_two_elements_counts_and_marks_the_current_point(studies):
    from atomsieve.app.selection_plots import ThresholdGrid
    from atomsieve.selectors import LEBank

    sel = studies.selection
    assert sorted(sel.elements) == ["Au", "Cu"]
    view = ThresholdGrid(studies=studies)
    assert view.pane.visible and not view.run_button.disabled
    assert len(view.source.data["x"]) == 0  # nothing until asked
    values = (0.1, 0.6)
    assert studies.run_grid("Au", "Cu", thresholds=values).join(120)
    grid = studies.grid
    assert sorted(zip(grid["T_Au"], grid["T_Cu"], strict=True)) == [(a, b) for a in values for b in values]
    for a, b, n in zip(grid["T_Au"], grid["T_Cu"], grid["structures"], strict=True):
        # each cell is the LE-bank selection at those thresholds (the others as now)
        fit = LEBank(thresholds={"Au": a, "Cu": b}, seed=sel.seed, device="cpu").fit(sel.features)
        assert n == len(fit.selected_)
    view.refresh()
    assert list(view.source.data["structures"]) == grid["structures"]
    assert view.figure.xaxis.axis_label == "threshold Au"
    sel.thresholds = {"Au": 0.3, "Cu": 0.45}
    view.move_marker()
    assert list(view.current.data["x"]) == [0.3] and list(view.current.data["y"]) == [0.45]


def test_single_element_dataset_explains_why_there_is_no_grid():
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_plots import ThresholdGrid
    from atomsieve.app.selection_state import SelectionState
    from atomsieve.app.state import DatasetState
    from atomsieve.app.studies_state import StudiesState
    from atomsieve.datasets import load_default

    fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    fs.compute_now()
    view = ThresholdGrid(studies=StudiesState(selection=SelectionState(features_state=fs, synchronous=True)))
    assert view.run_button.disabled and not view.pane.visible
    assert "two or more elements" in view.message.object
