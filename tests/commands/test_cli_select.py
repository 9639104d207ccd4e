"""``atomsieve select`` and ``atomsieve sweep`` through the real entry point; outputs checked with ASE."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

import atomsieve
from atomsieve.cli import main
from atomsieve.selectors import EnvironmentBank, LEBank

GE = "/work/shared/data/ge_mlearn_train.extxyz"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two small germanium files (structures 0-9 and 10-14 of the training set) and a feature cache
    shared by the tests (fingerprints are computed once per file)."""
    folder = tmp_path_factory.mktemp("ge")
    ds = atomsieve.load(GE)
    first, second = folder / "first.extxyz", folder / "second.extxyz"
    atomsieve.save(ds.subset(range(0, 10)), first)
    atomsieve.save(ds.subset(range(10, 15)), second)
    mp = pytest.MonkeyPatch()
    mp.setenv("ATOMSIEVE_CACHE_DIR", str(folder / "cache"))
    yield first, second
    mp.undo()


def run(capsys, *argv) -> tuple[int, str, str]:
    argv = list(argv)
    if argv[0] in ("select", "sweep"):
        argv.append("--cache")
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def field(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(name + ":")).split(":", 1)[1].strip()


def test_select_writes_what_the_library_selects(small, tmp_path, capsys):
    first, _ = small
    out_file = tmp_path / "sel.extxyz"
    code, out, err = run(capsys, "select", first, "--threshold", "Ge=0.3", "--output", out_file,
                         "--bank-out", tmp_path / "bank.npz", "--seed", 2)
    assert code == 0, err
    frames = ase.io.read(out_file, ":")
    n = int(field(out, "selected").split()[0])
    assert len(frames) == n
    # The same selection through the library, on the bank's descriptor and scaler.
    bank = EnvironmentBank.load(tmp_path / "bank.npz")
    from atomsieve.descriptors import SymmetryFunctions

    ds = atomsieve.load(first)
    feats = SymmetryFunctions.from_params(bank.params).compute(ds)
    sel = LEBank({"Ge": 0.3}, seed=2).fit(feats)
    assert len(sel.bank_) == len(bank) and bank.thresholds == {"Ge": 0.3}
    np.testing.assert_allclose(sel.bank_.vectors, bank.vectors)
    for frame, i in zip(frames, sel.selected_):
        np.testing.assert_allclose(frame.positions, ds.atoms[i].positions)
        assert frame.get_potential_energy() == pytest.approx(ds.energies[i])


def test_bank_in_screens_new_data(small, tmp_path, capsys):
    first, second = small
    bank = tmp_path / "bank.npz"
    code, _, err = run(capsys, "select", first, "--threshold", "0.3", "--output", tmp_path / "a.extxyz",
                       "--bank-out", bank)
    assert code == 0, err
    code, out, err = run(capsys, "select", second, "--threshold", "Ge=0.3", "--bank-in", bank,
                         "--output", tmp_path / "b.extxyz", "--bank-out", tmp_path / "grown.npz")
    assert code == 0, err
    grown = EnvironmentBank.load(tmp_path / "grown.npz")
    assert len(grown) > len(EnvironmentBank.load(bank))
    assert set(grown.batch.tolist()) == {0, 1}
    # Screening the first file against the grown bank adds nothing and writes nothing.
    code, out, err = run(capsys, "select", first, "--threshold", "Ge=0.3", "--bank-in",
                         tmp_path / "grown.npz", "--output", tmp_path / "c.extxyz")
    assert code == 0, err
    assert field(out, "selected").startswith("0 of 10")
    assert not (tmp_path / "c.extxyz").exists()


def test_budget(small, tmp_path, capsys):
    first, _ = small
    code, out, err = run(capsys, "select", first, "--budget", "30%", "--output", tmp_path / "b.extxyz")
    assert code == 0, err
    assert "met" in field(out, "budget")
    assert len(ase.io.read(tmp_path / "b.extxyz", ":")) == 3
    code, out, err = run(capsys, "select", first, "--budget", "4", "--output", tmp_path / "c.extxyz")
    assert code == 0, err
    assert len(ase.io.read(tmp_path / "c.extxyz", ":")) == 4


def test_sweep_csv(small, tmp_path, capsys):
    first, _ = small
    code, out, err = run(capsys, "sweep", first, "--element", "Ge", "--from", "0.1", "--to", "0.45",
                         "--step", "0.05", "--output", tmp_path / "sweep.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert [float(r["threshold"]) for r in rows] == pytest.approx(np.arange(0.1, 0.4501, 0.05))
    assert {"structures", "atoms", "bank_size", "bank_Ge", "seconds"} <= set(rows[0])
    counts = [int(r["structures"]) for r in rows]
    assert counts[0] >= counts[-1] >= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threshold", "H=0.1"], "no threshold for element(s) Ge"),
        (["--threshold", "Ge=-0.1"], "threshold of Ge must be a finite number >= 0"),
        (["--threshold", "Ge:0.1"], "expected ELEMENT=VALUE"),
        (["--threshold", "Ge=abc"], "is not a number"),
        (["--budget", "abc"], "--budget 'abc'"),
        (["--budget", "150%"], "percentage"),
        ([], "lebank needs --threshold"),
        (["--threshold", "Ge=0.2", "--n", "5"], "--n applies to the comparison methods"),
        (["--method", "fps"], "--method fps needs --n"),
        (["--method", "fps", "--n", "5", "--threshold", "Ge=0.2"], "--threshold applies to --method lebank"),
    ],
)
def test_errors_are_one_line(small, tmp_path, capsys, args, message):
    first, _ = small
    code, out, err = run(capsys, "select", first, "--output", tmp_path / "x.extxyz", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_file_errors(small, tmp_path, capsys):
    first, _ = small
    existing = tmp_path / "exists.extxyz"
    existing.write_text("x")
    code, _, err = run(capsys, "select", first, "--threshold", "0.2", "--output", existing)
    assert code == 2 and "already exists" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "select", first, "--threshold", "0.2", "--bank-in", bad, "--output",
                       tmp_path / "y.extxyz")
    assert code == 2 and "bad.npz" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "select", tmp_path / "missing.extxyz", "--threshold", "0.2", "--output",
                       tmp_path / "z.extxyz")
    assert code == 2 and "missing.extxyz" in err
    code, _, err = run(capsys, "sweep", first, "--element", "H", "--output", tmp_path / "s.csv")
    assert code == 2 and "not in" in err
    code, _, err = run(capsys, "sweep", first, "--from", "0.4", "--to", "0.1", "--output", tmp_path / "s.csv")
    assert code == 2 and "backwards" in err


@pytest.mark.slow
def test_installed_entry_point(small, tmp_path):
    first, _ = small
    exe = Path(sys.executable).with_name("atomsieve")
    done = subprocess.run([str(exe), "select", str(first), "--threshold", "Ge=-1", "--output",
                           str(tmp_path / "x.extxyz")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("atomsieve select: error: threshold of Ge")
    done = subprocess.run([str(exe), "select", str(first), "--threshold", "Ge=0.4", "--cache", "--output",
                           str(tmp_path / "ok.extxyz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(ase.io.read(tmp_path / "ok.extxyz", ":")) == int(field(done.stdout, "selected").split()[0])
