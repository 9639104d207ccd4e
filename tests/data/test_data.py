"""The data layer: loading, key lookup, subsets, saving, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import write

import atomsieve
from atomsieve import DataError, Dataset, load, save
from atomsieve.datasets import default_path, load_default

GE = default_path("test")


@pytest.fixture(scope="module")
def ge():
    return load(GE)


def test_default_dataset_loads_without_network():
    ds = load_default()
    assert (len(ds), ds.n_atoms, ds.elements) == (228, 14072, ["Ge"])
    assert ds.energies.shape == (228,) and ds.forces.shape == (14072, 3)
    assert (ds.energy_key, ds.forces_key) == ("energy", "forces")
    assert atomsieve.datasets.load_default("test").n_atoms == 1568


def test_flat_arrays_are_consistent(ge):
    assert ge.structure_index.shape == (ge.n_atoms,)
    assert ge.atom_counts.sum() == ge.n_atoms
    for i in (0, 7, len(ge) - 1):
        rows = np.flatnonzero(ge.structure_index == i)
        assert len(rows) == len(ge.atoms[i])
        np.testing.assert_array_equal(ge.numbers[rows], ge.atoms[i].numbers)
        np.testing.assert_allclose(ge.forces_of(i), ge.atoms[i].get_forces())
    assert ge.atoms_per_element == {"Ge": 1568}


def test_subset_keeps_labels_in_order(ge):
    sub = ge.subset([3, 0])
    assert len(sub) == 2
    np.testing.assert_allclose(sub.energies, ge.energies[[3, 0]])
    np.testing.assert_allclose(sub.forces, np.concatenate([ge.forces_of(3), ge.forces_of(0)]))
    with pytest.raises(atomsieve.ParameterError, match="subset indices"):
        ge.subset([len(ge)])


def test_content_hash_depends_on_content_not_file(ge, tmp_path):
    copy = load(save(ge, tmp_path / "copy.extxyz"))
    assert copy.content_hash() == ge.content_hash()
    assert ge.subset([0]).content_hash() != ge.subset([1]).content_hash()


def _labelled(ds: Dataset, a: Dataset) -> None:
    assert len(a) == len(ds)
    for x, y in zip(ds.atoms, a.atoms):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-8)
        np.testing.assert_allclose(x.cell.array, y.cell.array, atol=1e-8)
        np.testing.assert_array_equal(x.numbers, y.numbers)
        np.testing.assert_array_equal(x.pbc, y.pbc)
    np.testing.assert_allclose(a.energies, ds.energies, rtol=1e-10)
    np.testing.assert_allclose(a.forces, ds.forces, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("suffix", [".extxyz", ".xyz", ".db", ".json", ".traj"])
def test_round_trip_per_format(ge, tmp_path, suffix):
    ds = ge.subset(range(4))
    ds.atoms[0].info["config_type"] = "Vacancy"
    ds.atoms[1].info["tags_list"] = [1, 2, 3]
    back = load(save(ds, tmp_path / f"out{suffix}"))
    _labelled(ds, back)
    assert back.atoms[0].info["config_type"] == "Vacancy"
    assert list(back.atoms[1].info["tags_list"]) == [1, 2, 3]


@pytest.mark.parametrize("suffix", [".extxyz", ".db", ".json"])
def test_round_trip_keeps_per_atom_arrays(tmp_path, suffix):
    atoms = bulk("Cu", cubic=True)
    atoms.arrays["charges_q"] = np.arange(4.0)
    atoms.calc = EMT()
    atoms.get_forces()
    back = load(save(load_from_atoms([atoms], tmp_path), tmp_path / f"a{suffix}"))
    np.testing.assert_allclose(back.atoms[0].arrays["charges_q"], np.arange(4.0))


def load_from_atoms(frames, tmp_path, name="in.extxyz", **kw) -> Dataset:
    path = tmp_path / name
    write(path, frames)
    return load(path, **kw)


def test_save_refuses_overwrite_and_unknown_suffix(ge, tmp_path):
    target = save(ge.subset([0]), tmp_path / "x.extxyz")
    before = target.read_bytes()
    with pytest.raises(DataError, match="already exists"):
        save(ge.subset([1]), target)
    assert target.read_bytes() == before
    save(ge.subset([1]), target, overwrite=True)
    assert len(load(target)) == 1 and target.read_bytes() != before
    with pytest.raises(DataError, match="cannot write suffix"):
        save(ge, tmp_path / "x.cif")
    assert not (tmp_path / "x.cif").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x.extxyz"]  # no temporary files left


# ---- key lookup -------------------------------------------------------------------------------


def _frames_with_info(energy_name=None, forces_name=None, n=2):
    frames = []
    for i in range(n):
        a = molecule("H2O")
        a.positions += 0.01 * i
        if energy_name:
            a.info[energy_name] = -10.0 - i
        if forces_name:
            a.arrays[forces_name] = np.full((3, 3), 0.1 * (i + 1))
        frames.append(a)
    return frames


@pytest.mark.parametrize(
    "energy_name, forces_name",
    [("REF_energy", "REF_forces"), ("dft_energy", "dft_force"), ("dft_energy", "dft_forces"),
     ("energy", "force")],
)
def test_common_keys_are_found(tmp_path, energy_name, forces_name):
    ds = load_from_atoms(_frames_with_info(energy_name, forces_name), tmp_path)
    assert (ds.energy_key, ds.forces_key) == (energy_name, forces_name)
    np.testing.assert_allclose(ds.energies, [-10.0, -11.0])
    np.testing.assert_allclose(ds.forces[:3], 0.1)


def test_calculator_results_come_first(tmp_path):
    frames = _frames_with_info("REF_energy", "REF_forces")
    for a in frames:
        a.calc = EMT()
        a.get_forces()
    ds = load_from_atoms(frames, tmp_path)
    assert (ds.energy_key, ds.forces_key) == ("energy", "forces")
    named = load_from_atoms(
        frames, tmp_path, name="b.extxyz", energy_key="REF_energy", forces_key="REF_forces"
    )
    np.testing.assert_allclose(named.energies, [-10.0, -11.0])


def test_named_key_absent_lists_existing_keys(tmp_path):
    frames = _frames_with_info("REF_energy", "REF_forces")
    with pytest.raises(DataError, match=r"energy key 'U'.*REF_energy"):
        load_from_atoms(frames, tmp_path, energy_key="U")
    with pytest.raises(DataError, match=r"forces key 'F'.*REF_forces"):
        load_from_atoms(frames, tmp_path, name="c.extxyz", forces_key="F")


def test_unlabelled_structures_load_without_labels(tmp_path):
    ds = load_from_atoms(_frames_with_info(), tmp_path)
    assert ds.energies is None and ds.forces is None and ds.energy_key is None


def test_partially_labelled_structures_are_not_mislabelled(tmp_path):
    frames = _frames_with_info("REF_energy")
    del frames[1].info["REF_energy"]
    assert load_from_atoms(frames, tmp_path).energies is None
    with pytest.raises(DataError, match=r"missing in 1 of \d+ structures \(1\)"):
        load_from_atoms(frames, tmp_path, name="d.extxyz", energy_key="REF_energy")


def test_text_in_an_energy_label_is_not_a_number(tmp_path):
    # A garbled byte inside "energy=..." leaves text that ASE keeps as the calculator's energy.
    frames = [bulk("Cu", cubic=True) for _ in range(2)]
    for atoms in frames:
        atoms.calc = EMT()
        atoms.get_forces()
    write(tmp_path / "ok.extxyz", frames)
    text = (tmp_path / "ok.extxyz").read_text().replace("energy=", "energy=\x01", 1)
    (tmp_path / "bad.extxyz").write_text(text)
    ds = load(tmp_path / "bad.extxyz")
    assert ds.energies is None and ds.forces is not None
    with pytest.raises(DataError, match="energy"):
        load(tmp_path / "bad.extxyz", energy_key="energy")


def test_index_selects_structures():
    assert len(load(GE, index=":3")) == 3
    assert len(load(GE, index=-1)) == 1


# ---- bad input --------------------------------------------------------------------------------

GOOD_XYZ = (
    '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 energy=-1.0 pbc="T T T"\n'
    "Cu 0 0 0\nCu 1.8 1.8 0\n"
)


def _bad_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.extxyz", b"", "empty"),
        ("trunc.extxyz", GOOD_XYZ.rsplit("\n", 2)[0], "declares 2 atoms but only 1 lines follow"),
        ("garbled.extxyz", GOOD_XYZ.replace("1.8 1.8 0", "one point eight"), "cannot be read"),
        ("wrongcount.extxyz", GOOD_XYZ.replace("2\n", "7\n", 1), "declares 7 atoms"),
        ("countword.extxyz", GOOD_XYZ.replace("2\n", "two\n", 1), "should hold an atom count"),
        ("binary.extxyz", bytes(range(256)) * 8, "binary|cannot be read|unknown"),
        ("nan.extxyz", GOOD_XYZ.replace("1.8 1.8 0", "nan 1.8 0"), "NaN"),
        ("inf.extxyz", GOOD_XYZ.replace("1.8 1.8 0", "inf 1.8 0"), "NaN or infinity"),
        ("noatoms.extxyz", '0\nProperties=species:S:1:pos:R:3 pbc="F F F"\n', "no atoms|cannot be read"),
        ("same.extxyz", GOOD_XYZ.replace("1.8 1.8 0", "0 0 0"), "same position"),
        ("image.extxyz", GOOD_XYZ.replace("1.8 1.8 0", "5 5 0"), "same position"),
        ("data.pkl", b"\x80\x04\x95\x00", "pickle"),
        ("sneaky.extxyz", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.", "pickle"),
        ("old.traj", b"PickleTrajectory\x80\x02", "pickle"),
        ("unknown.qqq", "hello world\n", "unknown structure format|cannot be read"),
    ],
)
def test_bad_input_gives_one_clear_error(tmp_path, name, content, message):
    path = _bad_file(tmp_path, name, content)
    with pytest.raises(DataError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "absent.extxyz")
    with pytest.raises(DataError, match="directory"):
        load(tmp_path)


def test_valid_structure_passes_and_nan_energy_fails(tmp_path):
    assert len(load(_bad_file(tmp_path, "ok.extxyz", GOOD_XYZ))) == 1
    with pytest.raises(DataError, match="NaN"):
        load(_bad_file(tmp_path, "nanE.extxyz", GOOD_XYZ.replace("energy=-1.0", "energy=nan")))


def test_empty_dataset_is_not_written(tmp_path):
    with pytest.raises(DataError, match="empty dataset"):
        save(Dataset([]), tmp_path / "e.extxyz")
    assert not list(tmp_path.iterdir())


def test_lone_atom_and_molecule_without_cell(tmp_path):
    frames = [Atoms("Ar", positions=[[0, 0, 0]]), molecule("CH4")]
    ds = load_from_atoms(frames, tmp_path)
    assert ds.atom_counts.tolist() == [1, 5]
