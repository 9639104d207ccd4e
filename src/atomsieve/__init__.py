"""atomsieve: choose which atomic structures deserve expensive quantum-mechanical labels.

>>> import atomsieve
>>> ds = atomsieve.datasets.load_default()
>>> len(ds), ds.elements
(228, ['Ge'])
"""

from atomsieve import datasets
from atomsieve.data import Dataset, load, save
from atomsieve.errors import AtomsieveError, CacheError, DataError, ParameterError

__version__ = "0.1.0"

__all__ = [
    "AtomsieveError",
    "CacheError",
    "DataError",
    "Dataset",
    "ParameterError",
    "datasets",
    "load",
    "save",
]
