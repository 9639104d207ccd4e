"""CUR of structures and of features: same picks as scikit-matter, norm deviations, stopping, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skmatter.feature_selection import CUR as SkmatterFeatureCUR
from skmatter.sample_selection import CUR as SkmatterSampleCUR

from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors import CUR, FeatureCUR
from atomsieve.selectors.cur import cur_order, relative_norm_deviation


def matrix(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ np.diag(np.linspace(3.0, 0.2, d)) + 0.5


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_and_columns_match_skmatter(k, seed):
    X = matrix(90, 14, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = SkmatterSampleCUR(n_to_select=10, k=k).fit(X).selected_idx_
        cols = SkmatterFeatureCUR(n_to_select=8, k=k).fit(X).selected_idx_
    assert cur_order(X, 10, axis=0, k=k)[0].tolist() == rows.tolist()
    assert cur_order(X, 8, axis=1, k=k)[0].tolist() == cols.tolist()


def test_deviation_is_the_cur_residual_and_decreases():
    X = matrix(60, 10, 3)
    order, deviations = cur_order(X, 10)
    assert np.all(np.diff(deviations) <= 1e-12)
    for m in (1, 4, 9):
        assert deviations[m - 1] == pytest.approx(relative_norm_deviation(X, rows=order[:m]), abs=1e-10)
    assert deviations[-1] < 1e-10  # 10 independent rows span a 10-column matrix
    cols, col_dev = cur_order(X, 5, axis=1)
    assert col_dev[-1] == pytest.approx(relative_norm_deviation(X, columns=cols), abs=1e-10)
    both = relative_norm_deviation(X, rows=order[:4], columns=cols)
    assert 0.0 < both <= 1.0


def test_more_picks_than_rank_start_new_rounds():
    X = matrix(30, 3, 4)
    order, deviations = cur_order(X, 12)
    assert len(set(order.tolist())) == 12
    assert deviations[-1] < 1e-10


def test_selector_on_structure_means_and_stopping_score():
    X = matrix(40, 6, 5)
    f = AtomicFeatures(values=np.repeat(X, 2, axis=0), species=[1] * 80,
                       structure=np.repeat(np.arange(40), 2))
    sel = CUR(n_to_select=5).fit(f)
    assert sel.selected_.tolist() == cur_order(X, 5)[0].tolist()
    assert sel.result_.extra["relative_norm_deviation"] == pytest.approx(sel.deviations_[-1])
    stop = CUR(max_deviation=0.3).fit(f)
    assert stop.relative_norm_deviation_ <= 0.3 and stop.deviations_[-2] > 0.3


def test_feature_cur_on_per_atom_matrix():
    X = matrix(200, 12, 6)
    f = AtomicFeatures(values=X, species=[1] * 200, structure=np.arange(200) // 4,
                       feature_names=[f"G{j}" for j in range(12)])
    sel = FeatureCUR(4).fit(f)
    assert sel.selected_.tolist() == cur_order(X, 4, axis=1)[0].tolist()
    assert sel.feature_names_ == [f"G{j}" for j in sel.selected_]
    assert sel.relative_norm_deviation_ == pytest.approx(sel.deviations_[-1], abs=1e-10)
    reduced = sel.transform(f)
    assert reduced.n_features == 4 and reduced.params["selected_features"] == sel.selected_.tolist()
    np.testing.assert_array_equal(reduced.values, X[:, sel.selected_])


def test_errors():
    X = matrix(10, 4, 7)
    f = AtomicFeatures(values=X, species=[1] * 10, structure=np.arange(10))
    with pytest.raises(ParameterError, match="larger than the 10"):
        CUR(11).fit(f)
    with pytest.raises(ParameterError, match="larger than the 4 features"):
        FeatureCUR(5).fit(f)
    with pytest.raises(ParameterError, match="k="):
        CUR(2, k=0).fit(f)
    with pytest.raises(ParameterError, match="all zeros"):
        cur_order(np.zeros((4, 2)), 1)
    f.values[0, 0] = np.inf
    with pytest.raises(ParameterError, match="NaN or infinity"):
        CUR(2).fit(f)
    with pytest.raises(ParameterError, match="NaN or infinity"):
        FeatureCUR(2).fit(f)
