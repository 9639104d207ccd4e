"""Potentials to judge a selection by: a fast linear model, a Behler–Parrinello network,
bootstrap ensembles with per-atom force uncertainty, and an ASE calculator.

Units: energies eV, forces eV/Å.

>>> from atomsieve.datasets import load_default
>>> from atomsieve.descriptors import preset
>>> ds = load_default("test").subset(range(4))
>>> pot = fit_potential(ds, LinearPotential(), preset(None, ["Ge"], r_cut=3.0))
>>> bool(pot.score(ds)["rmse_f"] < 0.5)
True
"""

from atomsieve.descriptors import default_descriptor
from atomsieve.potentials.bpnn import BPNNPotential
from atomsieve.potentials.calculator import AtomsieveCalculator
from atomsieve.potentials.ensemble import UNCERTAINTY_FACTOR, Ensemble
from atomsieve.potentials.featurize import CENTRAL_ATOM_KEY, prepare
from atomsieve.potentials.io import save_potential
from atomsieve.potentials.linear import LinearPotential
from atomsieve.potentials.loss import error_measures, loss_weights
from atomsieve.potentials.network import BehlerParrinelloNetwork
from atomsieve.potentials.potential import Potential, fit_potential, load_calculator, load_potential
from atomsieve.potentials.prepared import PreparedData

__all__ = [
    "CENTRAL_ATOM_KEY",
    "UNCERTAINTY_FACTOR",
    "AtomsieveCalculator",
    "BPNNPotential",
    "BehlerParrinelloNetwork",
    "Ensemble",
    "LinearPotential",
    "Potential",
    "PreparedData",
    "default_descriptor",
    "error_measures",
    "fit_potential",
    "load_calculator",
    "load_potential",
    "loss_weights",
    "prepare",
    "save_potential",
]
