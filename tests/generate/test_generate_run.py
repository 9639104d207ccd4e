"""Entropy-maximisation generator end to end (small, fast settings), its metrics and its CLI verb."""

from __future__ import annotations

import numpy as np
import pytest

from atomsieve import ParameterError, load
from atomsieve.cli import main
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.generate import (
    EntropyMaximisationGenerator,
    configuration_entropies,
    descriptor_histograms,
    scaled_features,
    split_coverage_table,
)
from atomsieve.generate.chains import minimum_distance
from atomsieve.generate.repulsive import RepulsivePotential

SMALL = dict(n_atoms=8, cell=(6.6, 6.6, 7.0), t_start=4000.0, n_steps=60, timestep=1.0)
R0 = RepulsivePotential().r0


@pytest.fixture(scope="module")
def biased():
    return EntropyMaximisationGenerator(n_configs=4, k_max=15.0, n_chains=2, seed=7, **SMALL).fit()


@pytest.fixture(scope="module")
def unbiased():
    return EntropyMaximisationGenerator(n_configs=4, k_max=0.0, n_chains=2, seed=7, **SMALL).fit()


def test_harvested_configurations_are_complete_and_keep_atoms_apart(biased):
    ds = biased.configurations_
    assert len(ds) == 4 and all(len(a) == 8 for a in ds.atoms)
    assert [a.info["chain"] for a in ds.atoms] == [0, 0, 1, 1]
    assert [a.info["cycle"] for a in ds.atoms] == [0, 1, 0, 1]
    for atoms, d in zip(ds.atoms, biased.min_distances_):
        assert atoms.pbc.all()
        frac = atoms.get_scaled_positions(wrap=False)
        assert (frac >= 0).all() and (frac < 1).all()
        assert d == pytest.approx(minimum_distance(atoms.positions, atoms.cell.array))
        assert atoms.info["min_distance"] == pytest.approx(d)
    assert biased.min_distances_.min() >= 0.8 * R0
    assert biased.seconds_per_configuration_ > 0


def test_bias_raises_the_entropy_and_both_runs_share_one_scale(biased, unbiased):
    np.testing.assert_allclose(biased.descriptor_scale_, unbiased.descriptor_scale_)
    assert biased.entropies_.mean() > unbiased.entropies_.mean() + 0.2
    assert unbiased.min_distances_.min() >= 0.8 * R0
    # the stored entropy is the paper's S of the scaled descriptors of the saved positions
    feats = scaled_features(biased.configurations_, biased.descriptor_module_, biased.descriptor_scale_)
    np.testing.assert_allclose(configuration_entropies(feats), biased.entropies_, rtol=1e-9)


def test_same_seed_same_configurations_other_seed_different():
    kwargs = dict(n_configs=2, k_max=15.0, n_chains=2, **{**SMALL, "n_steps": 25})
    first = EntropyMaximisationGenerator(seed=7, **kwargs).fit().configurations_.atoms
    again = EntropyMaximisationGenerator(seed=7, **kwargs).fit().configurations_.atoms
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.positions, b.positions)
    other = EntropyMaximisationGenerator(seed=8, **kwargs).fit().configurations_.atoms
    assert not np.allclose(other[0].positions, first[0].positions)


def test_progress_counts_configurations():
    seen = []
    EntropyMaximisationGenerator(n_configs=3, k_max=5.0, n_chains=2, seed=1, **{**SMALL, "n_steps": 10}).fit(
        progress=lambda done, total, label: seen.append((done, total)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
def test_local_dask_cluster_gives_the_serial_configurations():
    kwargs = dict(n_configs=2, k_max=10.0, n_chains=2, seed=3, **{**SMALL, "n_steps": 10})
    serial = EntropyMaximisationGenerator(**kwargs).fit()
    dask = EntropyMaximisationGenerator(**kwargs, scheduler="local", n_workers=2).fit()
    for a, b in zip(serial.configurations_.atoms, dask.configurations_.atoms):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-10)


@pytest.mark.parametrize("bad, match", [
    ({"n_configs": 0}, "n_configs"),
    ({"n_chains": 9}, "n_chains"),
    ({"element": "Xx"}, "chemical symbol"),
    ({"cell": (4.0, 4.0)}, "3 lengths"),
    ({"cell": (5.0, 5.0, 5.0)}, "half the smallest cell width"),
    ({"n_atoms": 300}, "cannot place"),
])
def test_bad_parameters_are_refused(bad, match):
    with pytest.raises(ParameterError, match=match):
        EntropyMaximisationGenerator(**{**SMALL, "n_configs": 2, **bad}).fit()


# ---------------------------------------------------------------- metrics
def _features(values, per_structure):
    values = np.asarray(values, dtype=float)
    return AtomicFeatures(values=values, species=[74] * len(values),
                          structure=np.repeat(np.arange(len(values) // per_structure), per_structure))


def test_histograms_share_bins_and_integrate_to_one():
    rng = np.random.default_rng(0)
    a, b = _features(rng.normal(0, 1, (60, 3)), 6), _features(rng.normal(2, 3, (60, 3)), 6)
    h = descriptor_histograms({"a": a, "b": b}, bins=12)
    assert h.edges.shape == (3, 13)
    for k in range(3):
        assert h.edges[k, 0] == min(a.values[:, k].min(), b.values[:, k].min())
        assert h.edges[k, -1] == max(a.values[:, k].max(), b.values[:, k].max())
        for dens in h.densities.values():
            assert (dens[k] * np.diff(h.edges[k])).sum() == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="different numbers"):
        descriptor_histograms({"a": a, "c": _features(np.zeros((6, 2)), 6)})


def test_split_table_has_every_pair_and_shows_the_coverage_asymmetry():
    rng = np.random.default_rng(1)
    wide, narrow = _features(rng.normal(0, 4, (300, 2)), 10), _features(rng.normal(0, 1, (300, 2)), 10)
    rows = split_coverage_table({"wide": wide, "narrow": narrow}, n_splits=4, seed=2)
    table = {(r["train"], r["test"]): r for r in rows}
    assert set(table) == {(a, b) for a in ("wide", "narrow") for b in ("wide", "narrow")}
    assert all(r["n_splits"] == 4 and r["mean"] <= r["max"] for r in rows)
    # training on the broad set keeps the worst case small; the reverse explodes (paper's Table I)
    assert table["wide", "narrow"]["max"] < table["narrow", "wide"]["max"]
    assert split_coverage_table({"wide": wide, "narrow": narrow}, n_splits=4, seed=2) == rows
    with pytest.raises(ParameterError, match="train/test split"):
        split_coverage_table({"one": _features([[0.0], [1.0]], 2)})


def test_generated_sets_reproduce_table_one_ordering(biased, unbiased):
    module, scale = biased.descriptor_module_, biased.descriptor_scale_
    sets = {"biased": scaled_features(biased.configurations_, module, scale),
            "unbiased": scaled_features(unbiased.configurations_, module, scale)}
    table = {(r["train"], r["test"]): r for r in split_coverage_table(sets, n_splits=5, seed=0)}
    assert table["biased", "unbiased"]["max"] < table["unbiased", "biased"]["max"]


# ---------------------------------------------------------------- CLI
def test_cli_generate_writes_the_configurations(tmp_path, capsys):
    out = tmp_path / "gen.extxyz"
    argv = ["generate", "--configs", "2", "--atoms", "8", "--cell", "7,7,7", "--kmax", "10", "--steps", "20",
            "--t-start", "3000", "--seed", "4", "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 configurations" in printed and "s per configuration" in printed
    ds = load(out)
    assert len(ds) == 2 and ds.elements == ["W"] and ds.atoms[0].info["k_max"] == 10.0
    assert ds.atoms[0].info["descriptor_scale"].shape == (6,)
    assert ds.atoms[0].info["min_distance"] >= 0.8 * R0
    assert main(argv) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err


def test_cli_generate_rejects_a_bad_cell(tmp_path, capsys):
    assert main(["generate", "--cell", "9,9", "--output", str(tmp_path / "x.extxyz")]) == 2
    assert not (tmp_path / "x.extxyz").exists()
    assert "--cell" in capsys.readouterr().err
