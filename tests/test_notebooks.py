"""Every notebook listed here runs top to bottom in a fresh kernel of this environment (nbclient).

Add a notebook by appending its file name to NOTEBOOKS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = [
    "dashboard_in_jupyter.ipynb",
    "entropy_generation.ipynb",
    "nft_platinum_emt.ipynb",
    "select_germanium.ipynb",
    "nacl_selection.ipynb",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    # "python3" resolves to this interpreter (jupyter_client swaps a bare "python" for sys.executable).
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")
