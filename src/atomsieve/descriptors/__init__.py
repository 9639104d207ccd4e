"""Per-atom fingerprints: Behler–Parrinello symmetry functions in PyTorch, scaling, caching."""

from atomsieve.descriptors.features import AtomicFeatures

__all__ = ["AtomicFeatures"]
