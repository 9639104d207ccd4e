"""`atomsieve chemiscope`: the map file read back by the chemiscope package."""

from __future__ import annotations

import gzip
import json

import chemiscope
import numpy as np
import pytest

from atomsieve.cli import main
from atomsieve.data import load
from atomsieve.data.chemiscope_map import write_chemiscope
from atomsieve.datasets import default_path
from atomsieve.descriptors import preset
from atomsieve.selectors import LEBank

GE_TEST = str(default_path("test"))


@pytest.fixture(scope="module")
def ge():
    ds = load(GE_TEST)
    feats = preset(None, ds.elements).compute(ds, scaler="minmax", device="cpu")
    return ds, feats


def _read_back(path):
    """Through chemiscope's own reader, then its own validation of every part we wrote."""
    widget = chemiscope.show_input(str(path))
    assert type(widget).__name__ == "ChemiscopeWidget"
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        data = json.load(fh)
    environments = [(e["structure"], e["center"], e["cutoff"]) for e in data["environments"]]
    chemiscope.create_input(structures=data["structures"], properties=data["properties"],
                            environments=environments, metadata=data["meta"], settings=data["settings"])
    return data


def test_lebank_map_has_selection_bank_and_labels(tmp_path, ge):
    ds, feats = ge
    sel = LEBank({"Ge": 0.5}, seed=0, device="cpu").fit(feats)
    path = write_chemiscope(tmp_path / "map.json.gz", ds, feats, sel.selected_, bank=sel.bank_)
    data = _read_back(path)
    props = data["properties"]
    assert len(data["structures"]) == len(ds) and len(data["environments"]) == ds.n_atoms
    for name, prop in props.items():
        assert len(prop["values"]) == (len(ds) if prop["target"] == "structure" else ds.n_atoms), name
    assert [i for i, v in enumerate(props["selected"]["values"]) if v == "yes"] == sorted(sel.selected_)
    order = np.asarray(props["selection order"]["values"])
    assert list(np.argsort(order)[len(ds) - len(sel.selected_):]) == list(sel.selected_)
    assert sum(props["in bank"]["values"]) == len(sel.bank_) == sum(props["bank atoms"]["values"])
    bank_structures = {i for i, v in enumerate(props["bank atoms"]["values"]) if v > 0}
    assert bank_structures == set(sel.selected_.tolist())
    np.testing.assert_allclose(props["energy per atom"]["values"], ds.energies_per_atom)
    assert props["config_type"]["values"] == [a.info["config_type"] for a in ds.atoms]
    assert data["settings"]["map"]["x"]["property"] == "map PC[1]"
    assert data["structures"][0]["size"] == len(ds.atoms[0])


def test_cli_selects_or_reads_a_record(tmp_path, capsys):
    rec, sel_out = tmp_path / "sel.json", tmp_path / "sel.extxyz"
    assert main(["select", GE_TEST, "--method", "fps", "--n", "5", "--output", str(sel_out),
                 "--indices-out", str(rec)]) == 0
    indices = json.loads(rec.read_text())["indices"]
    out = tmp_path / "from_record.json"
    assert main(["chemiscope", GE_TEST, "--selection", str(rec), "--output", str(out)]) == 0
    data = _read_back(out)
    selected = data["properties"]["selected"]["values"]
    assert [i for i, v in enumerate(selected) if v == "yes"] == sorted(indices)
    assert "in bank" not in data["properties"]
    out2 = tmp_path / "budget.json.gz"
    assert main(["chemiscope", GE_TEST, "--budget", "6", "--output", str(out2)]) == 0
    assert _read_back(out2)["properties"]["selected"]["values"].count("yes") == 6


def test_cli_errors(tmp_path, capsys):
    assert main(["chemiscope", GE_TEST, "--output", str(tmp_path / "m.json")]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main(["chemiscope", GE_TEST, "--budget", "3", "--output", str(tmp_path / "m.extxyz")]) == 2
    assert ".json or .json.gz" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "atomsieve-selection", "indices": [1], "dataset_sha256": "x"}))
    assert main(["chemiscope", GE_TEST, "--selection", str(other), "--output", str(tmp_path / "m.json")]) == 2
    assert "made from other structures" in capsys.readouterr().err
