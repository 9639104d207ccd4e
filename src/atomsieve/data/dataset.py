"""The in-memory dataset: structures plus flat per-atom arrays.

Units throughout: energies in eV, forces in eV/Å, positions in Å.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from atomsieve.data.frames import CompactFrames
from atomsieve.errors import ParameterError


@dataclass(eq=False)
class Dataset:
    """Structures with their reference labels, flattened for fast per-atom work.

    Parameters
    ----------
    atoms : list of ase.Atoms, or CompactFrames
        The structures (frames). They are not copied. A
        :class:`~atomsieve.data.frames.CompactFrames` (flat arrays, an ``Atoms`` built per access;
        :func:`~atomsieve.data.stream.read_compact`) is kept as it is: every per-atom array below, the
        subset and the hash then come from its arrays, and no list of ``Atoms`` is ever made.
    energies : ndarray of shape (n_structures,), optional
        Total energies in eV.
    forces : ndarray of shape (n_atoms, 3), optional
        Forces in eV/Å, atoms of all structures stacked in order.
    energy_key, forces_key : str, optional
        Where the labels were found (``"calc"`` for calculator results).
    source : str, optional
        The file the structures came from.

    Attributes
    ----------
    numbers : ndarray of shape (n_atoms,)
        Atomic number of every atom.
    structure_index : ndarray of shape (n_atoms,)
        Index of the structure each atom belongs to.
    atom_counts : ndarray of shape (n_structures,)
        Atoms per structure.
    offsets : ndarray of shape (n_structures + 1,)
        Start of each structure in the flat per-atom arrays.
    elements : list of str
        Chemical symbols present, ordered by atomic number.

    Examples
    --------
    >>> from ase.build import bulk
    >>> ds = Dataset([bulk("Cu", cubic=True), bulk("Cu")])
    >>> len(ds), ds.n_atoms, ds.elements, ds.atom_counts.tolist()
    (2, 5, ['Cu'], [4, 1])
    """

    atoms: list[Atoms] | CompactFrames
    energies: np.ndarray | None = None
    forces: np.ndarray | None = None
    energy_key: str | None = None
    forces_key: str | None = None
    source: str | None = None
    numbers: np.ndarray = field(init=False, repr=False)
    structure_index: np.ndarray = field(init=False, repr=False)
    atom_counts: np.ndarray = field(init=False, repr=False)
    offsets: np.ndarray = field(init=False, repr=False)
    _hash: str | None = field(init=False, default=None, repr=False)
    _structure_hash: str | None = field(init=False, default=None, repr=False)
    #: Lines about labels present in only some structures (and therefore not used), set by ``load``.
    label_notes: list[str] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.atoms, CompactFrames):
            self.atom_counts = self.atoms.atom_counts
            self.numbers = self.atoms.numbers.astype(np.int64, copy=False)
        else:
            self.atoms = list(self.atoms)
            self.atom_counts = np.array([len(a) for a in self.atoms], dtype=np.int64)
            self.numbers = (
                np.concatenate([a.numbers for a in self.atoms]).astype(np.int64)
                if self.atoms
                else np.zeros(0, dtype=np.int64)
            )
        self.offsets = np.concatenate([[0], np.cumsum(self.atom_counts)]).astype(np.int64)
        self.structure_index = np.repeat(np.arange(len(self.atoms), dtype=np.int64), self.atom_counts)
        if self.energies is not None:
            self.energies = np.asarray(self.energies, dtype=np.float64).reshape(-1)
            if len(self.energies) != len(self.atoms):
                raise ParameterError(
                    f"energies has {len(self.energies)} values for {len(self.atoms)} structures"
                )
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64).reshape(-1, 3)
            if len(self.forces) != self.n_atoms:
                raise ParameterError(f"forces has {len(self.forces)} rows for {self.n_atoms} atoms")

    def __len__(self) -> int:
        return len(self.atoms)

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"Dataset({len(self)} structures, {self.n_atoms} atoms, elements={self.elements}{src})"

    @property
    def n_atoms(self) -> int:
        """Total number of atoms over all structures."""
        return int(self.offsets[-1])

    @property
    def elements(self) -> list[str]:
        """Chemical symbols present, ordered by atomic number."""
        return list(self.atoms_per_element)

    @property
    def symbols(self) -> np.ndarray:
        """Chemical symbol of every atom, shape (n_atoms,)."""
        return np.array(chemical_symbols, dtype=object)[self.numbers]

    @property
    def atoms_per_element(self) -> dict[str, int]:
        """Number of atoms of each element."""
        counts = np.bincount(self.numbers) if len(self.numbers) else np.zeros(0, dtype=np.int64)
        return {chemical_symbols[z]: int(counts[z]) for z in np.flatnonzero(counts)}

    @property
    def energies_per_atom(self) -> np.ndarray | None:
        """Energy per atom of each structure in eV/atom, or None without energies."""
        return None if self.energies is None else self.energies / self.atom_counts

    def forces_of(self, i: int) -> np.ndarray | None:
        """Forces of structure ``i`` (eV/Å), or None without forces."""
        return None if self.forces is None else self.forces[self.offsets[i] : self.offsets[i + 1]]

    def formulas(self) -> list[str]:
        """Chemical formula of every structure (``Atoms.get_chemical_formula()``, Hill order).

        >>> from ase.build import bulk
        >>> Dataset([bulk("NaCl", "rocksalt", a=5.6), bulk("Cu")]).formulas()
        ['ClNa', 'Cu']
        """
        if isinstance(self.atoms, CompactFrames):
            return self.atoms.formulas()
        return [a.get_chemical_formula() for a in self.atoms]

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset holding the structures at ``indices``, in that order.

        >>> from ase.build import bulk
        >>> ds = Dataset([bulk("Cu"), bulk("Al", cubic=True)], energies=[1.0, 2.0])
        >>> ds.subset([1]).elements, ds.subset([1]).energies.tolist()
        (['Al'], [2.0])
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ParameterError(f"subset indices must lie in [0, {len(self)}); got {idx.min()}..{idx.max()}")
        idx = idx % max(len(self), 1)
        compact = isinstance(self.atoms, CompactFrames)
        forces = None
        if self.forces is not None and compact:
            forces = self.forces[self.atoms.atom_rows(idx)]
        elif self.forces is not None:
            forces = (
                np.concatenate([self.forces_of(i) for i in idx]) if idx.size else np.zeros((0, 3))
            )
        return Dataset(
            atoms=self.atoms.subset(idx) if compact else [self.atoms[i] for i in idx],
            energies=None if self.energies is None else self.energies[idx],
            forces=forces,
            energy_key=self.energy_key,
            forces_key=self.forces_key,
            source=self.source,
        )

    def content_hash(self) -> str:
        """SHA-256 over numbers, positions, cells, periodicity and labels; a cache key.

        Two datasets with the same structures and labels give the same hash,
        whatever file they were read from.
        """
        if self._hash is None:
            h = self._structures_sha256()
            for label in (self.energies, self.forces):
                h.update(b"none" if label is None else np.ascontiguousarray(label).tobytes())
            self._hash = h.hexdigest()
        return self._hash

    def structure_hash(self) -> str:
        """SHA-256 over numbers, positions, cells and periodicity only (not the labels).

        What a features file or bank computed from these structures records, so that it can be
        matched to its dataset by content whatever energy or force keys are read.
        """
        if self._structure_hash is None:
            self._structure_hash = self._structures_sha256().hexdigest()
        return self._structure_hash

    def _structures_sha256(self):
        if isinstance(self.atoms, CompactFrames):
            h = hashlib.sha256()
            self.atoms.update_sha256(h)
            return h
        return structures_sha256(self.atoms)

    @property
    def is_compact(self) -> bool:
        """Whether the structures are :class:`~atomsieve.data.frames.CompactFrames` (flat arrays)."""
        return isinstance(self.atoms, CompactFrames)

    def summary(self) -> dict:
        """Counts and key names, as printed by ``atomsieve info``."""
        return {
            "source": self.source,
            "structures": len(self),
            "atoms": self.n_atoms,
            "elements": self.elements,
            "atoms_per_element": self.atoms_per_element,
            "energy_key": self.energy_key,
            "forces_key": self.forces_key,
        }


def structures_sha256(structures: Iterable) -> hashlib._Hash:
    """SHA-256 over each structure's atomic numbers, positions, cell and periodicity (not labels).

    Updated one structure at a time, so a file read in partitions gives the digest of the whole
    :class:`Dataset` (``Dataset.structure_hash``).
    """
    h = hashlib.sha256()
    for a in structures:
        h.update(np.int64(len(a)).tobytes())
        h.update(np.ascontiguousarray(a.numbers, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
        h.update(np.asarray(a.pbc, dtype=bool).tobytes())
    return h
