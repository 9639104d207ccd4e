"""Large inputs at the command line: select, sweep and featurize streamed through the on-disk feature
store give the in-memory answer; the selection is written while the file is read again."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import atomsieve
from atomsieve.cli import main
from atomsieve.data.stream import scan_elements, write_selected
from atomsieve.datasets import default_path
from atomsieve.descriptors import load_features
from atomsieve.selectors import EnvironmentBank

GE = default_path("train")  # 228 structures, 14,072 atoms
GE_TEST = default_path("test")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def summary(out: str) -> list[str]:
    """The printed selection, without the timing line."""
    return [line for line in out.splitlines() if not line.startswith(("time:", "written:", "bank saved:"))]


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ATOMSIEVE_STORE_TMP", str(tmp_path / "stores"))
    (tmp_path / "stores").mkdir()
    return tmp_path


def test_streamed_select_writes_the_in_memory_selection(capsys, scratch):
    code, mem, _ = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "-o", scratch / "mem.extxyz",
                       "--bank-out", scratch / "mem.npz", "--in-memory")
    assert code == 0
    code, streamed, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "-o",
                              scratch / "str.extxyz", "--bank-out", scratch / "str.npz", "--store",
                              scratch / "store", "--partition", 7)
    assert code == 0, err
    assert summary(streamed) == summary(mem)
    assert (scratch / "str.extxyz").read_bytes() == (scratch / "mem.extxyz").read_bytes()
    a, b = EnvironmentBank.load(scratch / "mem.npz"), EnvironmentBank.load(scratch / "str.npz")
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.source_structure, b.source_structure)
    # the kept store is reused for another threshold, and still gives the in-memory answer
    code, again, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.2", "--init", "empty", "-o",
                           scratch / "again.db", "--store", scratch / "store")
    assert code == 0 and "reusing" in err
    code, mem2, _ = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.2", "--init", "empty", "-o",
                        scratch / "mem2.db", "--in-memory")
    assert summary(again) == summary(mem2)
    x, y = atomsieve.load(scratch / "again.db"), atomsieve.load(scratch / "mem2.db")
    np.testing.assert_array_equal(x.energies, y.energies)
    np.testing.assert_array_equal(x.forces, y.forces)


def test_large_file_streams_by_itself_and_screens_against_a_bank(capsys, scratch, monkeypatch):
    run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "-o", scratch / "seed.extxyz", "--bank-out",
        scratch / "bank.npz")
    args = ["select", GE, "--threshold", "Ge=0.3", "--bank-in", scratch / "bank.npz"]
    code, mem, _ = run(capsys, *args, "-o", scratch / "mem.extxyz", "--bank-out", scratch / "mem.npz")
    assert code == 0
    monkeypatch.setenv("ATOMSIEVE_STREAM_BYTES", "1000")  # every file is "large" now
    code, streamed, err = run(capsys, *args, "-o", scratch / "str.extxyz", "--bank-out", scratch / "str.npz")
    assert code == 0, err
    assert summary(streamed) == summary(mem)
    assert (scratch / "str.extxyz").read_bytes() == (scratch / "mem.extxyz").read_bytes()
    assert len(EnvironmentBank.load(scratch / "str.npz")) == len(EnvironmentBank.load(scratch / "mem.npz"))
    assert list((scratch / "stores").iterdir()) == []  # the temporary store is gone


def test_options_that_need_the_whole_file(capsys, scratch, monkeypatch):
    monkeypatch.setenv("ATOMSIEVE_STREAM_BYTES", "1000")
    code, out, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "--shuffle", "-o",
                         scratch / "a.extxyz")
    assert code == 0 and "--shuffle needs the whole file in memory" in err
    code, _, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "--shuffle", "-o",
                       scratch / "b.extxyz", "--store", scratch / "store")
    assert code == 2 and "--shuffle cannot be used with a streamed input" in err
    code, _, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "-o", scratch / "c.extxyz",
                       "--store", scratch / "store", "--in-memory")
    assert code == 2 and "--in-memory" in err
    (scratch / "notastore").mkdir()
    (scratch / "notastore" / "mine.txt").write_text("keep me")
    code, _, err = run(capsys, "select", GE_TEST, "--threshold", "Ge=0.3", "-o", scratch / "d.extxyz",
                       "--store", scratch / "notastore")
    assert code == 2 and "not a feature store" in err
    assert (scratch / "notastore" / "mine.txt").read_text() == "keep me"


def test_streamed_sweep_gives_the_in_memory_table(capsys, scratch):
    common = ["sweep", GE_TEST, "--from", 0.2, "--to", 0.4, "--step", 0.1]
    assert run(capsys, *common, "-o", scratch / "mem.csv")[0] == 0
    code = run(capsys, *common, "-o", scratch / "str.csv", "--store", scratch / "store", "--partition", 6)[0]
    assert code == 0

    def table(name):
        with open(scratch / name) as fh:
            return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]

    assert table("str.csv") == table("mem.csv")
    assert len(table("mem.csv")) == 3


def test_streamed_featurize_store_and_npz_equal_in_memory(capsys, scratch):
    assert run(capsys, "featurize", GE_TEST, "-o", scratch / "mem.npz")[0] == 0
    code, out, _ = run(capsys, "featurize", GE_TEST, "--store", scratch / "store", "-o", scratch / "str.npz",
                       "--partition", 4)
    assert code == 0 and "store" in out
    a, b = load_features(scratch / "mem.npz"), load_features(scratch / "str.npz")
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.structure, b.structure)
    # matched to its dataset by content like the in-memory file (issue 20, class 6)
    from atomsieve.descriptors.storage import read_meta

    streamed, in_memory = (read_meta(scratch / name)["structure_hash"] for name in ("str.npz", "mem.npz"))
    assert streamed == in_memory == atomsieve.load(GE_TEST).structure_hash()
    # another cutoff: the kept store is rebuilt, not reused
    code, _, err = run(capsys, "featurize", GE_TEST, "--store", scratch / "store", "--cutoff", 4.0)
    assert code == 0 and "rebuilding" in err


@pytest.mark.slow  # a two-worker LocalCluster starts in ~10-40 s
def test_featurize_on_a_local_dask_cluster_equals_in_process(capsys, scratch):
    assert run(capsys, "featurize", GE_TEST, "--store", scratch / "serial", "--partition", 5)[0] == 0
    code, out, err = run(capsys, "featurize", GE_TEST, "--store", scratch / "dask", "--partition", 5,
                         "--scheduler", "local")
    assert code == 0, err
    assert "on Dask local" in out
    for name in ("values.f64", "species.i64", "structure.i64"):
        assert (scratch / "dask" / name).read_bytes() == (scratch / "serial" / name).read_bytes()


@pytest.mark.parametrize("suffix", [".extxyz", ".db", ".traj"])
def test_write_selected_equals_save_of_the_subset(tmp_path, suffix):
    order = [17, 3, 4, 20, 0]
    streamed = write_selected(GE_TEST, order, tmp_path / f"s{suffix}", partition_size=3)
    whole = atomsieve.save(atomsieve.load(GE_TEST).subset(order), tmp_path / f"w{suffix}")
    x, y = atomsieve.load(streamed), atomsieve.load(whole)
    np.testing.assert_array_equal(x.energies, y.energies)
    np.testing.assert_array_equal(x.forces, y.forces)
    np.testing.assert_array_equal(np.concatenate([a.positions for a in x.atoms]),
                                  np.concatenate([a.positions for a in y.atoms]))
    if suffix == ".extxyz":
        assert streamed.read_bytes() == whole.read_bytes()


def test_scan_elements_reads_the_species_column_wherever_it_is(tmp_path):
    path = tmp_path / "odd.extxyz"
    path.write_text("2\nProperties=pos:R:3:species:S:1 pbc=\"F F F\"\n0 0 0 H\n0 0 1 O\n"
                    "1\nProperties=pos:R:3:species:S:1 pbc=\"F F F\"\n0 0 0 C\n")
    assert scan_elements(path) == ["C", "H", "O"]
    db = atomsieve.save(atomsieve.load(GE_TEST), tmp_path / "ge.db")
    assert scan_elements(db) == ["Ge"]


@pytest.mark.parametrize("method", ["fps", "hfps", "cur", "cluster", "random"])
def test_streamed_structure_level_methods_select_what_the_in_memory_path_selects(capsys, scratch, method):
    common = ["select", GE, "--method", method, "--n", 12]  # the training set: cells of several sizes
    code, mem, _ = run(capsys, *common, "-o", scratch / "mem.extxyz")
    assert code == 0
    code, streamed, err = run(capsys, *common, "-o", scratch / "str.extxyz", "--store", scratch / "store")
    assert code == 0, err
    assert summary(streamed) == summary(mem)
    assert (scratch / "str.extxyz").read_bytes() == (scratch / "mem.extxyz").read_bytes()


def test_methods_that_need_labels_are_not_streamed(capsys, scratch):
    code, _, err = run(capsys, "select", GE_TEST, "--method", "energy", "--n", 5, "-o", scratch / "e.extxyz",
                       "--store", scratch / "store")
    assert code == 2 and "--method energy cannot be used with a streamed input" in err


def test_streamed_coverage_prints_the_in_memory_distances(capsys, scratch):
    code, mem, _ = run(capsys, "coverage", GE_TEST, GE)
    assert code == 0
    code, streamed, err = run(capsys, "coverage", GE_TEST, GE, "--store", scratch / "stores2",
                              "--partition", 40)
    assert code == 0, err
    assert streamed == mem
    assert sorted(p.name for p in (scratch / "stores2").iterdir()) == ["test", "train"]


def test_text_partitions_parse_to_the_partitions_ase_reads(tmp_path):
    from atomsieve import DataError
    from atomsieve.data.stream import iter_partitions, iter_text_partitions

    text = list(iter_text_partitions(GE_TEST, 7))
    parsed = list(iter_partitions(GE_TEST, 7))
    assert [len(t.atoms()) for t in text] == [len(p) for p in parsed]
    for t, p in zip(text, parsed):
        for a, b in zip(t.atoms(), p.atoms):
            np.testing.assert_array_equal(a.positions, b.positions)
            np.testing.assert_array_equal(a.cell[:], b.cell[:])
    bad = tmp_path / "bad.extxyz"
    bad.write_text("1\nProperties=species:S:1:pos:R:3\nGe nan 0 0\n")  # a NaN position
    with pytest.raises(DataError, match="bad.extxyz, structure 0"):
        next(iter_text_partitions(bad, 5)).atoms()
