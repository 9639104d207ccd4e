"""Clustering, random, energy/atomic-energy/force-uniform selection and the method registry."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from atomsieve.data import Dataset
from atomsieve.datasets import load_default
from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors import (
    METHODS,
    AgglomerativeSelection,
    AtomicEnergyUniform,
    EnergyUniform,
    ForceUniform,
    RandomSelection,
    make_selector,
)
from atomsieve.selectors.registry import LABELS_NEEDED, fit_labels
from atomsieve.selectors.uniform import atomic_energies_of, uniform_bin_order


@pytest.fixture(scope="module")
def germanium():
    """The embedded germanium test split with synthetic per-atom fingerprints."""
    ds = load_default("test")
    rng = np.random.default_rng(0)
    values = rng.normal(size=(ds.n_atoms, 6)) + ds.structure_index[:, None] % 5
    return ds, AtomicFeatures(values=values, species=ds.numbers, structure=ds.structure_index)


def emt_dataset(n: int = 6) -> Dataset:
    frames = []
    for i in range(n):
        atoms = bulk("Cu", cubic=True).repeat((1, 1, 1 + i % 2))
        atoms.rattle(0.05 + 0.05 * i, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        frames.append(atoms)
    return Dataset(frames, energies=[a.get_potential_energy() for a in frames])


def test_uniform_engine_gives_equal_counts_per_bin():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(0, 1, 500), rng.uniform(9, 10, 5)])  # 5 rare high values
    order, edges, picks = uniform_bin_order(values, np.arange(len(values)), 10, 2, rng)
    assert picks.tolist() == [5, 5]
    assert np.sum(values[order] > 5) == 5  # all the rare ones make it in
    assert len(edges) == 3
    order, _, picks = uniform_bin_order(values, np.arange(len(values)), 40, 2, rng)
    assert picks.tolist() == [35, 5]  # the rare bin runs out, the rest comes from the other


def test_energy_uniform_from_dataset_and_array(germanium):
    ds, f = germanium
    a = EnergyUniform(10, bins=5, seed=3).fit(f, dataset=ds)
    b = EnergyUniform(10, bins=5, seed=3).fit(f, energies=ds.energies)
    assert a.selected_.tolist() == b.selected_.tolist()
    assert len(set(a.selected_.tolist())) == 10 and sum(a.picks_per_bin_) == 10
    per_atom = ds.energies_per_atom
    top_bin = per_atom >= a.bin_edges_[-2]  # the few highest-energy structures still get their turn
    assert 0 < top_bin.sum() < 10 and np.isin(np.flatnonzero(top_bin), a.selected_).any()
    assert a.result_.extra["picks_per_bin"] == a.picks_per_bin_.tolist()


def test_force_uniform(germanium):
    ds, f = germanium
    sel = ForceUniform(8, bins=4, seed=0).fit(f, dataset=ds)
    assert len(set(sel.selected_.tolist())) == 8
    magnitudes = np.linalg.norm(ds.forces, axis=1)
    strongest = ds.structure_index[np.argmax(magnitudes)]
    top_bin_structures = set(ds.structure_index[magnitudes >= sel.bin_edges_[-2]].tolist())
    assert top_bin_structures & set(sel.selected_.tolist())
    assert strongest in top_bin_structures


def test_atomic_energy_uniform_from_emt_and_arrays():
    ds = emt_dataset()
    f = AtomicFeatures(values=np.zeros((ds.n_atoms, 2)), species=ds.numbers, structure=ds.structure_index)
    energies = atomic_energies_of(ds)
    assert energies.shape == (ds.n_atoms,)
    np.testing.assert_allclose([energies[ds.structure_index == i].sum() for i in range(len(ds))], ds.energies)
    a = AtomicEnergyUniform(4, bins=3).fit(f, dataset=ds)
    b = AtomicEnergyUniform(4, bins=3).fit(f, atomic_energies=energies)
    assert a.selected_.tolist() == b.selected_.tolist() and len(set(a.selected_.tolist())) == 4


def test_missing_labels_give_clear_errors(germanium):
    ds, f = germanium
    bare = Dataset(ds.atoms)
    with pytest.raises(ParameterError, match="energies .* are needed .* energies="):
        EnergyUniform(3).fit(f)
    with pytest.raises(ParameterError, match="has none"):
        EnergyUniform(3).fit(f, dataset=bare)
    with pytest.raises(ParameterError, match="forces"):
        ForceUniform(3).fit(f, dataset=bare)
    with pytest.raises(ParameterError, match="no per-atom energies.*fitted model"):
        AtomicEnergyUniform(3).fit(f, dataset=ds)
    with pytest.raises(ParameterError, match="atomic energies"):
        AtomicEnergyUniform(3).fit(f)
    with pytest.raises(ParameterError, match="does not match the features"):
        EnergyUniform(3).fit(f, dataset=ds.subset([0, 1]))
    with pytest.raises(ParameterError, match="2 values for 25 structures"):
        EnergyUniform(3).fit(f, energies=[1.0, 2.0])
    with pytest.raises(ParameterError, match="NaN"):
        EnergyUniform(3).fit(f, energies=np.full(25, np.nan))
    with pytest.raises(ParameterError, match="bins"):
        EnergyUniform(3, bins=0).fit(f, dataset=ds)


def test_clustering_one_member_per_cluster(germanium):
    _, f = germanium
    sel = AgglomerativeSelection(6, seed=2).fit(f)
    assert sorted(sel.labels_[sel.selected_].tolist()) == list(range(6))
    centroid = AgglomerativeSelection(6, member="centroid").fit(f)
    assert sorted(centroid.labels_[centroid.selected_].tolist()) == list(range(6))
    assert len(AgglomerativeSelection(1).fit(f).selected_) == 1
    with pytest.raises(ParameterError, match="linkage"):
        AgglomerativeSelection(3, linkage="median").fit(f)
    with pytest.raises(ParameterError, match="member"):
        AgglomerativeSelection(3, member="first").fit(f)


def test_random_selection(germanium):
    _, f = germanium
    a = RandomSelection(0.2, seed=5).fit(f).selected_
    assert len(a) == 5 and len(set(a.tolist())) == 5
    assert RandomSelection(5, seed=6).fit(f).selected_.tolist() != a.tolist()


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("lebank", "atomic-energy")])
def test_every_method_is_deterministic_and_checks_counts(method, germanium):
    ds, f = germanium
    labels = fit_labels(method, ds)
    first = make_selector(method, 7, seed=4).fit(f, **labels)
    again = make_selector(method, 7, seed=4).fit(f, **labels)
    assert first.selected_.tolist() == again.selected_.tolist()
    assert len(set(first.selected_.tolist())) == 7
    assert first.seconds_ >= 0 and first.n_selected_atoms_ == f.atom_counts[first.selected_].sum()
    with pytest.raises(ParameterError, match="larger than the 25 structures"):
        make_selector(method, 26).fit(f, **labels)
    with pytest.raises(ParameterError, match="at least 1"):
        make_selector(method, 0).fit(f, **labels)
    broken = AtomicFeatures(values=f.values.copy(), species=f.species, structure=f.structure)
    broken.values[10, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        make_selector(method, 3).fit(broken, **labels)


def test_registry():
    assert set(LABELS_NEEDED) == {"energy", "atomic-energy", "force"}
    assert type(make_selector("energy", 3, bins=4)).__name__ == "EnergyUniform"
    assert make_selector("energy", 3, bins=4).bins == 4
    assert make_selector("lebank", thresholds={"Ge": 0.3}, seed=2).seed == 2
    with pytest.raises(ParameterError, match="unknown selection method 'kmeans'"):
        make_selector("kmeans", 3)
    with pytest.raises(ParameterError, match="takes no option colour"):
        make_selector("fps", 3, colour="red")
    with pytest.raises(ParameterError, match="thresholds"):
        make_selector("lebank", 3)
    with pytest.raises(ParameterError, match="needs n_to_select"):
        make_selector("random")
    assert make_selector("fps", min_distance=0.5).min_distance == 0.5
