"""FPS and hierarchical FPS: exactness against the plain loop and scikit-matter, first points, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skmatter.sample_selection import FPS as SkmatterFPS

from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors import FPS, HierarchicalFPS
from atomsieve.selectors.fps import farthest_point_sampling, farthest_point_sampling_reference


def features_from_points(points: np.ndarray, atoms_per_structure: int = 1) -> AtomicFeatures:
    """Structures whose mean fingerprint is exactly ``points`` (atoms at ±offsets around it)."""
    n, d = points.shape
    offsets = np.linspace(-1.0, 1.0, atoms_per_structure)[:, None] * np.ones(d)
    offsets -= offsets.mean(axis=0)
    values = (points[:, None, :] + offsets[None]).reshape(-1, d)
    return AtomicFeatures(values=values, species=[14] * len(values),
                          structure=np.repeat(np.arange(n), atoms_per_structure))


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    """Points on a few low-dimensional blobs (like AIMD frames of several phases)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(6, d))
    latent = rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) * 0.3
    return centres[rng.integers(6, size=n)] + latent + 0.01 * rng.normal(size=(n, d))


@pytest.mark.parametrize(
    ("n", "d", "count", "seed"),
    [(50, 2, 50, 0), (300, 5, 120, 1), (2500, 12, 400, 2), (2500, 40, 300, 3)],
)
def test_engine_matches_reference_and_skmatter(n, d, count, seed):
    points = clustered(n, d, seed)
    ours, distances = farthest_point_sampling(points, count, first=0)
    assert ours.tolist() == farthest_point_sampling_reference(points, count, first=0).tolist()
    theirs = SkmatterFPS(n_to_select=count, initialize=0).fit(points).selected_idx_
    assert ours.tolist() == theirs.tolist()
    assert len(set(ours.tolist())) == count
    # FPS distances never increase after the first pick
    assert np.all(np.diff(distances[1:]) <= 1e-12)


def test_gaussian_high_dimension_matches_skmatter():
    points = np.random.default_rng(4).normal(size=(3000, 30))
    ours, _ = farthest_point_sampling(points, 200, first=5)
    theirs = SkmatterFPS(n_to_select=200, initialize=5).fit(points).selected_idx_
    assert ours.tolist() == theirs.tolist()


def test_selector_uses_structure_means_and_documented_first_point():
    points = clustered(40, 3, 5)
    f = features_from_points(points, atoms_per_structure=3)
    sel = FPS(n_to_select=10).fit(f)
    centred = points - points.mean(axis=0)
    assert sel.selected_[0] == np.argmax((centred**2).sum(axis=1))
    assert sel.selected_.tolist() == farthest_point_sampling_reference(points, 10).tolist()
    assert sel.n_selected_atoms_ == 30 and sel.seconds_ >= 0
    assert sel.result_.method == "fps" and sel.result_.selected.tolist() == sel.selected_.tolist()


def test_first_point_options():
    points = clustered(60, 4, 6)
    f = features_from_points(points)
    assert FPS(5, first=7).fit(f).selected_[0] == 7
    assert FPS(5, first=[3, 9]).fit(f).selected_[:2].tolist() == [3, 9]
    a = FPS(5, first="random", seed=11).fit(f).selected_
    b = FPS(5, first="random", seed=11).fit(f).selected_
    assert a.tolist() == b.tolist()
    with pytest.raises(ParameterError, match="first"):
        FPS(5, first="middle").fit(f)
    with pytest.raises(ParameterError, match="lie in"):
        FPS(5, first=[0, 600]).fit(f)
    with pytest.raises(ParameterError, match="repeat"):
        FPS(5, first=[1, 1]).fit(f)


def test_min_distance_stops_and_fraction_counts():
    points = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [10.0]])
    f = features_from_points(points)
    sel = FPS(min_distance=1.0, first=0).fit(f)
    assert sel.selected_.tolist() == [0, 5, 3]
    assert np.all(sel.distances_[1:] >= 1.0)
    assert len(FPS(0.5).fit(f).selected_) == 3


def test_structures_without_atoms_are_never_picked():
    f = AtomicFeatures(values=[[0.0], [1.0], [9.0]], species=[1, 1, 1], structure=[0, 2, 3], n_structures=5)
    sel = FPS(3).fit(f)
    assert sorted(sel.selected_.tolist()) == [0, 2, 3]
    with pytest.raises(ParameterError, match="larger than"):
        FPS(4).fit(f)


def test_errors():
    f = features_from_points(clustered(10, 2, 7))
    with pytest.raises(ParameterError, match="larger than the 10"):
        FPS(11).fit(f)
    with pytest.raises(ParameterError, match="at least 1"):
        FPS(0).fit(f)
    with pytest.raises(ParameterError, match="n_to_select, min_distance"):
        FPS().fit(f)
    f.values[3, 1] = np.nan  # corrupted after construction
    with pytest.raises(ParameterError, match="NaN"):
        FPS(3).fit(f)
    with pytest.raises(ParameterError, match="NaN"):
        AtomicFeatures(values=[[np.nan]], species=[1], structure=[0])


def test_hierarchical_fps_spreads_sizes_small_first():
    rng = np.random.default_rng(8)
    sizes = rng.choice([2, 4, 8, 16], size=60)
    structure = np.repeat(np.arange(60), sizes)
    values = rng.normal(size=(len(structure), 3))
    f = AtomicFeatures(values=values, species=[1] * len(values), structure=structure)
    sel = HierarchicalFPS(8).fit(f)
    assert sel.size_order_.tolist() == [2, 16, 8, 4]
    picked_sizes = f.atom_counts[sel.selected_].tolist()
    assert picked_sizes == [2, 16, 8, 4, 2, 16, 8, 4]
    # within a size, the picks follow FPS over everything chosen so far
    assert len(set(sel.selected_.tolist())) == 8
    assert HierarchicalFPS(8).fit(f).selected_.tolist() == sel.selected_.tolist()
    largest = HierarchicalFPS(4, first_size="largest").fit(f)
    assert largest.size_order_[0] == 16
    with pytest.raises(ParameterError, match="first_size"):
        HierarchicalFPS(4, first_size="middle").fit(f)


def test_hierarchical_fps_exhausts_small_groups():
    sizes = [1, 3, 3, 3, 3]
    structure = np.repeat(np.arange(5), sizes)
    values = np.arange(len(structure), dtype=float)[:, None]
    f = AtomicFeatures(values=values, species=[1] * len(values), structure=structure)
    sel = HierarchicalFPS(5).fit(f)
    assert sorted(sel.selected_.tolist()) == [0, 1, 2, 3, 4]
    assert sel.selected_[0] == 0


def test_real_germanium_fingerprints_match_skmatter():
    """FPS and CUR on real symmetry functions (per-atom rows of a few germanium structures)."""
    import warnings

    from skmatter.sample_selection import CUR as SkmatterCUR

    from atomsieve.datasets import load_default
    from atomsieve.descriptors import preset
    from atomsieve.selectors.cur import cur_order

    ds = load_default("test").subset(range(4))
    feats = preset(None, ds.elements).compute(ds)
    X = feats.values
    ours, _ = farthest_point_sampling(X, 60, first=0)
    assert ours.tolist() == SkmatterFPS(n_to_select=60, initialize=0).fit(X).selected_idx_.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SkmatterCUR(n_to_select=15).fit(X).selected_idx_
    assert cur_order(X, 15)[0].tolist() == theirs.tolist()
    assert len(FPS(3).fit(feats).selected_) == 3


@pytest.mark.parametrize("scale", [1e-9, 1e8])
def test_engine_is_exact_at_any_scale_and_offset(scale):
    rng = np.random.default_rng(9)
    points = (rng.normal(size=(2500, 10)) @ rng.normal(size=(10, 30))) * scale + 5.0 * scale
    ours, _ = farthest_point_sampling(points, 250, first=0)
    assert ours.tolist() == farthest_point_sampling_reference(points, 250, first=0).tolist()
    assert ours.tolist() == farthest_point_sampling(points / scale, 250, first=0)[0].tolist()
