"""``atomsieve build``: writes a loadable, labelled pool atomically and fails early on bad options."""

import numpy as np
import pytest

import atomsieve
from atomsieve.builders import per_atom_energies
from atomsieve.cli import main


def test_build_writes_a_labelled_pool(tmp_path, capsys):
    out = tmp_path / "pool.extxyz"
    assert main(["build", "pdh-cluster", "--output", str(out), "--structures", "3", "--seed", "2"]) == 0
    assert "wrote 3 structures" in capsys.readouterr().out
    ds = atomsieve.load(out)
    assert len(ds) == 3 and ds.elements == ["H", "Pd"]
    assert per_atom_energies(ds).shape == (45,)
    np.testing.assert_allclose(
        [per_atom_energies(ds)[ds.offsets[i] : ds.offsets[i + 1]].sum() for i in range(3)], ds.energies,
        atol=1e-6,
    )
    assert list(tmp_path.iterdir()) == [out]  # no temporary files left behind


def test_build_refuses_to_overwrite_and_bad_suffixes_before_any_md(tmp_path, capsys):
    out = tmp_path / "pool.extxyz"
    out.write_text("keep me")
    assert main(["build", "molten-nacl", "--output", str(out), "-n", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["build", "molten-nacl", "--output", str(tmp_path / "pool.csv")]) == 2
    assert "cannot write suffix" in capsys.readouterr().err
    assert main(["build", "molten-nacl", "--output", str(tmp_path / "p.xyz"), "--element", "Pt"]) == 2
    assert "one-element only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # refused while the options are parsed
        main(["build", "one-element", "--output", str(tmp_path / "p.xyz"), "--structures", "0"])
    assert refused.value.code == 2
    assert "--structures/-n: '0': must be a whole number" in capsys.readouterr().err


def test_build_one_element_with_element_and_overwrite(tmp_path):
    out = tmp_path / "pool.xyz"
    out.write_text("old")
    args = ["build", "one-element", "-o", str(out), "-n", "2", "--element", "Ag", "--overwrite"]
    assert main(args) == 0
    assert atomsieve.load(out).elements == ["Ag"]
