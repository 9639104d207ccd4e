"""Potentials to judge a selection by: a fast linear model, a Behler–Parrinello network,
bootstrap ensembles with per-atom force uncertainty, and an ASE calculator.

The models (:class:`LinearModel`, :class:`BPNNModel`, :class:`Ensemble`) train on prepared
fingerprints; a :class:`Potential` bundles a fitted model with its descriptor and scaler and
computes energies and forces of structures (``fit_potential``, ``Potential.calculator()``).

Units: energies eV, forces eV/Å.

>>> from atomsieve.datasets import load_default
>>> from atomsieve.descriptors import preset
>>> ds = load_default("test").subset(range(4))
>>> pot = fit_potential(ds, LinearModel(), preset(None, ["Ge"], r_cut=3.0))
>>> bool(pot.score(ds)["rmse_f"] < 0.5)
True
"""

from atomsieve.descriptors import default_descriptor
from atomsieve.potentials.bpnn import BPNNModel
from atomsieve.potentials.calculator import AtomsieveCalculator
from atomsieve.potentials.ensemble import Ensemble
from atomsieve.potentials.featurize import prepare
from atomsieve.potentials.io import save_potential
from atomsieve.potentials.linear import LinearModel
from atomsieve.potentials.potential import Potential, fit_potential, load_calculator, load_potential
from atomsieve.potentials.prepared import PreparedData
from atomsieve.renamed import renamed_names

__all__ = [
    "AtomsieveCalculator",
    "BPNNModel",
    "Ensemble",
    "LinearModel",
    "Potential",
    "PreparedData",
    "default_descriptor",
    "fit_potential",
    "load_calculator",
    "load_potential",
    "prepare",
    "save_potential",
]

# Old names of the models (they are models, not Potentials); importable with a DeprecationWarning.
_DEPRECATED = {"LinearPotential": LinearModel, "BPNNPotential": BPNNModel}
__getattr__ = renamed_names(__name__, _DEPRECATED)
