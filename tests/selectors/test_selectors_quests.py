"""QUESTS minimum-set-cover compression as an atomsieve method, checked against the quests package."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from atomsieve.cli import main
from atomsieve.data import load
from atomsieve.datasets import default_path
from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors.registry import fit_labels, make_selector

quests = pytest.importorskip("quests", reason="the quests extra is part of the test extra")


@pytest.fixture(scope="module")
def ge():
    ds = load(default_path("test"))
    feats = AtomicFeatures(values=np.zeros((ds.n_atoms, 1)), species=ds.numbers,
                           structure=np.repeat(np.arange(len(ds)), ds.atom_counts))
    return ds, feats


def test_same_indices_as_the_quests_compressor(ge):
    from quests.compression.compress import DatasetCompressor

    ds, feats = ge
    ours = make_selector("quests", 8).fit(feats, **fit_labels("quests", ds))
    reference = DatasetCompressor(list(ds.atoms)).get_indices("msc", 8)
    assert ours.selected_.tolist() == [int(i) for i in reference]
    assert ours.n_selected_atoms_ == ds.atom_counts[ours.selected_].sum()
    assert ours.entropies_.argmax() == ours.selected_[0]


def test_quests_needs_the_structures_and_valid_parameters(ge):
    ds, feats = ge
    with pytest.raises(ParameterError, match="computes its own descriptor from the structures"):
        make_selector("quests", 3).fit(feats)
    with pytest.raises(ParameterError, match="bandwidth must be a finite number > 0"):
        make_selector("quests", 3, bandwidth=0.0).fit(feats, dataset=ds)
    with pytest.raises(ParameterError, match="larger than the 25 structures"):
        make_selector("quests", 30).fit(feats, dataset=ds)


def test_select_and_compare_offer_quests(tmp_path, capsys):
    out = tmp_path / "q.extxyz"
    args = ["select", str(default_path("test")), "--method", "quests", "--n", "4", "--output", str(out)]
    assert main(args) == 0
    assert len(ase.io.read(out, ":")) == 4
    table = tmp_path / "curves.csv"
    assert main(["compare", str(default_path("test")), "--methods", "quests,random", "--sizes", "6",
                 "--output", str(table)]) == 0
    import pandas as pd

    rows = pd.read_csv(table)
    quests_rows = rows[rows["method"] == "quests"]
    assert len(quests_rows) == 1 and int(quests_rows["n_selected"].iloc[0]) == 6
    assert np.isfinite(quests_rows["rmse_f_pred"]).all()


def test_compare_tab_lists_quests():
    from atomsieve.app.compare_state import available_methods

    assert "quests" in available_methods()
