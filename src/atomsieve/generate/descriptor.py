"""The descriptor the generator biases: a small differentiable symmetry-function set.

This is the generator's own six-function set, chosen for cheap autograd at every MD step; it is not
the descriptor used for selection and models when none is given (that is
:func:`atomsieve.descriptors.default_descriptor`).

Karabin & Perez used 6 bispectrum components. We use 6 Behler–Parrinello symmetry functions
of :class:`atomsieve.descriptors.SymmetryFunctions` with a 4.5 Å cosine cutoff:

- G1, the smooth coordination number;
- three G2 shells, η = 1 Å⁻², centred at R_s = 2.7, 3.3 and 4.0 Å (first/second shells of bcc
  W and the space between them);
- two G4 angular functions, η = 0.01 Å⁻², ζ = 1, λ = ±1.

Six numbers per atom, like the paper, cheap enough to differentiate at every MD step (forces by
autograd), and sensitive to both radial and angular order. Any
``SymmetryFunctions`` can be given instead (:class:`ConfigurationDescriptor` wraps it).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from atomsieve.errors import ParameterError
from atomsieve.generate.repulsive import minimum_image_vectors, perpendicular_widths

#: Cosine cutoff of the default set, Å.
DEFAULT_R_CUT = 4.5
#: G2 parameters [η (Å⁻²), R_s (Å)] of the default set.
DEFAULT_G2 = [[1.0, 2.7], [1.0, 3.3], [1.0, 4.0]]
#: G4 parameters [η (Å⁻²), ζ, λ] of the default set.
DEFAULT_G4 = [[0.01, 1.0, 1.0], [0.01, 1.0, -1.0]]


def default_symmetry_functions(element: str = "W", r_cut: float = DEFAULT_R_CUT):
    """The 6-function set documented in this module, for one element.

    >>> default_symmetry_functions("W").n_features
    6
    """
    from atomsieve.descriptors.symmetry import SymmetryFunctions

    return SymmetryFunctions.like_dscribe_acsf([element], r_cut, g2_params=DEFAULT_G2, g4_params=DEFAULT_G4)


class ConfigurationDescriptor:
    """Descriptor vectors of one periodic configuration, q = f(positions) / scale, in torch.

    Parameters
    ----------
    module : SymmetryFunctions
        The descriptor (a ``torch.nn.Module`` with the padded-batch ``forward``).
    numbers : array of int, shape (A,)
        Atomic numbers of the atoms.
    cell : array (3, 3)
        Lattice vectors as rows, Å; the configuration is periodic in all three directions.
    scale : array (F,), optional
        Each descriptor is divided by its entry (default ones), to bring it to order one.

    Examples
    --------
    >>> import numpy as np, torch
    >>> d = ConfigurationDescriptor(default_symmetry_functions("W"), [74, 74], np.eye(3) * 10)
    >>> q = d(torch.tensor([[0.0, 0, 0], [2.7, 0, 0]], dtype=torch.float64))
    >>> tuple(q.shape)
    (2, 6)
    """

    def __init__(self, module, numbers, cell, scale=None):
        self.module = module
        numbers = torch.as_tensor(np.asarray(numbers, dtype=np.int64))
        self.species = module.species_index(numbers)[None, :]
        self.cell = torch.as_tensor(np.asarray(cell, dtype=np.float64))[None]
        self.pbc = torch.ones(1, 3, dtype=torch.bool)
        n = module.n_features
        scale = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64).reshape(-1)
        if len(scale) != n or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ParameterError(f"descriptor scale must be {n} positive finite numbers; "
                                 f"got {scale.tolist()}")
        self.scale = torch.as_tensor(scale)
        widths = perpendicular_widths(self.cell[0].numpy())
        self.minimum_image = bool(module.r_cut < widths.min() / 2 and hasattr(module, "features_from_pairs"))

    @property
    def n_features(self) -> int:
        return int(self.module.n_features)

    def __call__(self, positions: torch.Tensor) -> torch.Tensor:
        """Scaled descriptors (A, F) of positions (A, 3) in Å; differentiable."""
        if self.minimum_image:
            q = self._minimum_image_features(positions)
        else:
            q = self.module(self.species, positions[None], self.cell, self.pbc)[0]
        return q / self.scale

    def _minimum_image_features(self, positions: torch.Tensor) -> torch.Tensor:
        # When the cutoff is below half of every cell width each neighbour is its own minimum image,
        # so the pairs come straight from the minimum-image displacements and only the module's flat
        # core runs (no general periodic neighbour search at every MD step).
        vectors = minimum_image_vectors(positions, self.cell[0])
        with torch.no_grad():
            squared = (vectors * vectors).sum(-1)
            squared.fill_diagonal_(math.inf)
            center, neighbor = torch.nonzero(squared <= self.module.r_cut**2, as_tuple=True)
        return self.module.features_from_pairs(self.species[0], vectors[center, neighbor], center, neighbor)

    def with_scale(self, scale) -> ConfigurationDescriptor:
        """The same descriptor with another scale."""
        return ConfigurationDescriptor(self.module, self._numbers(), self.cell[0].numpy(), scale)

    def _numbers(self) -> np.ndarray:
        return np.asarray(self.module.species_numbers)[self.species[0].numpy()]


def descriptor_scale(descriptor: ConfigurationDescriptor, configurations) -> np.ndarray:
    """Standard deviation of each descriptor over all atoms of ``configurations`` (each (A, 3), Å).

    Used to rescale the descriptors to order one before the entropy is taken; a constant
    descriptor gets scale 1.

    >>> cell = np.eye(3) * 10
    >>> d = ConfigurationDescriptor(default_symmetry_functions("W"), [74] * 3, cell)
    >>> descriptor_scale(d, [[[0, 0, 0], [2.5, 0, 0], [0, 4, 0]]]).shape
    (6,)
    """
    unscaled = descriptor.with_scale(None)
    with torch.no_grad():
        values = np.concatenate([unscaled(torch.as_tensor(np.asarray(p, dtype=np.float64))).numpy()
                                 for p in configurations])
    std = values.std(axis=0)
    return np.where(std > 1e-12, std, 1.0)
