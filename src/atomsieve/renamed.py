"""Old public names kept importable after a rename, each with a DeprecationWarning naming the new one.

>>> import warnings
>>> class New: ...
>>> getter = renamed_names("pkg.mod", {"Old": New})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     getter("Old") is New, str(caught[0].message)
(True, 'pkg.mod.Old is deprecated; use New')
"""

from __future__ import annotations

import warnings
from collections.abc import Callable


def renamed_names(module: str, old_names: dict[str, type]) -> Callable[[str], type]:
    """A module-level ``__getattr__`` for ``module`` that serves each old name as its new class."""

    def __getattr__(name: str) -> type:
        if name in old_names:
            new = old_names[name]
            warnings.warn(f"{module}.{name} is deprecated; use {new.__name__}", DeprecationWarning,
                          stacklevel=2)
            return new
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
