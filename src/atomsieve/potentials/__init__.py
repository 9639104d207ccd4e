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
from atomsieve.potentials.ensemble import Ensemble
from atomsieve.potentials.featurize import prepare
from atomsieve.potentials.io import save_potential
from atomsieve.potentials.linear import LinearPotential
from atomsieve.potentials.potential import Potential, fit_potential, load_calculator, load_potential
from atomsieve.potentials.prepared import PreparedData

__all__ = [
    "AtomsieveCalculator",
    "BPNNPotential",
    "Ensemble",
    "LinearPotential",
    "Potential",
    "PreparedData",
    "default_descriptor",
    "fit_potential",
    "load_calculator",
    "load_potential",
    "prepare",
    "save_potential",
]
