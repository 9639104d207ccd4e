"""The one way a cache key is made from parameters: canonical JSON and its SHA-256.

Every cache keyed on descriptor parameters (the on-disk feature cache, the prepared-data cache,
the dashboard's in-memory caches) builds its key here, so equal parameters give equal keys
everywhere.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys; values JSON does not know are written as ``str(value)``.

    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any, length: int = 64) -> str:
    """The first ``length`` hex digits of the SHA-256 of :func:`canonical_json` of ``value``.

    >>> digest({"r_cut": 6.0}, 16)
    '03757116039dc465'
    """
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


_PARAMS: OrderedDict[int, tuple[object, str]] = OrderedDict()
_PARAMS_LOCK = threading.Lock()


def params_digest(params: Any) -> str:
    """A short (16 hex digits) :func:`digest` of descriptor parameters, for in-memory cache keys.

    Remembered for the last few parameter objects seen (by identity), as views ask on every update.
    """
    with _PARAMS_LOCK:
        hit = _PARAMS.get(id(params))
        if hit is not None and hit[0] is params:
            return hit[1]
    value = digest(params, 16)
    if params is not None:
        with _PARAMS_LOCK:
            _PARAMS[id(params)] = (params, value)
            while len(_PARAMS) > 8:
                _PARAMS.popitem(last=False)
    return value
