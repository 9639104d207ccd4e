"""The environment map stays readable at any size: rings only for the selection and a sample."""

from __future__ import annotations

import numpy as np

from atomsieve.app import environment_map
from atomsieve.app.environment_map import ring_structures
from atomsieve.app.state import DatasetState
from atomsieve.datasets import load_default


def test_rings_are_the_selection_and_a_stable_sample_of_the_rest():
    chosen = np.zeros(60_000, dtype=bool)
    chosen[np.arange(0, 60_000, 97)] = True  # 619 selected
    rings = ring_structures(chosen)
    assert set(np.flatnonzero(chosen)) <= set(rings.tolist())
    assert len(rings) == chosen.sum() + environment_map.SAMPLE_RINGS
    np.testing.assert_array_equal(rings, ring_structures(chosen))  # no jumping between redraws
    many = np.ones(60_000, dtype=bool)
    assert len(ring_structures(many)) == environment_map.MAX_SELECTED_RINGS
    assert len(ring_structures(chosen[:500])) == 500  # small sets: every structure


def test_map_draws_rings_for_the_selection_and_a_sample_only(monkeypatch):
    from atomsieve.app.environment_map import EnvironmentMap
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import SelectionState

    monkeypatch.setattr(environment_map, "RINGS_ABOVE", 10)
    monkeypatch.setattr(environment_map, "SAMPLE_RINGS", 3)
    data = DatasetState(dataset=load_default("test"), title="Ge, 25 structures")
    fs = FeaturesState(data=data)
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    env = EnvironmentMap(selection=sel)
    chosen = set(np.asarray(sel.selected_indices()).tolist())
    drawn = env.structure_source.data
    assert set(drawn["index"].tolist()) >= chosen
    assert len(drawn["index"]) == len(chosen) + 3
    assert [drawn["selected"][k] == "yes" for k in range(len(drawn["index"]))] == [
        int(i) in chosen for i in drawn["index"]]
    assert "a sample of 3 others" in env.caption.object
