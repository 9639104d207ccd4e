"""A folder numba can write its compiled kernels to (the one place for that rule).

numba's ``cache=True`` raises at import when it can write neither beside our sources nor in the
user's cache folder: a shared installation run by a user whose home is read-only or absent.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _can_write(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def _user_cache() -> Path | None:
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    except RuntimeError:  # no home folder known for this user
        return None


def ensure_numba_cache_dir() -> None:
    """Point ``NUMBA_CACHE_DIR`` at a per-user temporary folder when numba has nowhere to write."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    user_cache = _user_cache()
    if _can_write(Path(__file__).parent / "__pycache__") or (user_cache and _can_write(user_cache)):
        return
    fallback = str(Path(tempfile.gettempdir()) / f"atomsieve-numba-{getattr(os, 'getuid', lambda: 0)()}")
    os.environ["NUMBA_CACHE_DIR"] = fallback
    if "numba" in sys.modules:  # imported before us: its configuration was read already
        sys.modules["numba"].config.CACHE_DIR = fallback
