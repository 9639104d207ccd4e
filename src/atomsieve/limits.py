"""Size limits a user can change through the environment (one parser, one error message)."""

from __future__ import annotations

import os

from atomsieve.errors import ParameterError


def env_bytes(name: str, default: int) -> int:
    """The number of bytes in ``$name`` (``"1e6"`` and ``"1000000"`` both work), else ``default``.

    >>> env_bytes("ATOMSIEVE_NO_SUCH_LIMIT", 64)
    64
    """
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(float(text))
    except ValueError:
        raise ParameterError(f"${name}={text!r}: expected a number of bytes") from None
