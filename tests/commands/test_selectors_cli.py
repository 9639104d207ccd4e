"""`atomsieve select --method ...` and `atomsieve select-features` on a few germanium structures."""

from __future__ import annotations

import json

import pytest

from atomsieve.cli import main
from atomsieve.data import Dataset, load, save
from atomsieve.datasets import load_default


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ge6.extxyz"
    save(load_default("test").subset(range(6)), path)
    return path


def test_select_with_a_comparison_method(small_file, tmp_path, capsys):
    out = tmp_path / "fps.extxyz"
    assert main(["select", str(small_file), "--method", "fps", "--n", "3", "--output", str(out)]) == 0
    assert "selected:    3 of 6 structures" in capsys.readouterr().out
    assert len(load(out)) == 3


def test_select_features_cur_writes_json(small_file, tmp_path, capsys):
    out = tmp_path / "functions.json"
    assert main(["select-features", str(small_file), "--method", "cur", "--n", "5", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kept:        5 of 40 functions" in printed and "relative norm deviation" in printed
    assert main(["select-features", str(small_file), "--n", "41"]) == 2
    assert "larger than the 40 features" in capsys.readouterr().err
    record = json.loads(out.read_text())
    assert len(record["selected"]) == 5 and len(set(record["selected"])) == 5
    assert 0.0 <= record["relative_norm_deviation"] < 1.0
    assert main(["select-features", str(small_file), "--n", "5", "-o", str(out)]) == 2  # no overwrite
    assert "already exists" in capsys.readouterr().err


def test_select_features_errors(small_file, tmp_path, capsys):
    bare = tmp_path / "bare.extxyz"
    save(Dataset(load(small_file).atoms[:2]), bare)
    assert main(["select-features", str(bare), "--method", "fcorr", "--n", "3"]) == 2
    assert "needs reference forces" in capsys.readouterr().err
    assert main(["select-features", str(small_file), "--n", "many"]) == 2
    assert "--n 'many'" in capsys.readouterr().err
