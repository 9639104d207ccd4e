"""The one greedy engine: every greedy method through it equals its plain loop, stops when asked,
reports progress; every selector takes the same callbacks; the registry is built from the classes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors import CUR, FPS, FeatureCUR, ForceCorrelation, HierarchicalFPS, KernelFPS, LEBank
from atomsieve.selectors._greedy import greedy_select
from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.feature_selection import force_correlation_order
from atomsieve.selectors.fps import _SizeTurns
from atomsieve.selectors.registry import METHODS, OPTIONAL_METHODS, SELECTORS, make_selector


def _features(n_structures: int = 60, seed: int = 0) -> AtomicFeatures:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=n_structures)
    structure = np.repeat(np.arange(n_structures), sizes)
    values = np.abs(rng.normal(size=(len(structure), 6)) + rng.normal(size=(n_structures, 6))[structure])
    return AtomicFeatures(values=values, species=[14] * len(structure), structure=structure)


def _hierarchical_plain(points: np.ndarray, groups: list[np.ndarray], count: int) -> list[int]:
    """Hierarchical FPS as the plain nested loop: the sizes take turns, spent ones are skipped."""
    centred = points - points.mean(axis=0)
    d2 = (centred**2).sum(axis=1)
    picked: list[int] = []
    while len(picked) < count:
        for group in groups:
            left = [i for i in group if i not in picked]
            if len(picked) == count or not left:
                continue
            p = max(left, key=lambda i: (d2[i], -i))
            new = ((points - points[p]) ** 2).sum(axis=1)
            d2 = new if not picked else np.minimum(d2, new)
            picked.append(p)
    return picked


def _force_correlation_plain(D: np.ndarray, forces: np.ndarray, count: int) -> list[int]:
    """Force correlation as the plain loop (every column tested each step; no spent columns here)."""
    residual, target, picked = D - D.mean(axis=0), forces - forces.mean(), []
    for _ in range(count):
        corr = [-np.inf if j in picked else abs(np.corrcoef(residual[:, j], target)[0, 1])
                for j in range(D.shape[1])]
        j = int(np.argmax(corr))
        picked.append(j)
        q = residual[:, j] / np.linalg.norm(residual[:, j])
        residual = residual - np.outer(q, q @ residual)
        target = target - q * (q @ target)
    return picked


def test_hierarchical_fps_through_the_engine_equals_the_plain_loop():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 4))
    labels = rng.integers(0, 4, size=40)
    groups = [np.flatnonzero(labels == g) for g in (2, 0, 3, 1) if np.any(labels == g)]
    for count in (1, 7, 40):
        run = greedy_select(_SizeTurns(points, groups), count)
        assert run.order.tolist() == _hierarchical_plain(points, groups, count)


def test_force_correlation_through_the_engine_equals_the_plain_loop():
    rng = np.random.default_rng(5)
    D = rng.normal(size=(120, 9))
    forces = D[:, 4] * 2.0 - D[:, 1] + 0.05 * rng.normal(size=120)
    order, correlations, _ = force_correlation_order(D, forces, 6)
    assert order.tolist() == _force_correlation_plain(D, forces, 6)
    assert np.all(correlations >= 0)


def _stopper(polls_before_stop: int):
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > polls_before_stop

    return should_stop


@pytest.mark.parametrize("make", [
    lambda stop: FPS(20, should_stop=stop),
    lambda stop: FPS(20, first=[3, 9], should_stop=stop),
    lambda stop: HierarchicalFPS(20, should_stop=stop),
    lambda stop: CUR(20, k=2, should_stop=stop),
    lambda stop: KernelFPS(20, should_stop=stop),
])
def test_should_stop_keeps_the_picks_so_far(make):
    feats = _features()
    whole = make(None).fit(feats).selected_
    cut = make(_stopper(4)).fit(feats).selected_
    assert len(cut) == 5 and cut.tolist() == whole[:5].tolist()


@pytest.mark.parametrize(("cls", "forces"), [(FeatureCUR, False), (ForceCorrelation, True)])
def test_feature_selectors_stop_the_same_way(cls, forces):
    feats = _features()
    D = np.random.default_rng(1).normal(size=(feats.n_atoms, 3, feats.n_features))
    kwargs = {"force_features": D, "forces": D[:, :, 2] - D[:, :, 0]} if forces else {}
    whole = cls(5).fit(feats, **kwargs).selected_
    cut = cls(5, should_stop=_stopper(1)).fit(feats, **kwargs).selected_
    assert cut.tolist() == whole[:2].tolist()


@pytest.mark.parametrize(("cls", "label"), [
    (FPS, "farthest point sampling"), (HierarchicalFPS, "hierarchical FPS"), (CUR, "CUR"),
    (KernelFPS, "kernel FPS"),
])
def test_progress_reports_every_pick_with_the_method_label(cls, label):
    calls = []
    cls(12, progress=lambda *a: calls.append(a)).fit(_features())
    picks = [c for c in calls if c[2] == label]
    assert [c[:2] for c in picks] == [(i, 12) for i in range(1, 13)]


def test_more_starting_points_than_picks_is_refused():
    with pytest.raises(ParameterError, match="starting points"):
        FPS(2, first=[0, 1, 2]).fit(_features())


def test_every_selector_takes_progress_and_should_stop_as_keywords():
    for cls in [*SELECTORS.values(), FeatureCUR, ForceCorrelation]:
        params = inspect.signature(cls.__init__).parameters
        for name in ("progress", "should_stop"):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (cls, name)
            assert params[name].default is None
    stop = _stopper(0)
    assert make_selector("random", 3, should_stop=stop).should_stop is stop


def test_registry_is_built_from_the_class_names():
    assert all(cls.name == name for name, cls in SELECTORS.items())
    assert METHODS == ("lebank", "fps", "hfps", "cur", "cluster", "random", "energy", "atomic-energy",
                       "force", "quests")
    assert OPTIONAL_METHODS == ("kernel-fps",)


@pytest.mark.parametrize("init", ["random", "empty"])
def test_lebank_bank_rows_are_the_rows_of_the_new_bank_vectors(init):
    feats = _features(seed=2)
    sel = LEBank({"Si": 0.8}, init=init, shuffle=True, seed=4).fit(feats)
    assert len(sel.bank_rows_) == sel.new_vectors_ == len(sel.bank_)
    rebuilt = EnvironmentBank.from_rows(feats, sel.bank_rows_)
    for name in ("vectors", "species", "source_structure", "source_atom"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(sel.bank_, name))


@pytest.mark.parametrize("init", ["random", "empty"])
def test_lebank_partial_fit_over_batches_equals_one_fit_from_the_same_start(init):
    feats = _features(80, seed=6)
    one = LEBank({"Si": 0.9}, init=init, seed=2).fit(feats)
    start = EnvironmentBank.from_rows(feats, one.bank_rows_[:1]) if init == "random" else None
    bounds = np.searchsorted(feats.structure, [0, 20, 45, 80])
    sel = LEBank({"Si": 0.9}, init="empty")
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        batch = AtomicFeatures(values=feats.values[a:b], species=feats.species[a:b],
                               structure=feats.structure[a:b], n_structures=feats.n_structures)
        sel.partial_fit(batch, bank=start if i == 0 else None)
    seed_structure = [] if start is None else start.source_structure.tolist()
    merged = seed_structure + [s for s in sel.selected_.tolist() if s not in seed_structure]
    assert merged == one.selected_.tolist()
    np.testing.assert_array_equal(sel.bank_.vectors, one.bank_.vectors)
    assert sel.n_selected_atoms_ == int(feats.atom_counts[sel.selected_].sum())
    assert sel.new_vectors_ == len(one.bank_) - len(seed_structure)


def test_studies_and_calibration_stop_when_asked():
    from atomsieve.selectors import calibrate_thresholds, shuffle_study, threshold_sweep

    feats = _features(seed=3)
    whole = threshold_sweep(feats, [0.4, 0.8, 1.2, 1.6])
    cut = threshold_sweep(feats, [0.4, 0.8, 1.2, 1.6], should_stop=_stopper(2))
    assert cut["threshold"] == [0.4, 0.8] and cut["structures"] == whole["structures"][:2]
    assert len(shuffle_study(feats, 0.8, n_runs=5, should_stop=_stopper(3))["seed"]) == 3
    assert len(calibrate_thresholds(feats, 7, should_stop=lambda: True).history) == 1


def test_lebank_stream_stops_between_chunks(tmp_path):
    from atomsieve.datasets import default_path
    from atomsieve.descriptors import SymmetryFunctions
    from atomsieve.descriptors.store import FeatureStore
    from atomsieve.selectors.streaming import lebank_stream

    sf = SymmetryFunctions.li_single_element(["Ge"])
    store = FeatureStore.build(default_path("test"), tmp_path / "s", sf)
    calls = []
    whole, _ = lebank_stream(store, {"Ge": 0.3}, max_atoms=300)
    cut, bank = lebank_stream(store, {"Ge": 0.3}, max_atoms=300, progress=lambda *a: calls.append(a),
                              should_stop=_stopper(1))
    assert len(calls) == 2 and calls[-1][0] < store.n_atoms
    assert 0 < len(cut) < len(whole) and cut.tolist() == whole[: len(cut)].tolist()
    assert len(bank) > 0
