"""atomsieve: choose which atomic structures deserve expensive quantum-mechanical labels.

>>> import atomsieve
>>> ds = atomsieve.datasets.load_default()
>>> len(ds), ds.elements
(228, ['Ge'])
"""

from atomsieve.numba_cache import ensure_numba_cache_dir

ensure_numba_cache_dir()  # before any compiled kernel is imported

from atomsieve import datasets  # noqa: E402
from atomsieve.data import Dataset, load, save  # noqa: E402
from atomsieve.errors import AtomsieveError, CacheError, DataError, ParameterError  # noqa: E402

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
