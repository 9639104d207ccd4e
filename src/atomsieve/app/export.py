"""Files the dashboard hands to the browser: the selected subset, the bank, the curves.

Every export is written with the library's own writers (``atomsieve.save``) into a private
temporary folder and read back as bytes, so the browser gets exactly what the CLI would write.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from atomsieve.app.state import safe_filename
from atomsieve.data import Dataset, save
from atomsieve.errors import DataError, ParameterError

#: Subset formats offered for download: label -> suffix.
SUBSET_FORMATS = {"extxyz": ".extxyz", "ASE database (.db)": ".db", "MACE extxyz (REF_)": ".extxyz"}
#: Formats that write their labels under a prefix (:mod:`atomsieve.data.fitting_labels`): label -> prefix.
LABEL_PREFIXES = {"MACE extxyz (REF_)": "REF_"}


def export_name(stem: str, suffix: str) -> str:
    """A sanitised download name such as ``ge_selection_40.extxyz``.

    >>> export_name("my set/selection 40", ".db")
    'selection_40.db'
    """
    return safe_filename(stem).removesuffix(suffix) + suffix if stem else f"export{suffix}"


def subset_bytes(dataset: Dataset, indices: Sequence[int] | np.ndarray, suffix: str = ".extxyz",
                 info: dict | None = None, label_prefix: str | None = None) -> bytes:
    """The structures at ``indices`` written as ``suffix`` (``.extxyz`` or ``.db``), as bytes.

    ``info`` (e.g. the selection's model error) is added to every written structure's ``atoms.info``;
    the dataset's own structures are left unchanged. ``label_prefix="REF_"`` writes the labels as
    MACE reads them (``REF_energy``, ``REF_forces``, ``REF_stress``).

    >>> from atomsieve.datasets import load_default
    >>> data = subset_bytes(load_default("test"), [0, 3], ".extxyz")
    >>> data.decode().splitlines()[0].strip().isdigit()
    True
    """
    if suffix not in SUBSET_FORMATS.values():
        offered = list(SUBSET_FORMATS.values())
        raise ParameterError(f"export format {suffix!r} is not offered; use one of {offered}")
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        raise DataError("nothing is selected, so there is nothing to export")
    folder = Path(tempfile.mkdtemp(prefix="atomsieve-export-"))
    try:
        subset = dataset.subset(indices)
        if info:
            subset.atoms = [atoms.copy() for atoms in subset.atoms]
            for atoms in subset.atoms:
                atoms.info.update(info)
        path = save(subset, folder / f"subset{suffix}", label_prefix=label_prefix)
        return path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def chemiscope_bytes(dataset: Dataset, features, indices: Sequence[int] | np.ndarray, bank=None) -> bytes:
    """The selection as a gzip-compressed chemiscope input (:mod:`atomsieve.data.chemiscope_map`)."""
    from atomsieve.data.chemiscope_map import write_chemiscope

    if features is None:
        raise DataError("no fingerprints yet: wait for them to be computed")
    folder = Path(tempfile.mkdtemp(prefix="atomsieve-export-"))
    try:
        path = write_chemiscope(folder / "map.json.gz", dataset, features, indices, bank=bank,
                                description=f"atomsieve dashboard selection: {len(indices)} structures")
        return path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bank_bytes(bank) -> bytes:
    """An :class:`~atomsieve.selectors.EnvironmentBank` saved with its own checksummed ``.npz`` writer."""
    folder = Path(tempfile.mkdtemp(prefix="atomsieve-export-"))
    try:
        path = Path(bank.save(folder / "bank.npz"))
        return path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def rows_csv(rows: Iterable[dict], columns: Sequence[str] | None = None) -> bytes:
    """Dictionaries as CSV bytes (header from ``columns`` or the first row's keys).

    >>> rows_csv([{"method": "LE", "n": 3}]).decode().split()
    ['method,n', 'LE,3']
    """
    rows = list(rows)
    if not rows:
        raise DataError("there are no rows to export yet")
    columns = list(columns or rows[0].keys())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
