"""Fingerprints for nearsighted force training: raw symmetry functions and their position derivatives.

For a whole structure the sparse Jacobian ``∂G_i/∂r_j`` comes from
:func:`atomsieve.descriptors.jacobian.jacobian`. For a chunk only ``∂G_i/∂r_c`` of the central
atom ``c`` is needed (all its central-atom force uses), which forward-mode differentiation through
the pair displacement vectors gives in three passes, one per Cartesian direction.

Features here are *unscaled*; :class:`atomsieve.active.model.EnsembleModel` scales them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from atomsieve.descriptors.compute import pack
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


def default_descriptor(elements: Sequence[str], r_cut: float = 6.0, name: str | None = "li_single_element"):
    """The symmetry-function preset ``name`` for ``elements`` (two-element preset for several).

    >>> default_descriptor(["Pt"], 5.0).r_cut
    5.0
    """
    from atomsieve.descriptors.presets import default_preset_name, preset

    elements = list(elements)
    if name is None or (name == "li_single_element" and len(set(elements)) > 1):
        name = default_preset_name(elements)
    return preset(name, elements, r_cut)


def structure_features(structures: Sequence[Atoms], descriptor) -> AtomicFeatures:
    """Min–max scaled fingerprints of every atom (for FPS over structures)."""
    return descriptor.compute(list(structures), scaler="minmax", device="cpu")


def _pairs(sf, atoms: Atoms):
    b = pack(sf, [atoms], [0], torch.float64, torch.device("cpu"))
    n = b.species.shape[1]
    nb = sf.neighbor_list(b.species, b.positions, b.cells, b.pbc)
    flat = b.positions.reshape(n, 3)
    shift = torch.einsum("pk,pkj->pj", nb.shift.to(torch.float64), b.cells[nb.center // n].to(torch.float64))
    d = flat[nb.neighbor] - flat[nb.center] + shift
    return b.species.reshape(-1), d.detach(), nb.center, nb.neighbor


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


def _blocks_centre(sf, atoms: Atoms, centre: int) -> StructureBlocks:
    species, d, center, neighbour = _pairs(sf, atoms)
    n = len(atoms)
    w = (neighbour == centre).to(d.dtype) - (center == centre).to(d.dtype)
    f = lambda x: sf.features_from_pairs(species, x, center, neighbour)  # noqa: E731
    out = f(d)
    tangents = torch.zeros(3, *d.shape, dtype=d.dtype)
    for k in range(3):
        tangents[k, :, k] = w
    jv = torch.func.vmap(lambda t: torch.func.jvp(f, (d,), (t,))[1])(tangents)  # (3, n, F)
    values = jv.permute(1, 2, 0).detach().numpy()  # (n, F, 3): ∂G_i/∂r_centre
    touched = np.flatnonzero(np.abs(values).reshape(n, -1).max(axis=1) > 0)
    touched = np.union1d(touched, [centre])
    return StructureBlocks(out.detach().numpy(), touched, np.full(len(touched), centre), values[touched])


def structure_blocks(sf, structures: Sequence[Atoms], centre_only: Sequence[bool] | None = None
                     ) -> list[StructureBlocks]:
    """:class:`StructureBlocks` of each structure; for a chunk (``centre_only``) only the central column.

    Examples
    --------
    >>> from ase.build import bulk
    >>> sf = default_descriptor(["Pt"], 4.0)
    >>> [b.features.shape for b in structure_blocks(sf, [bulk("Pt", cubic=True)])]
    [(4, 40)]
    """
    centre_only = [False] * len(structures) if centre_only is None else list(centre_only)
    whole = [i for i, c in enumerate(centre_only) if not c]
    out: list[StructureBlocks | None] = [None] * len(structures)
    for i, blocks in zip(whole, _blocks_full(sf, [structures[i] for i in whole])):
        out[i] = blocks
    for i, centre in enumerate(centre_only):
        if centre:
            out[i] = _blocks_centre(sf, structures[i], int(structures[i].info.get("central_atom", 0)))
    return out  # type: ignore[return-value]


def features_with_positions(sf, atoms: Atoms) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw features (n, F) of ``atoms`` as a differentiable function of the returned positions (1, n, 3)."""
    b = pack(sf, [atoms], [0], torch.float64, torch.device("cpu"))
    positions = b.positions.detach().clone().requires_grad_(True)
    features = sf(b.species, positions, b.cells, b.pbc)[0]
    return features, positions
