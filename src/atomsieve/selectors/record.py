"""A selection as a small JSON file: indices, method, parameters, counts and descriptor parameters.

The record lets a selection be reproduced (same method, parameters and descriptor on the same data,
checked by the dataset's content hash) or applied elsewhere (``dataset.subset(record["indices"])``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from atomsieve.data import Dataset, atomic_path
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import DataError
from atomsieve.jsonable import jsonable
from atomsieve.selectors.base import Selector

#: Bumped when a key changes meaning.
RECORD_VERSION = 1


def selection_record(
    selector: Selector, features: AtomicFeatures, dataset: Dataset, **context: Any
) -> dict[str, Any]:
    """What :func:`write_selection_record` saves about a fitted ``selector``.

    Parameters
    ----------
    selector : Selector
        A fitted selector (``selected_`` set).
    features : AtomicFeatures
        The fingerprints it was fitted on; their ``params`` and scaler are recorded.
    dataset : Dataset
        The structures the indices refer to.
    **context
        Further entries, e.g. ``query=`` or ``budget=`` (JSON-able values).

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.selectors import FPS
    >>> ds = load_default("test")
    >>> feats = AtomicFeatures(values=np.eye(ds.n_atoms)[:, :4], species=ds.numbers,
    ...                        structure=np.repeat(np.arange(len(ds)), ds.atom_counts))
    >>> rec = selection_record(FPS(3).fit(feats), feats, ds)
    >>> rec["method"], len(rec["indices"]), rec["counts"]["structures_total"]
    ('fps', 3, 25)
    """
    from atomsieve import __version__

    parameters = {k: v for k, v in vars(selector).items() if not k.endswith("_") and not k.startswith("_")}
    thresholds = getattr(selector, "thresholds_", None)
    if thresholds is not None:
        parameters["thresholds"] = dict(thresholds)
    scaler = features.scaler.to_dict() if hasattr(features.scaler, "to_dict") else None
    record = {
        "format": "atomsieve-selection",
        "version": RECORD_VERSION,
        "atomsieve": __version__,
        "source": dataset.source,
        "dataset_sha256": dataset.content_hash(),
        "energy_key": dataset.energy_key,
        "forces_key": dataset.forces_key,
        "method": selector.name,
        "parameters": parameters,
        "indices": [int(i) for i in selector.selected_],
        "counts": {
            "structures_selected": int(len(selector.selected_)),
            "structures_total": len(dataset),
            "atoms_selected": int(selector.n_selected_atoms_),
            "atoms_total": int(dataset.n_atoms),
        },
        "seconds": float(selector.seconds_),
        "descriptor": features.params,
        "scaler": scaler,
        **context,
    }
    return jsonable(record, finite=True)


def write_selection_record(
    record: dict[str, Any], path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write ``record`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return path


def read_selection_record(path: str | os.PathLike) -> dict[str, Any]:
    """A record written by :func:`write_selection_record`, checked for its format and indices."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable selection record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != "atomsieve-selection":
        raise DataError(f"{path}: not an atomsieve selection record (no format 'atomsieve-selection')")
    indices = record.get("indices")
    if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
        raise DataError(f"{path}: 'indices' must be a list of non-negative structure indices")
    return record
