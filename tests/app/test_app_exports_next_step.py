"""The dashboard's Export tab: MACE-labelled extxyz and the chemiscope map, read back by their consumers."""

from __future__ import annotations

import gzip
import io
import json

import ase.io
import chemiscope
import numpy as np
import pytest

from atomsieve.app.export_panel import ExportPanel
from atomsieve.app.features_state import FeaturesState
from atomsieve.app.selection_state import SelectionState
from atomsieve.app.state import DatasetState
from atomsieve.datasets import load_default


@pytest.fixture(scope="module")
def panel():
    fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    fs.compute_now()
    selection = SelectionState(features_state=fs, synchronous=True)
    selection.thresholds = {"Ge": 0.6}
    return ExportPanel(data=fs.data, selection=selection)


def test_mace_extxyz_download(panel):
    ds, selected = panel.data.dataset, panel.selection.selected_indices()
    panel.subset_format.value = "MACE extxyz (REF_)"
    assert panel.subset_download.filename.endswith(".extxyz")
    frames = ase.io.read(io.StringIO(panel._subset_file().read().decode()), ":", format="extxyz")
    assert len(frames) == len(selected)
    for atoms, i in zip(frames, selected):
        assert atoms.calc is None
        assert atoms.info["REF_energy"] == pytest.approx(ds.energies[i], abs=1e-8)
        np.testing.assert_allclose(atoms.arrays["REF_forces"], ds.forces_of(i), atol=1e-8)
        assert atoms.info["config_type"] == ds.atoms[i].info["config_type"]


def test_chemiscope_download(panel, tmp_path):
    data = panel._chemiscope_file().read()
    path = tmp_path / "map.json.gz"
    path.write_bytes(data)
    assert type(chemiscope.show_input(str(path))).__name__ == "ChemiscopeWidget"
    content = json.loads(gzip.decompress(data))
    props = content["properties"]
    selected = panel.selection.outcome
    assert props["selected"]["values"].count("yes") == selected.n_structures
    assert sum(props["in bank"]["values"]) == selected.bank_size
