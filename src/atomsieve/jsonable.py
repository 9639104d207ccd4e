"""Plain JSON values from the numpy-laden dictionaries we save (parameters, scalers, run records)."""

from __future__ import annotations

from typing import Any

import numpy as np


def jsonable(value: Any, *, finite: bool = False) -> Any:
    """``value`` with numpy scalars and arrays, tuples and non-string keys turned into JSON types.

    ``finite=True`` also writes NaN and infinities as None (strict JSON, for files other tools
    read); by default they stay floats, which Python's ``json`` round-trips exactly.

    >>> jsonable({1: (np.float64(0.5), np.arange(2)), "x": float("nan")}, finite=True)
    {'1': [0.5, [0, 1]], 'x': None}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, finite=finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, finite=finite) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), finite=finite)
    if isinstance(value, np.generic):
        value = value.item()
    if finite and isinstance(value, float) and not np.isfinite(value):
        return None
    return value
