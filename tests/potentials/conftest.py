"""Shared fixtures of the model-input tests: the embedded germanium test split and a short-cutoff
descriptor (1,568 atoms, 40 functions at 4.5 Å: quick to prepare, several chunks when asked)."""

from __future__ import annotations

import pytest

from atomsieve import load
from atomsieve.datasets import default_path
from atomsieve.descriptors import preset


@pytest.fixture(scope="module")
def ds():
    return load(default_path("test"))


@pytest.fixture(scope="module")
def sf():
    return preset(None, ["Ge"], r_cut=4.5)
