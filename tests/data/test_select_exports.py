"""`atomsieve select` outputs for the next step: MACE label names, isolated atoms, the indices record."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest

from atomsieve.cli import main
from atomsieve.data import load
from atomsieve.datasets import default_path
from atomsieve.selectors.record import read_selection_record

GE_TEST = str(default_path("test"))


@pytest.fixture(scope="module")
def ge_test():
    return load(GE_TEST)


def test_label_prefix_extxyz_read_back_by_ase(tmp_path, ge_test):
    out, rec = tmp_path / "sel.extxyz", tmp_path / "sel.json"
    assert main(["select", GE_TEST, "--method", "fps", "--n", "6", "--output", str(out),
                 "--label-prefix", "REF_", "--isolated-atom-energies", "Ge=-0.1234",
                 "--indices-out", str(rec)]) == 0
    frames = ase.io.read(out, ":")
    indices = json.loads(rec.read_text())["indices"]
    assert len(frames) == len(indices) + 1
    for atoms, i in zip(frames, indices):
        original = ge_test.atoms[i]
        assert atoms.calc is None and "energy" not in atoms.info and "forces" not in atoms.arrays
        assert atoms.info["REF_energy"] == pytest.approx(ge_test.energies[i], abs=1e-8)
        np.testing.assert_allclose(atoms.arrays["REF_forces"], ge_test.forces_of(i), atol=1e-8)
        assert atoms.info["config_type"] == original.info["config_type"]
        np.testing.assert_allclose(atoms.positions, original.positions, atol=1e-8)
    isolated = frames[-1]
    assert isolated.get_chemical_symbols() == ["Ge"] and not isolated.pbc.any()
    assert isolated.info == {"config_type": "IsolatedAtom", "REF_energy": pytest.approx(-0.1234)}
    np.testing.assert_array_equal(isolated.arrays["REF_forces"], np.zeros((1, 3)))


def test_label_prefix_keeps_a_stress_and_other_keys(tmp_path, ge_test):
    from ase.calculators.singlepoint import SinglePointCalculator

    from atomsieve.data import save

    src = tmp_path / "stressed.extxyz"
    frames = [a.copy() for a in ge_test.atoms[:3]]
    stress = np.array([0.01, 0.02, 0.03, 0.0, 0.0, 0.001])
    for i, atoms in enumerate(frames):
        atoms.info["temperature"] = 300 + i
        atoms.calc = SinglePointCalculator(atoms, energy=ge_test.energies[i], forces=ge_test.forces_of(i),
                                           stress=stress * (i + 1))
    ase.io.write(src, frames)
    out = save(load(src), tmp_path / "ref.db", label_prefix="REF_")
    back = load(out)
    assert (back.energy_key, back.forces_key) == ("REF_energy", "REF_forces")
    for i, atoms in enumerate(back.atoms):
        np.testing.assert_allclose(atoms.info["REF_stress"], stress * (i + 1))
        assert atoms.info["temperature"] == 300 + i
    np.testing.assert_allclose(back.energies, ge_test.energies[:3])


def test_indices_record_reproduces_the_selection(tmp_path, ge_test):
    out, rec = tmp_path / "sel.extxyz", tmp_path / "sel.json"
    assert main(["select", GE_TEST, "--budget", "5", "--output", str(out), "--indices-out", str(rec)]) == 0
    record = read_selection_record(rec)
    assert record["method"] == "lebank" and record["budget"]["target"] == "5"
    assert record["dataset_sha256"] == ge_test.content_hash()
    assert record["counts"]["structures_selected"] == len(record["indices"]) == 5
    assert record["counts"]["atoms_selected"] == int(ge_test.atom_counts[record["indices"]].sum())
    assert record["descriptor"]["r_cut"] > 0 and record["scaler"] is not None
    written = load(out)
    np.testing.assert_allclose(written.energies, ge_test.energies[record["indices"]])
    # the recorded method and parameters give the same selection again
    out2, rec2 = tmp_path / "again.extxyz", tmp_path / "again.json"
    threshold = f"Ge={record['parameters']['thresholds']['Ge']!r}"
    assert main(["select", GE_TEST, "--threshold", threshold, "--seed", str(record["parameters"]["seed"]),
                 "--output", str(out2), "--indices-out", str(rec2)]) == 0
    assert read_selection_record(rec2)["indices"] == record["indices"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--label-prefix", "1x"], "label prefix '1x'"),
        (["--isolated-atom-energies", "Ge=abc"], "'abc' is not a number"),
        (["--isolated-atom-energies", "Si=-0.1"], "no energy for Ge"),
        (["--isolated-atom-energies", "Xx=-0.1"], "'Xx': not a chemical element"),
        (["--indices-out", "sel.txt"], "ending in .json"),
    ],
)
def test_export_option_errors(tmp_path, capsys, extra, message):
    args = ["select", GE_TEST, "--method", "random", "--n", "3", "--output", str(tmp_path / "o.extxyz")]
    extra = [str(tmp_path / e) if e.endswith(".txt") else e for e in extra]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.extxyz").exists()


def test_label_prefix_refuses_traj(tmp_path, capsys):
    args = ["select", GE_TEST, "--method", "random", "--n", "3", "--output", str(tmp_path / "o.traj"),
            "--label-prefix", "REF_"]
    assert main(args) == 2
    assert ".traj, which drops per-atom arrays" in capsys.readouterr().err
