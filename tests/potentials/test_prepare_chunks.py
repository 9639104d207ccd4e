"""``prepare`` builds the model input a chunk of structures at a time: the same arrays as one pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atomsieve import ParameterError
from atomsieve.potentials import featurize
from atomsieve.potentials.featurize import prepare, structure_chunks
from atomsieve.potentials.prepared import sum_pairs


def test_structure_chunks_cover_every_structure_once_in_order():
    counts = np.array([5, 1, 7, 2, 2, 30, 4])
    groups = structure_chunks(counts, max_atoms=8)
    assert np.concatenate(groups).tolist() == list(range(len(counts)))
    for g in groups:
        assert len(g) == 1 or counts[g].sum() <= 8


def test_chunked_summed_jacobian_equals_the_whole_pair_sum(ds, sf, monkeypatch):
    """The reference: the whole per-pair Jacobian of the set, summed at once (what prepare used to do)."""
    jac = sf.jacobian(ds, dtype=torch.float64)
    species_index = sf.species_index(jac.species).numpy()
    reference = sum_pairs(jac.center.numpy(), jac.neighbor.numpy(), jac.grad.numpy(), species_index,
                          ds.n_atoms, sf.n_species)
    monkeypatch.setattr(featurize, "CHUNK_ATOMS", 150)  # the 25 structures in about 12 chunks
    assert len(structure_chunks(ds.atom_counts, 150)) > 8
    data, feats = prepare(ds, sf, cache=False)
    slopes = featurize.scaler_slopes(feats.scaler, sf.species, sf.n_features)
    np.testing.assert_array_equal(data.summed_jacobian, reference * slopes[None, :, :, None])
    np.testing.assert_array_equal(data.features, feats.scaler.transform(jac.values.numpy(), ds.numbers))


def test_chunked_pairs_equal_one_chunk(ds, sf, monkeypatch):
    monkeypatch.setattr(featurize, "CHUNK_ATOMS", 10**9)
    whole, _ = prepare(ds, sf, pairs=True, cache=False, store_dtype=np.float64)
    monkeypatch.setattr(featurize, "CHUNK_ATOMS", 200)
    chunked, _ = prepare(ds, sf, pairs=True, cache=False, store_dtype=np.float64)
    np.testing.assert_array_equal(chunked.pair_center, whole.pair_center)
    np.testing.assert_array_equal(chunked.pair_neighbour, whole.pair_neighbour)
    np.testing.assert_array_equal(chunked.pair_values, whole.pair_values)
    np.testing.assert_array_equal(chunked.summed_jacobian, whole.summed_jacobian)


def test_pair_jacobian_past_the_limit_is_refused_by_name(ds, sf, monkeypatch):
    monkeypatch.setenv("ATOMSIEVE_MAX_PAIR_BYTES", "1e6")
    with pytest.raises(ParameterError, match=r"per-pair Jacobian .* GiB .*ATOMSIEVE_MAX_PAIR_BYTES"):
        prepare(ds, sf, pairs=True, cache=False)
    prepare(ds.subset([0]), sf, pairs=True, cache=False)  # one structure fits under 1 MB
