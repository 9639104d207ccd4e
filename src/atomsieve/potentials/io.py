"""Saving and loading potentials without pickling objects.

A file is ``torch.save`` of a dict holding only strings, numbers, lists and tensors: JSON text
for the descriptor parameters, the scaler and the model configuration, and tensors for the
weights. Loading uses ``torch.load(..., weights_only=True)``, which refuses anything else, so a
potential file cannot run code.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from atomsieve.data import atomic_path
from atomsieve.descriptors import SymmetryFunctions, scaler_from_dict
from atomsieve.errors import CacheError, DataError
from atomsieve.potentials.bpnn import BPNNModel
from atomsieve.potentials.ensemble import Ensemble
from atomsieve.potentials.linear import LinearModel

if TYPE_CHECKING:  # saving reads a Potential's fields; loading it is potential.load_potential's job
    from atomsieve.potentials.potential import Potential

FORMAT = "atomsieve-potential"
VERSION = 1


def _model_state(model) -> dict:
    if isinstance(model, LinearModel):
        return {"kind": "linear", "config": json.dumps(model.get_config()), "elements": list(model.elements_),
                "coef": torch.as_tensor(model.coef_), "offsets": torch.as_tensor(model.offsets_)}
    if isinstance(model, BPNNModel):
        net = model.network_
        return {"kind": "bpnn", "config": json.dumps(model.get_config()), "elements": list(model.elements_),
                "n_features": int(net.element_nets[0][0].in_features),
                "state_dict": OrderedDict((k, v.detach().cpu()) for k, v in net.state_dict().items())}
    if isinstance(model, Ensemble):
        return {"kind": "ensemble", "config": json.dumps(model.get_config()),
                "members": [_model_state(m) for m in model.members_]}
    raise DataError(
        f"cannot save a {type(model).__name__}; expected LinearModel, BPNNModel or Ensemble")


def _model_from_state(state: dict):
    kind = state.get("kind")
    config = json.loads(state["config"])
    if kind == "linear":
        model = LinearModel(**config)
        model.coef_ = state["coef"].numpy().astype(np.float64)
        model.offsets_ = state["offsets"].numpy().astype(np.float64)
        model.elements_ = list(state["elements"])
        return model
    if kind == "bpnn":
        config["device"] = "cpu"
        model = BPNNModel(**config)
        net = model.build_network(int(state["n_features"]), list(state["elements"]))
        net.load_state_dict(state["state_dict"])
        net.eval()
        return model
    if kind == "ensemble":
        members = [_model_from_state(m) for m in state["members"]]
        model = Ensemble(members[0], **config)
        model.members_ = members
        model.elements_ = members[0].elements_
        return model
    raise CacheError(f"unknown model kind {kind!r} in potential file")


def save_potential(potential: Potential, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``potential`` to ``path`` atomically; refuses to overwrite unless asked."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "descriptor": json.dumps(potential.descriptor.params),
        "scaler": json.dumps(potential.scaler.to_dict()),
        "model": _model_state(potential.model),
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)  # a Python file: a full disk is an OSError, not torch's iostream error
    return path


def _is_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def read_potential(path: str | os.PathLike) -> tuple[Any, SymmetryFunctions, Any]:
    """Model, descriptor and scaler of a file written by :func:`save_potential`
    (``weights_only=True``: no code runs); :func:`atomsieve.potentials.load_potential` bundles them."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such potential file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":  # what torch.save writes: a zip archive
        kind = "an empty file" if not head else "text" if _is_text(path) else "binary data of another kind"
        raise CacheError(f"{path}: not an atomsieve potential (it holds {kind}; potentials are the files "
                         "Potential.save writes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CacheError(f"{path}: not an atomsieve potential (a zip archive that holds no readable "
                         f"potential: {type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CacheError(f"{path}: not an atomsieve potential file")
    if payload.get("version") != VERSION:
        raise CacheError(
            f"{path}: potential file version {payload.get('version')}; this atomsieve reads {VERSION}")
    try:
        descriptor = SymmetryFunctions.from_params(json.loads(payload["descriptor"]))
        scaler = scaler_from_dict(json.loads(payload["scaler"]))
        model = _model_from_state(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CacheError(f"{path}: corrupt potential file ({type(exc).__name__}: {exc})") from None
    return model, descriptor, scaler
