"""Nearsighted force training (Zeng, Chen & Peterson, J. Chem. Phys. 156, 064104 (2022)).

Train a bootstrap ensemble, find the atoms of a target whose forces it is unsure of, cut a small
chunk around each, label the chunks with a parent calculator (only the central atom's force is
trusted), retrain, repeat.
"""

from atomsieve.active.chunks import central_atom, cut_chunk, cut_chunks
from atomsieve.active.initial import candidate_cells, optimal_lattice_constant, random_bulk_cells
from atomsieve.active.locality import LocalityStudy, force_locality
from atomsieve.active.loop import NearsightedForceTraining
from atomsieve.active.model import EnsembleModel as EnsembleModel  # the former name of NFTEnsemble
from atomsieve.active.model import NFTEnsemble
from atomsieve.active.novelty import NoveltyFilter
from atomsieve.active.parents import PARENTS, ParentError, label_structures, make_parent
from atomsieve.active.relax import relax_structure, relax_with_retraining
from atomsieve.active.rundir import RunDirectory

__all__ = [
    "PARENTS",
    "NFTEnsemble",
    "LocalityStudy",
    "NearsightedForceTraining",
    "NoveltyFilter",
    "ParentError",
    "RunDirectory",
    "candidate_cells",
    "central_atom",
    "cut_chunk",
    "cut_chunks",
    "force_locality",
    "label_structures",
    "make_parent",
    "optimal_lattice_constant",
    "random_bulk_cells",
    "relax_structure",
    "relax_with_retraining",
]
