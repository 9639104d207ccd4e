"""Everything a model needs from a dataset, computed once: scaled fingerprints, their sparse
position derivatives, labels and per-structure bookkeeping.

Models never featurise structures themselves during training: :func:`prepare` runs the
descriptor (and its Jacobian path) once, and every fit on a subset of the structures slices
these arrays. Forces follow from the chain rule,
``F_j = -Σ_i (∂E_i/∂G_i) · (∂G_i/∂r_j)``, which is exactly ``-∂E/∂r``.

Units: energies eV, forces eV/Å, derivatives of (scaled) fingerprints per Å.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from atomsieve.errors import ParameterError


@dataclass(eq=False)
class PreparedData:
    """Fingerprints, sparse Jacobian and labels of a set of structures.

    Parameters
    ----------
    features : ndarray (n_atoms, n_features)
        Scaled fingerprints of every atom, structures stacked in order.
    species : ndarray (n_atoms,)
        Index of each atom's element in ``elements``.
    elements : list of str
        Element symbols of the model (columns of per-element blocks).
    atom_counts : ndarray (n_structures,)
        Atoms per structure.
    pair_center, pair_neighbour : ndarray (n_pairs,), optional
        Global atom indices ``i`` and ``j`` of every non-zero block ``∂G_i/∂r_j`` (both atoms
        of the same structure; ``j == i`` included). Needed by the neural network.
    pair_values : ndarray (n_pairs, n_features, 3), optional
        ``∂G_i/∂r_j`` in 1/Å (of the scaled fingerprints).
    summed_jacobian : ndarray or JacobianFile (n_atoms, n_elements, n_features, 3), optional
        ``Σ_{i of element e} ∂G_i/∂r_j`` per atom j: all the linear model needs (computed from
        the pairs when absent). A :class:`JacobianFile` keeps it on disk: only the rows asked
        for are read (large datasets).
    energies : ndarray (n_structures,), optional
        Reference energies in eV.
    forces : ndarray (n_atoms, 3), optional
        Reference forces in eV/Å.
    central_atoms : ndarray (n_structures,), optional
        Index, within its structure, of a chunk's central atom, or -1 for an ordinary structure.

    Examples
    --------
    >>> import numpy as np
    >>> d = PreparedData(features=np.ones((3, 2)), species=np.zeros(3, int), elements=["Ge"],
    ...                  atom_counts=np.array([1, 2]), pair_center=np.array([0, 1, 2]),
    ...                  pair_neighbour=np.array([0, 1, 2]), pair_values=np.zeros((3, 2, 3)))
    >>> d.subset([1]).n_atoms, d.subset([1]).pair_center.tolist()
    (2, [0, 1])
    """

    features: np.ndarray
    species: np.ndarray
    elements: list[str]
    atom_counts: np.ndarray
    pair_center: np.ndarray | None = None
    pair_neighbour: np.ndarray | None = None
    pair_values: np.ndarray | None = None
    summed_jacobian: np.ndarray | None = None
    energies: np.ndarray | None = None
    forces: np.ndarray | None = None
    central_atoms: np.ndarray | None = None
    offsets: np.ndarray = field(init=False, repr=False)
    structure_index: np.ndarray = field(init=False, repr=False)
    pair_offsets: np.ndarray = field(init=False, repr=False)
    cache: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.atom_counts = np.asarray(self.atom_counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.atom_counts)]).astype(np.int64)
        self.structure_index = np.repeat(np.arange(len(self.atom_counts)), self.atom_counts)
        self.species = np.asarray(self.species, dtype=np.int64)
        n = int(self.offsets[-1])
        if self.features.shape[0] != n or len(self.species) != n:
            raise ParameterError(
                f"features has {self.features.shape[0]} rows and species {len(self.species)} for {n} atoms"
            )
        if self.summed_jacobian is not None and self.summed_jacobian.shape != (
                n, len(self.elements), self.features.shape[1], 3):
            raise ParameterError(f"summed_jacobian has shape {self.summed_jacobian.shape}; expected "
                                 f"({n}, {len(self.elements)}, {self.features.shape[1]}, 3)")
        if self.pair_values is None:
            if self.summed_jacobian is None:
                raise ParameterError("PreparedData needs the pair Jacobian or the summed Jacobian")
            self.pair_center = self.pair_neighbour = None
            self.pair_offsets = None
        else:
            self._check_pairs()
        if self.central_atoms is not None:
            self.central_atoms = np.asarray(self.central_atoms, dtype=np.int64).reshape(-1)
            if len(self.central_atoms) != self.n_structures:
                raise ParameterError(
                    f"central_atoms has {len(self.central_atoms)} entries for {self.n_structures} structures"
                )
            if np.any(self.central_atoms >= self.atom_counts):
                raise ParameterError("central_atoms: an index is not smaller than its structure's atom count")

    def _check_pairs(self) -> None:
        self.pair_center = np.asarray(self.pair_center, dtype=np.int64)
        self.pair_neighbour = np.asarray(self.pair_neighbour, dtype=np.int64)
        if self.pair_values.shape != (len(self.pair_center), self.features.shape[1], 3):
            raise ParameterError(
                f"pair_values has shape {self.pair_values.shape}; expected "
                f"({len(self.pair_center)}, {self.features.shape[1]}, 3)"
            )
        pair_structure = self.structure_index[self.pair_center] if len(self.pair_center) else self.pair_center
        if np.any(np.diff(pair_structure) < 0):
            order = np.argsort(pair_structure, kind="stable")
            self.pair_center, self.pair_neighbour = self.pair_center[order], self.pair_neighbour[order]
            self.pair_values = self.pair_values[order]
            pair_structure = pair_structure[order]
        counts = np.bincount(pair_structure, minlength=self.n_structures)
        self.pair_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def has_pairs(self) -> bool:
        """Whether the per-pair Jacobian (needed by the neural network) is held."""
        return self.pair_values is not None

    @property
    def n_structures(self) -> int:
        return len(self.atom_counts)

    @property
    def n_atoms(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    def atoms_of(self, indices) -> np.ndarray:
        """Global atom indices of the structures at ``indices``, in that order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if not idx.size:
            return np.zeros(0, dtype=np.int64)
        counts = self.atom_counts[idx]
        starts = np.repeat(self.offsets[idx], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts + within

    def subset(self, indices) -> PreparedData:
        """The structures at ``indices`` (repeats allowed, e.g. a bootstrap sample), in that order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_structures):
            raise ParameterError(
                f"structure indices must lie in [0, {self.n_structures}); got {idx.min()}..{idx.max()}")
        atoms = self.atoms_of(idx)
        pairs = {}
        if self.has_pairs:
            new_offsets = np.concatenate([[0], np.cumsum(self.atom_counts[idx])])
            pcounts = self.pair_offsets[idx + 1] - self.pair_offsets[idx]
            pstarts = np.repeat(self.pair_offsets[idx], pcounts)
            rows = pstarts + np.arange(pcounts.sum()) - np.repeat(np.cumsum(pcounts) - pcounts, pcounts)
            # old global atom index -> new: minus the old structure offset, plus the new one
            shift = np.repeat(new_offsets[:-1] - self.offsets[idx], pcounts)
            pairs = {"pair_center": self.pair_center[rows] + shift,
                     "pair_neighbour": self.pair_neighbour[rows] + shift,
                     "pair_values": self.pair_values[rows]}
        return PreparedData(
            features=self.features[atoms],
            species=self.species[atoms],
            elements=self.elements,
            atom_counts=self.atom_counts[idx],
            summed_jacobian=None if self.summed_jacobian is None else self.summed_jacobian[atoms],
            energies=None if self.energies is None else self.energies[idx],
            forces=None if self.forces is None else self.forces[atoms],
            central_atoms=None if self.central_atoms is None else self.central_atoms[idx],
            **pairs,
        )

    def element_summed_jacobian(self, atoms=None) -> np.ndarray:
        """``Σ_{i of element e} ∂G_i/∂r_j`` of the atoms at ``atoms`` (every atom when None), shape
        (n_atoms, n_elements, n_features, 3), float64."""
        if self.summed_jacobian is None:
            whole = sum_pairs(self.pair_center, self.pair_neighbour, self.pair_values, self.species,
                              self.n_atoms, len(self.elements))
            return whole if atoms is None else whole[np.asarray(atoms, dtype=np.int64)]
        if atoms is None:
            atoms = slice(None)
        return np.asarray(self.summed_jacobian[atoms], dtype=np.float64)

    def species_counts(self) -> np.ndarray:
        """Atoms of each element per structure, shape (n_structures, n_elements)."""
        counts = np.zeros((self.n_structures, len(self.elements)), dtype=np.float64)
        np.add.at(counts, (self.structure_index, self.species), 1.0)
        return counts


def sum_pairs(center, neighbour, values, species, n_atoms: int, n_elements: int) -> np.ndarray:
    """Sum pair blocks ``∂G_i/∂r_j`` into (n_atoms, n_elements, n_features, 3) by neighbour j and
    the element of the centre i."""
    import torch

    n_f = values.shape[1]
    out = torch.zeros((n_atoms * n_elements, n_f * 3), dtype=torch.float64)
    target = torch.as_tensor(np.asarray(neighbour) * n_elements + np.asarray(species)[np.asarray(center)])
    blocks = torch.as_tensor(np.asarray(values)).reshape(len(target), n_f * 3).to(torch.float64)
    out.index_add_(0, target, blocks)
    return out.reshape(n_atoms, n_elements, n_f, 3).numpy()


class JacobianFile:
    """An element-summed Jacobian kept in a ``.npy`` file (float64, shape (n_atoms, n_elements,
    n_features, 3)), read a few rows at a time and multiplied by the scaler's slopes.

    Indexing (``rows[atoms]``, ``rows[a:b]``) reads only those atoms, consecutive ones in one
    read each, by plain reads rather than a memory map, so the pages read stay out of the
    process's resident memory: the 4.8 GB of 5 × 10^6 germanium atoms never sit in it.
    ``path`` may be an already unlinked file given by an open descriptor ``fd`` (a temporary
    input, gone with this object).

    >>> import tempfile
    >>> path = tempfile.mkstemp(suffix=".npy")[1]
    >>> np.save(path, np.arange(24.0).reshape(2, 1, 4, 3))
    >>> rows = JacobianFile(path, slopes=np.full((1, 4), 2.0))
    >>> rows.shape, rows[np.array([1])][0, 0, 0].tolist(), rows[0:1].shape
    ((2, 1, 4, 3), [24.0, 26.0, 28.0], (1, 1, 4, 3))
    """

    def __init__(self, path, slopes: np.ndarray | None = None, fd: int | None = None):
        self.path = str(path)
        self._fd = os.open(self.path, os.O_RDONLY) if fd is None else fd
        import io

        # The header by pread: a descriptor shared with the writer has its offset at the end.
        with io.BytesIO(os.pread(self._fd, 1 << 16, 0)) as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self._data_offset = f.tell()
        if fortran or dtype != np.dtype("<f8") or len(shape) != 4:
            os.close(self._fd)
            raise ValueError(f"{self.path}: not a C-ordered float64 array of 4 dimensions")
        self.shape = tuple(int(n) for n in shape)
        self._row_bytes = int(np.prod(self.shape[1:])) * 8
        if os.fstat(self._fd).st_size < self._data_offset + self._row_bytes * self.shape[0]:
            os.close(self._fd)
            raise ValueError(f"{self.path}: shorter than its {self.shape[0]:,} rows (cut off while written?)")
        self.slopes = None if slopes is None else np.asarray(slopes, dtype=np.float64)

    dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.shape[0]

    def scaled(self, slopes: np.ndarray) -> JacobianFile:
        """The same file read times ``slopes`` (n_elements, n_features)."""
        return JacobianFile(self.path, slopes, fd=os.dup(self._fd))

    def __getitem__(self, atoms) -> np.ndarray:
        if isinstance(atoms, slice):
            atoms = np.arange(*atoms.indices(self.shape[0]))
        atoms = np.asarray(atoms, dtype=np.int64).reshape(-1)
        out = np.empty((len(atoms), *self.shape[1:]), dtype=np.float64)
        if len(atoms):
            if atoms.min() < 0 or atoms.max() >= self.shape[0]:
                raise IndexError(f"atom indices must lie in [0, {self.shape[0]})")
            breaks = np.flatnonzero(np.diff(atoms) != 1) + 1
            starts = np.concatenate([[0], breaks])
            stops = np.concatenate([breaks, [len(atoms)]])
            flat = out.reshape(len(atoms), -1)
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                view = memoryview(flat[a:b]).cast("B")
                offset, done = self._data_offset + int(atoms[a]) * self._row_bytes, 0
                while done < len(view):  # pread may return less than asked
                    n = os.preadv(self._fd, [view[done:]], offset + done)
                    if n <= 0:
                        raise OSError(f"{self.path}: file ends before atom {int(atoms[a])}")
                    done += n
        if self.slopes is not None:
            out *= self.slopes[None, :, :, None]
        return out

    def __del__(self) -> None:
        try:
            os.close(self._fd)
        except (OSError, AttributeError, TypeError):
            pass

    def __reduce__(self):  # a pickle (Dask, a process pool) reopens the file by its path
        if not os.path.exists(self.path):
            raise TypeError(f"{self.path}: a temporary Jacobian file cannot travel to another process")
        return (JacobianFile, (self.path, self.slopes))
