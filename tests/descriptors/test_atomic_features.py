"""AtomicFeatures built from plain numpy arrays, as users of other descriptors build them."""

import numpy as np
import pytest

from atomsieve import ParameterError
from atomsieve.descriptors import AtomicFeatures
from atomsieve.selectors import FPS


def test_atom_index_counts_within_each_structure_in_row_order():
    f = AtomicFeatures(np.zeros((5, 2)), ["H", "H", "O", "H", "O"], [1, 0, 1, 0, 1])
    assert f.atom_index.tolist() == [0, 0, 1, 1, 2]
    assert f.atom_counts.tolist() == [2, 3]


def test_empty_features_construct_and_selectors_refuse_them():
    f = AtomicFeatures(np.zeros((0, 3)), [], [])
    assert (f.n_atoms, f.n_structures) == (0, 0)
    with pytest.raises(ParameterError, match="no atoms"):
        FPS(n_to_select=1).fit(f)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"values": np.zeros(3), "species": [1], "structure": [0]}, "2-D"),
        ({"values": np.zeros((2, 1)), "species": [1], "structure": [0, 0]}, "rows"),
        ({"values": np.array([[np.nan]]), "species": [1], "structure": [0]}, "NaN"),
        ({"values": np.array([[0.0], [-np.inf]]), "species": [1, 1], "structure": [0, 0]}, "atom 1"),
        ({"values": np.zeros((1, 1)), "species": ["Xx"], "structure": [0]}, "unknown chemical symbol"),
        ({"values": np.zeros((1, 1)), "species": [1], "structure": [-1]}, "non-negative"),
    ],
)
def test_bad_arrays_are_clear_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        AtomicFeatures(**kwargs)


def test_huge_finite_values_are_accepted_though_their_sum_overflows():
    f = AtomicFeatures(np.full((2, 1), 1e308), [1, 1], [0, 0])
    assert np.isfinite(f.values).all()


def test_subset_structures_renumbers_in_the_given_order():
    f = AtomicFeatures(np.arange(6.0)[:, None], [1] * 6, [0, 0, 1, 2, 2, 2])
    sub = f.subset_structures([2, 0])
    assert sub.structure.tolist() == [0, 0, 0, 1, 1]
    assert sub.values.ravel().tolist() == [3.0, 4.0, 5.0, 0.0, 1.0]
    np.testing.assert_allclose(f.structure_means()[:, 0], [0.5, 2.0, 4.0])
