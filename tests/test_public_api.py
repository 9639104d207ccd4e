"""Each subpackage's ``__all__`` lists what users use (issue 21): every name imports and is documented.

Internals stay importable by module path (``atomsieve.selectors.fps.farthest_point_sampling``) but are
not in ``__all__``. A function or class needs its own docstring; a constant needs a ``#:`` comment
where it is defined.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import atomsieve

PACKAGES = sorted(m.name for m in pkgutil.iter_modules(atomsieve.__path__, "atomsieve.") if m.ispkg)
#: Packages without ``__all__``: the CLI verbs (``atomsieve.commands``) are reached as the command.
WITHOUT_ALL = {"atomsieve.commands"}
EXPORTS = [(pkg, name) for pkg in PACKAGES if pkg not in WITHOUT_ALL
           for name in importlib.import_module(pkg).__all__]


@pytest.mark.parametrize("pkg", PACKAGES)
def test_every_subpackage_has_a_short_all(pkg):
    module = importlib.import_module(pkg)
    if pkg in WITHOUT_ALL:
        return
    assert len(module.__all__) == len(set(module.__all__)), "a name twice in __all__"
    assert len(module.__all__) <= 25, f"{pkg}.__all__ has {len(module.__all__)} names; keep internals out"


def _constant_is_commented(name: str, pkg: str) -> bool:
    """A ``#:`` comment line right above ``NAME =`` or ``NAME: type =`` in one of the package's modules."""
    package = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(package.__path__, f"{pkg}."):
        source = inspect.getsource(importlib.import_module(info.name))
        if re.search(rf"^#:.*\n(?:#:.*\n)*{re.escape(name)}\s*[:=]", source, re.M):
            return True
    return False


@pytest.mark.parametrize("pkg, name", EXPORTS, ids=[f"{p}.{n}" for p, n in EXPORTS])
def test_every_exported_name_imports_and_is_documented(pkg, name):
    obj = getattr(importlib.import_module(pkg), name)  # importable from the package
    exec(f"from {pkg} import {name}", {})
    if inspect.isclass(obj) or inspect.isfunction(obj):
        own = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        assert own and own.strip(), f"{pkg}.{name} has no docstring"
    else:
        assert _constant_is_commented(name, pkg), f"{pkg}.{name}: no #: comment where it is defined"
