"""The models' old names (issue 21): ``LinearPotential`` and ``BPNNPotential`` were models, not
Potentials, and are now ``LinearModel`` and ``BPNNModel``. The old names still import, from the
package and from their modules, warn with a DeprecationWarning naming the new name, and are the
same classes; they are not in ``__all__``."""

import importlib

import pytest

import atomsieve.potentials as potentials
from atomsieve.potentials.bpnn import BPNNModel
from atomsieve.potentials.linear import LinearModel

CASES = [("atomsieve.potentials", "LinearPotential", LinearModel),
         ("atomsieve.potentials", "BPNNPotential", BPNNModel),
         ("atomsieve.potentials.linear", "LinearPotential", LinearModel),
         ("atomsieve.potentials.bpnn", "BPNNPotential", BPNNModel)]


@pytest.mark.parametrize(("module", "old", "new"), CASES)
def test_old_name_imports_warns_and_is_the_new_class(module, old, new):
    with pytest.warns(DeprecationWarning, match=new.__name__):
        cls = getattr(importlib.import_module(module), old)
    assert cls is new


def test_from_import_of_old_name_warns():
    with pytest.warns(DeprecationWarning, match="use LinearModel"):
        from atomsieve.potentials import LinearPotential
    with pytest.warns(DeprecationWarning, match="use BPNNModel"):
        from atomsieve.potentials.bpnn import BPNNPotential
    assert LinearPotential is LinearModel and BPNNPotential is BPNNModel


def test_old_names_are_not_exported_and_unknown_names_still_fail():
    assert "LinearPotential" not in potentials.__all__ and "BPNNPotential" not in potentials.__all__
    assert {"LinearModel", "BPNNModel"} <= set(potentials.__all__)
    with pytest.raises(AttributeError):
        potentials.NoSuchModel  # noqa: B018
    with pytest.raises(ImportError):
        from atomsieve.potentials.linear import NoSuchModel  # noqa: F401
