"""Per-atom fingerprints: Behler–Parrinello symmetry functions in PyTorch, scaling, caching.

Three modules keep features on disk, one role each:

- :mod:`~atomsieve.descriptors.storage`: the file format of one :class:`AtomicFeatures` (``.npz``,
  checksummed); ``atomsieve featurize`` writes it, ``--features`` reads it.
- :mod:`~atomsieve.descriptors.cache`: :class:`FeatureCache`, a folder of such files keyed by what
  the features depend on, so a repeated ``compute(..., cache=True)`` is a read.
- :mod:`~atomsieve.descriptors.store`: :class:`~atomsieve.descriptors.store.FeatureStore`, a
  memory-mapped folder built partition by partition, for datasets larger than memory.

>>> from atomsieve.descriptors import SymmetryFunctions, preset
>>> preset("li_single_element", ["Ge"]).n_features
40
"""

from atomsieve.descriptors.cache import FeatureCache
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.descriptors.neighbors import NeighborList
from atomsieve.descriptors.presets import PRESETS, default_descriptor, preset
from atomsieve.descriptors.scaling import (
    MinMaxScaler,
    NoScaler,
    StandardScaler,
    load_scaler,
    scaler_from_dict,
)
from atomsieve.descriptors.storage import load_features, save_features
from atomsieve.descriptors.symmetry import SymmetryFunctions

__all__ = [
    "PRESETS",
    "AtomicFeatures",
    "FeatureCache",
    "MinMaxScaler",
    "NeighborList",
    "NoScaler",
    "StandardScaler",
    "SymmetryFunctions",
    "default_descriptor",
    "load_features",
    "load_scaler",
    "preset",
    "save_features",
    "scaler_from_dict",
]
