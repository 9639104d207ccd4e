"""fit_potential's descriptor choice: a network gets the paper's 21 force-correlated Gaussian functions,
other models the default descriptor whole, and feature selection on request for any model."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from atomsieve import Dataset
from atomsieve.descriptors.presets import default_descriptor, gaussian_g2g4, keep_functions
from atomsieve.errors import ParameterError
from atomsieve.potentials import BPNNModel, LinearModel, fit_potential, prepare
from atomsieve.potentials.featurize import select_functions
from atomsieve.potentials.potential import NETWORK_FUNCTIONS


@pytest.fixture(scope="module")
def cells():
    frames = []
    for k in range(4):
        atoms = bulk("Pt", "fcc", a=3.92, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.1, seed=k)
        atoms.calc = EMT()
        frames.append(atoms)
    return Dataset(frames, energies=[a.get_potential_energy() for a in frames],
                   forces=np.concatenate([a.get_forces() for a in frames]))


def test_a_network_gets_the_force_correlated_gaussian_functions(cells):
    potential = fit_potential(cells, BPNNModel(hidden=(4,), max_epochs=2, device="cpu"))
    assert potential.descriptor.n_features == NETWORK_FUNCTIONS["n_features"] == 21
    assert potential.descriptor.preset == "gaussian_g2g4 (selected)"
    candidates = gaussian_g2g4(["Pt"])
    data, _ = prepare(cells, candidates, cache=False)
    expected = keep_functions(candidates, select_functions(data, "fcorr", 21))
    assert potential.descriptor.feature_names == expected.feature_names
    assert np.isfinite(potential.score(cells)["mae_f"])


def test_other_models_keep_the_default_descriptor_unless_asked(cells):
    whole = fit_potential(cells, LinearModel())
    assert whole.descriptor.n_features == default_descriptor(cells).n_features
    small = fit_potential(cells, LinearModel(), feature_selection="cur", n_features=5)
    assert small.descriptor.n_features == 5
    given = fit_potential(cells, BPNNModel(hidden=(4,), max_epochs=1, device="cpu"),
                          descriptor=default_descriptor(cells, 4.0))
    assert given.descriptor.n_features == default_descriptor(cells, 4.0).n_features  # a given one is kept


def test_function_selection_names_what_it_needs(cells):
    data, _ = prepare(cells, gaussian_g2g4(["Pt"]), cache=False)
    with pytest.raises(ParameterError, match="one of"):
        select_functions(data, "pca", 5)
    unlabelled, _ = prepare(Dataset(list(cells.atoms)), gaussian_g2g4(["Pt"]), cache=False)
    with pytest.raises(ParameterError, match="needs forces"):
        select_functions(unlabelled, "fcorr", 5)


@pytest.mark.parametrize("bad", [0, -1, 2.5, float("nan"), float("inf"), "x", True])
def test_a_nonsense_number_of_functions_is_refused_by_name(cells, bad):
    with pytest.raises(ParameterError, match="n_features"):
        fit_potential(cells, LinearModel(), feature_selection="cur", n_features=bad)


def test_an_unknown_feature_selection_is_refused_before_any_work(cells):
    with pytest.raises(ParameterError, match="feature_selection must be"):
        fit_potential(cells, LinearModel(), feature_selection="pca")
