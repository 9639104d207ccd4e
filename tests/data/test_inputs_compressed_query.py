"""Compressed inputs (.gz, .bz2, .xz of any format ASE reads) and ASE-database queries."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import shutil

import ase.db
import ase.io
import numpy as np
import pytest

from atomsieve.cli import main
from atomsieve.data import load, save
from atomsieve.data.stream import iter_partitions
from atomsieve.datasets import default_path
from atomsieve.errors import DataError, ParameterError

OPENERS = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def _compress(src, dst, kind):
    with open(src, "rb") as fin, OPENERS[kind](dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


@pytest.fixture(scope="module")
def ge_test():
    return load(default_path("test"))


@pytest.fixture(scope="module")
def ge_db(tmp_path_factory, ge_test):
    """The germanium training set as an ASE database (config_type and energies as row keys)."""
    path = tmp_path_factory.mktemp("db") / "ge.db"
    save(load(default_path()), path)
    return path


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_compressed_extxyz_loads_like_the_plain_file(tmp_path, ge_test, kind):
    path = _compress(default_path("test"), tmp_path / f"ge.extxyz.{kind}", kind)
    ds = load(path)
    assert len(ds) == len(ge_test) and ds.energy_key == ge_test.energy_key
    np.testing.assert_array_equal(ds.energies, ge_test.energies)
    np.testing.assert_array_equal(ds.forces, ge_test.forces)
    assert [a.info["config_type"] for a in ds.atoms] == [a.info["config_type"] for a in ge_test.atoms]


@pytest.mark.parametrize(("suffix", "kind"), [(".db", "gz"), (".json", "xz"), (".traj", "bz2")])
def test_compressed_database_and_trajectory_load(tmp_path, ge_test, suffix, kind):
    plain = save(ge_test, tmp_path / f"ge{suffix}")
    ds = load(_compress(plain, tmp_path / f"ge{suffix}.{kind}", kind))
    np.testing.assert_allclose(ds.energies, ge_test.energies)
    np.testing.assert_allclose(ds.forces, ge_test.forces)
    if suffix != ".traj":
        assert [len(p) for p in iter_partitions(tmp_path / f"ge{suffix}.{kind}", 10)] == [10, 10, 5]


def test_compressed_file_named_plain_is_refused_with_the_suffix_to_add(tmp_path):
    path = _compress(default_path("test"), tmp_path / "ge.extxyz", "gz")
    with pytest.raises(DataError, match=r"gz-compressed; name it ge\.extxyz\.gz"):
        load(path)


def test_plain_text_named_gz_is_a_clear_error(tmp_path):
    path = tmp_path / "ge.extxyz.gz"
    shutil.copy(default_path("test"), path)
    with pytest.raises(DataError, match=r"ge\.extxyz\.gz: not a valid gz file"):
        load(path)


@pytest.mark.parametrize(
    "query",
    ["config_type=Vacancy", "natoms<60", "config_type=Elastic,natoms<100", "energy<-270",
     "config_type!=Surface"],
)
def test_query_counts_equal_ase_db_select(ge_db, query):
    with ase.db.connect(str(ge_db)) as db:
        expected = [row.id for row in db.select(query)]
        energies = [row.energy for row in db.select(query)]
    assert expected, f"the test query {query!r} should match something"
    ds = load(ge_db, query=query)
    assert len(ds) == len(expected)
    np.testing.assert_allclose(ds.energies, energies)


def test_query_on_a_file_without_one_is_refused(ge_db):
    with pytest.raises(ParameterError, match=r"a query needs an ASE database \(\.db or \.json\); a extxyz"):
        load(default_path("test"), query="config_type=Elastic")


def test_query_errors_name_the_query(ge_db):
    with pytest.raises(DataError, match=r"query 'natoms<' is not valid ASE selection syntax"):
        load(ge_db, query="natoms<")
    with pytest.raises(DataError, match=r"no structure matches query 'config_type=Liquid'"):
        load(ge_db, query="config_type=Liquid")


@pytest.mark.parametrize("verb", ["info", "featurize"])
def test_cli_query(ge_db, tmp_path, capsys, verb):
    from atomsieve.descriptors import load_features

    with ase.db.connect(str(ge_db)) as db:
        n = db.count("config_type=Vacancy")
    out_file = tmp_path / "f.npz"
    extra = ["--output", str(out_file)] if verb == "featurize" else []
    assert main([verb, str(ge_db), "--query", "config_type=Vacancy", *extra]) == 0
    if verb == "info":
        assert f"structures:  {n}" in capsys.readouterr().out
    else:
        assert load_features(out_file).n_structures == n
        out_file.unlink()
    assert main([verb, str(default_path("test")), "--query", "config_type=Vacancy", *extra]) == 2
    assert "a query needs an ASE database" in capsys.readouterr().err


def test_select_and_dashboard_state_take_the_query(ge_db, tmp_path):
    from atomsieve.app.state import DatasetState

    query = "config_type=Elastic"
    with ase.db.connect(str(ge_db)) as db:
        n = db.count(query)
    out, rec = tmp_path / "sel.extxyz", tmp_path / "sel.json"
    assert main(["select", str(ge_db), "--query", query, "--method", "random", "--n", "3",
                 "--output", str(out), "--indices-out", str(rec)]) == 0
    record = json.loads(rec.read_text())
    assert record["query"] == query and record["counts"]["structures_total"] == n
    assert {a.info["config_type"] for a in ase.io.read(out, ":")} == {"Elastic"}
    state = DatasetState.from_path(ge_db, query=query)
    assert len(state.dataset) == n and query in state.title


@pytest.mark.parametrize("name", ["ge.extxyz.gz", "ge.pkl.gz"])
def test_pickle_inside_a_compressed_file_is_refused(tmp_path, name):
    import pickle

    path = tmp_path / name
    with gzip.open(path, "wb") as fh:
        fh.write(pickle.dumps({"not": "structures"}))
    with pytest.raises(DataError, match="pickle-based files are refused"):
        load(path)
