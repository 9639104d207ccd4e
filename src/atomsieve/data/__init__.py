"""Loading, holding and saving structures with their labels (ASE underneath)."""

from atomsieve.data.dataset import Dataset
from atomsieve.data.io import atomic_group, atomic_path, load, save

__all__ = ["Dataset", "atomic_group", "atomic_path", "load", "save"]
