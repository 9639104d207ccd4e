"""Nearsighted force training (Zeng, Chen & Peterson, J. Chem. Phys. 156, 064104 (2022)).

Train a bootstrap ensemble, find the atoms of a target whose forces it is unsure of, cut a small
chunk around each, label the chunks with a parent calculator (only the central atom's force is
trusted), retrain, repeat.
"""

from atomsieve.active.chunks import central_atom, cut_chunk
from atomsieve.active.locality import force_locality
from atomsieve.active.loop import NearsightedForceTraining
from atomsieve.active.model import EnsembleModel as EnsembleModel  # the former name of NFTEnsemble
from atomsieve.active.model import NFTEnsemble
from atomsieve.active.parents import ParentError, label_structures
from atomsieve.active.relax import relax_structure, relax_with_retraining

__all__ = [
    "NFTEnsemble",
    "NearsightedForceTraining",
    "ParentError",
    "central_atom",
    "cut_chunk",
    "force_locality",
    "label_structures",
    "relax_structure",
    "relax_with_retraining",
]
