"""Candidate-pool builders: labels agree with the calculators, seeds reproduce, files round-trip."""

import numpy as np
import pytest
from ase.calculators.emt import EMT

import atomsieve
from atomsieve.builders import (
    BUILDERS,
    TosiFumi,
    build,
    build_molten_nacl,
    build_one_element,
    build_pdh_cluster,
    molten_nacl_structure,
    pdh_cluster_structure,
    per_atom_energies,
)
from atomsieve.builders.molten_nacl import box_length
from atomsieve.builders.sampling import split_evenly, task_seeds
from atomsieve.errors import AtomsieveError, ParameterError

SMALL_PDH = {"frames_per_trajectory": 2, "interval": 5, "equilibration": 5}
SMALL_NACL = {"n_pairs": 8, "frames_per_trajectory": 2, "interval": 3, "equilibration": 3, "cutoff": 6.0}
SMALL_CU = {"supercell": 1, "frames_per_trajectory": 2, "interval": 3, "equilibration": 4}


def assert_labels_match(ds, make_calc):
    """Energies, forces and per-atom energies equal a fresh calculation."""
    assert ds.energies is not None and ds.forces is not None
    e_atoms = per_atom_energies(ds)
    for i, atoms in enumerate(ds.atoms):
        fresh = atoms.copy()
        fresh.calc = make_calc()
        assert fresh.get_potential_energy() == pytest.approx(ds.energies[i], abs=1e-8)
        np.testing.assert_allclose(fresh.get_forces(), ds.forces_of(i), atol=1e-8)
        np.testing.assert_allclose(
            fresh.get_potential_energies(), e_atoms[ds.offsets[i] : ds.offsets[i + 1]], atol=1e-8
        )
        assert e_atoms[ds.offsets[i] : ds.offsets[i + 1]].sum() == pytest.approx(ds.energies[i], abs=1e-8)


def test_pdh_cluster_pool_is_labelled_by_emt_over_a_temperature_range():
    ds = build_pdh_cluster(6, seed=3, temperatures=(300, 900), **SMALL_PDH)
    assert len(ds) == 6 and ds.elements == ["H", "Pd"]
    assert all(a.get_chemical_formula() == "H2Pd13" and not a.pbc.any() for a in ds.atoms)
    assert sorted({a.info["temperature_K"] for a in ds.atoms}) == [300.0, 600.0, 900.0]
    assert_labels_match(ds, EMT)
    assert len({round(e, 6) for e in ds.energies}) == 6  # real, different snapshots


def test_pdh_cluster_structure_sizes_and_errors():
    atoms = pdh_cluster_structure(55, 4, seed=0, relax=False)
    assert atoms.get_chemical_formula() == "H4Pd55"
    with pytest.raises(ParameterError, match="icosahedron"):
        pdh_cluster_structure(20, 2)
    with pytest.raises(ParameterError, match="n_h"):
        pdh_cluster_structure(13, 50)


def test_pdh_cluster_restarts_evaporating_trajectories_and_gives_up_cleanly():
    # an impossible evaporation distance: every snapshot counts as "evaporated"
    with pytest.raises(AtomsieveError, match="restarts"):
        build_pdh_cluster(1, evaporation_distance=0.1, max_restarts=1, **SMALL_PDH)


def test_molten_nacl_pool_is_labelled_by_tosi_fumi_at_several_densities():
    ds = build_molten_nacl(4, seed=1, densities=(1.4, 1.6), temperatures=(900, 2200), **SMALL_NACL)
    assert len(ds) == 4 and ds.elements == ["Na", "Cl"]
    assert {a.info["density_g_cm3"] for a in ds.atoms} == {1.4, 1.6}
    assert {a.info["temperature_K"] for a in ds.atoms} == {900.0, 2200.0}
    for atoms in ds.atoms:
        assert atoms.pbc.all() and atoms.get_chemical_formula() == "Cl8Na8"
        expected = box_length(8, atoms.info["density_g_cm3"])
        np.testing.assert_allclose(atoms.cell.lengths(), [expected] * 3)
        frac = atoms.get_scaled_positions(wrap=False)
        assert (frac >= -1e-9).all() and (frac < 1 + 1e-9).all()  # wrapped into the box
    assert_labels_match(ds, lambda: TosiFumi(cutoff=6.0))


def test_molten_nacl_structure_keeps_like_ions_apart():
    atoms = molten_nacl_structure(50, 1.55, seed=0, relax=False)
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    na = atoms.numbers == 11
    assert len(atoms) == 100 and na.sum() == 50
    assert d[np.ix_(na, na)].min() > 1.3 * d[np.ix_(na, ~na)].min()


def test_one_element_pool_has_every_kind():
    ds = build_one_element(12, seed=2, **SMALL_CU)
    kinds = [a.info["kind"] for a in ds.atoms]
    assert len(ds) == 12 and ds.elements == ["Cu"]
    assert set(kinds) == {"bulk", "strained", "surface", "vacancy", "liquid", "amorphous"}
    scales = [a.info["spacing_scale"] for a in ds.atoms if a.info["kind"] == "strained"]
    assert all(0.8 <= s <= 1.5 for s in scales)
    assert any(len(a) < 4 for a in ds.atoms if a.info["kind"] == "vacancy")
    surface = [a for a in ds.atoms if a.info["kind"] == "surface"][0]
    assert surface.cell.lengths()[2] > 15  # vacuum above the slab
    assert_labels_match(ds, EMT)


def test_one_element_other_metal_and_bad_options():
    ds = build_one_element(2, element="Pt", mix={"strained": 1}, supercell=1)
    assert ds.elements == ["Pt"]
    with pytest.raises(ParameterError, match="EMT fcc metal"):
        build_one_element(2, element="Ge")
    with pytest.raises(ParameterError, match="mix"):
        build_one_element(2, mix={"crystal": 1})


def test_same_seed_same_pool_other_seed_other_pool():
    a = build("pdh-cluster", 2, seed=5, **SMALL_PDH)
    b = build("pdh-cluster", 2, seed=5, **SMALL_PDH)
    c = build("pdh-cluster", 2, seed=6, **SMALL_PDH)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_progress_is_reported_per_trajectory():
    calls = []
    build("one-element", 4, mix={"strained": 1}, supercell=1, frames_per_trajectory=2,
          progress=lambda done, total, label: calls.append((done, total, label)))
    assert calls[0] == (0, 2, "one-element") and calls[-1] == (2, 2, "one-element")


def test_build_rejects_unknown_names_and_options():
    assert sorted(BUILDERS) == ["molten-nacl", "one-element", "pdh-cluster"]
    with pytest.raises(ParameterError, match="choose one of"):
        build("water")
    with pytest.raises(ParameterError, match="no option colour"):
        build("one-element", 2, colour="red")
    with pytest.raises(ParameterError, match="at least 1"):
        build("molten-nacl", 0)


def test_datasets_reexports_build():
    assert atomsieve.datasets.build is build
    assert atomsieve.datasets.BUILDERS is BUILDERS


def test_saved_pool_round_trips_labels_and_per_atom_energies(tmp_path):
    ds = build("one-element", 3, mix={"strained": 1, "vacancy": 1}, seed=1, **SMALL_CU)
    path = atomsieve.save(ds, tmp_path / "pool.extxyz")
    back = atomsieve.load(path)
    assert len(back) == 3 and back.energy_key == "energy" and back.forces_key == "forces"
    np.testing.assert_allclose(back.energies, ds.energies, atol=1e-8)  # extxyz keeps 8 decimals
    np.testing.assert_allclose(back.forces, ds.forces, atol=1e-7)
    np.testing.assert_allclose(per_atom_energies(back), per_atom_energies(ds), atol=1e-7)
    assert [a.info["kind"] for a in back.atoms] == [a.info["kind"] for a in ds.atoms]


def test_per_atom_energies_missing_is_an_error():
    from ase.build import bulk

    with pytest.raises(AtomsieveError, match="no per-atom energies"):
        per_atom_energies(atomsieve.Dataset([bulk("Cu")]))


def test_seed_helpers():
    assert task_seeds(1, 4) == task_seeds(1, 4) != task_seeds(2, 4)
    assert split_evenly(7, 3) == [3, 2, 2] and split_evenly(2, 5) == [1, 1]


@pytest.mark.slow
def test_parallel_build_equals_serial_build():
    serial = build("one-element", 4, mix={"strained": 1, "bulk": 1}, seed=4, **SMALL_CU)
    local = build("one-element", 4, mix={"strained": 1, "bulk": 1}, seed=4, scheduler="local", **SMALL_CU)
    assert serial.content_hash() == local.content_hash()
