"""Fingerprints for nearsighted force training: raw symmetry functions and their position derivatives.

The sparse Jacobian ``∂G_i/∂r_j`` comes from :func:`atomsieve.descriptors.jacobian.jacobian`.
For a chunk only the blocks ``∂G_i/∂r_c`` of the central atom ``c`` are kept: they are all its
central-atom force needs (``F_c = −Σ_i ∂E/∂G_i · ∂G_i/∂r_c``), and they make a chunk's share of
the training data a column instead of a whole matrix.

Features here are *unscaled*; :class:`atomsieve.active.model.NFTEnsemble` scales them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from atomsieve.descriptors.features import AtomicFeatures


@dataclass
class StructureBlocks:
    """Raw fingerprints of one structure and the non-zero blocks of their Jacobian.

    ``pair_values[p] = ∂G_{pair_center[p]} / ∂r_{pair_neighbour[p]}`` (n_features, 3), 1/Å units of
    the raw features; local atom indices.
    """

    features: np.ndarray
    pair_center: np.ndarray
    pair_neighbour: np.ndarray
    pair_values: np.ndarray


def structure_features(structures: Sequence[Atoms], descriptor) -> AtomicFeatures:
    """Min–max scaled fingerprints of every atom (for FPS over structures)."""
    return descriptor.compute(list(structures), scaler="minmax", device="cpu")


def _blocks_full(sf, structures: list[Atoms]) -> list[StructureBlocks]:
    """Whole Jacobians from :func:`atomsieve.descriptors.jacobian.jacobian`, split per structure."""
    if not structures:
        return []
    jac = sf.jacobian(list(structures), device="cpu")
    counts = np.array([len(a) for a in structures])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    values = jac.values.numpy()
    center, neighbour, grad = jac.center.numpy(), jac.neighbor.numpy(), jac.grad.numpy()
    owner = jac.structure.numpy()[center]
    out = []
    for s, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        sel = owner == s
        out.append(StructureBlocks(values[lo:hi], center[sel] - lo, neighbour[sel] - lo, grad[sel]))
    return out


def structure_blocks(sf, structures: Sequence[Atoms], centre_only: Sequence[bool] | None = None
                     ) -> list[StructureBlocks]:
    """:class:`StructureBlocks` of each structure; for a chunk (``centre_only``) only the central column.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomsieve.descriptors import default_descriptor
    >>> sf = default_descriptor(["Pt"], 4.0)
    >>> [b.features.shape for b in structure_blocks(sf, [bulk("Pt", cubic=True)])]
    [(4, 40)]
    """
    centre_only = [False] * len(structures) if centre_only is None else list(centre_only)
    out = _blocks_full(sf, list(structures))
    for i, centre in enumerate(centre_only):
        if centre:
            c = int(structures[i].info.get("central_atom", 0))
            b = out[i]
            keep = b.pair_neighbour == c
            out[i] = StructureBlocks(b.features, b.pair_center[keep], b.pair_neighbour[keep],
                                     b.pair_values[keep])
    return out
