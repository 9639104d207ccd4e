"""The Behler–Parrinello network as a torch module: one MLP per element, energy = Σ atomic energies.

Forces are ``−∂E/∂r``: autograd gives ``∂E/∂G_i`` for every atom, and the sparse fingerprint
Jacobian ``∂G_i/∂r_j`` carries it to positions (``F_j = −Σ_i ∂E/∂G_i · ∂G_i/∂r_j``), which
is the chain rule autograd would apply through the descriptor itself.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "silu": nn.SiLU, "softplus": nn.Softplus, "celu": nn.CELU}


class BehlerParrinelloNetwork(nn.Module):
    """Element-wise MLPs on scaled fingerprints.

    Atomic energy ``E_i = shift_e + scale · MLP_e(G_i)`` (eV); the per-element ``shift`` and the
    common ``scale`` are buffers set from the training data before training.

    Examples
    --------
    >>> net = BehlerParrinelloNetwork(n_features=4, n_elements=1, hidden=(8,))
    >>> g = torch.rand(5, 4)
    >>> net.atomic_energies(g, torch.zeros(5, dtype=torch.long)).shape
    torch.Size([5])
    """

    def __init__(self, n_features: int, n_elements: int, hidden=(32, 32), activation: str = "tanh"):
        super().__init__()
        act = ACTIVATIONS[activation]
        nets = []
        for _ in range(n_elements):
            layers, width = [], n_features
            for h in hidden:
                layers += [nn.Linear(width, h), act()]
                width = h
            layers.append(nn.Linear(width, 1))
            nets.append(nn.Sequential(*layers))
        self.element_nets = nn.ModuleList(nets)
        self.register_buffer("shift", torch.zeros(n_elements))
        self.register_buffer("scale", torch.ones(()))

    def atomic_energies(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Energy of each atom (eV) from its fingerprint row and element index."""
        out = torch.zeros(features.shape[0], dtype=features.dtype, device=features.device)
        for e, net in enumerate(self.element_nets):
            sel = torch.nonzero(species == e).reshape(-1)
            if sel.numel():
                out = out.index_put((sel,), net(features[sel]).reshape(-1))
        return self.shift[species] + self.scale * out

    def energies_and_forces(
        self,
        features: torch.Tensor,
        species: torch.Tensor,
        structure: torch.Tensor,
        n_structures: int,
        pair_center: torch.Tensor,
        pair_neighbour: torch.Tensor,
        pair_values: torch.Tensor,
        create_graph: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Structure energies (eV), forces (eV/Å) and atomic energies of a batch.

        ``pair_*`` hold the sparse Jacobian ``∂G_i/∂r_j`` with batch-local atom indices.
        """
        with torch.enable_grad():
            g = features if features.requires_grad else features.detach().requires_grad_(True)
            atomic = self.atomic_energies(g, species)
            (de_dg,) = torch.autograd.grad(atomic.sum(), g, create_graph=create_graph)
        contrib = torch.einsum("pf,pfc->pc", de_dg[pair_center], pair_values)
        forces = torch.zeros(features.shape[0], 3, dtype=features.dtype, device=features.device)
        forces = -forces.index_add(0, pair_neighbour, contrib)
        energies = torch.zeros(n_structures, dtype=features.dtype, device=features.device)
        energies = energies.index_add(0, structure, atomic)
        return energies, forces, atomic
