"""pyproject.toml says Python >= 3.10: no module may import what only 3.11+ has."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Names the typing module gained in 3.11 (PEP 646, 655, 673, 675, 681 and friends).
TYPING_311 = {
    "Unpack", "TypeVarTuple", "Self", "LiteralString", "Never", "Required", "NotRequired",
    "assert_never", "assert_type", "reveal_type", "dataclass_transform", "get_overloads",
    "clear_overloads",
}
#: Standard-library modules new in 3.11.
MODULES_311 = {"tomllib", "wsgiref.types"}


def _minimum_python() -> tuple[int, int]:
    text = (ROOT / "pyproject.toml").read_text()
    major, minor = re.search(r'requires-python\s*=\s*">=(\d+)\.(\d+)"', text).groups()
    return int(major), int(minor)


def test_sources_import_nothing_newer_than_the_declared_minimum():
    minimum = _minimum_python()
    offending = []
    for path in sorted((ROOT / "src" / "atomsieve").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path), feature_version=minimum)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "typing" and minimum < (3, 11):
                offending += [f"{path.name}: typing.{a.name}" for a in node.names if a.name in TYPING_311]
            if isinstance(node, (ast.Import, ast.ImportFrom)) and minimum < (3, 11):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                offending += [f"{path.name}: import {n}" for n in names if n in MODULES_311]
    assert not offending, f"requires-python >= {minimum}, but: {offending}"


def test_running_interpreter_meets_the_claim():
    assert sys.version_info[:2] >= _minimum_python()
