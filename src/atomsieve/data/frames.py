"""Structures kept as flat arrays, an :class:`ase.Atoms` built only when one is asked for.

A list of ``ase.Atoms`` costs about 2.8 kB per atom in Python objects (14 GB for 5 × 10^6 atoms);
:class:`CompactFrames` holds the same structures in about 60 bytes per atom of numpy arrays
(atomic numbers, positions and any other per-atom arrays of the file stacked, one cell and
periodicity per structure, each structure's ``info`` and calculator results) and behaves as a
read-only sequence of ``Atoms``: ``frames[i]`` builds structure ``i`` afresh, equal to the one the
file reader gave. :class:`~atomsieve.data.dataset.Dataset` takes it in place of a list, and
:func:`atomsieve.data.stream.read_compact` reads a large file into it a partition at a time
(:func:`atomsieve.data.stream.iter_partitions`), so no list of ``Atoms`` ever exists.

A structure whose layout differs from the first one's (other per-atom arrays, constraints, a
calculator that is not a single-point one) is kept as its ``Atoms`` object, returned as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

#: Per-atom arrays every structure has (``Atoms.arrays`` keys); always stacked.
CORE_ARRAYS = ("numbers", "positions")


def _atom_rows(offsets: np.ndarray, counts: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Rows of the stacked per-atom arrays holding the structures at ``indices``, in that order.

    >>> _atom_rows(np.array([0, 2, 5]), np.array([2, 3]), np.array([1, 0])).tolist()
    [2, 3, 4, 0, 1]
    """
    sizes = counts[indices]
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    return np.repeat(offsets[indices] - starts, sizes) + np.arange(total, dtype=np.int64)


def _layout(atoms: Atoms) -> tuple | None:
    """What makes structures stackable together: per-atom arrays (name, dtype, trailing shape) and
    per-atom calculator results; None for a structure that must be kept whole."""
    calc = atoms.calc
    if atoms.constraints or np.any(atoms.get_celldisp()) or (
            calc is not None and not isinstance(calc, SinglePointCalculator)):
        return None
    arrays = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in atoms.arrays.items()
                          if k not in CORE_ARRAYS))
    results = () if calc is None else tuple(sorted(
        (k, np.shape(v)[1:]) for k, v in calc.results.items() if np.ndim(v) and len(v) == len(atoms)))
    return arrays, results, calc is not None


class CompactFrames(Sequence):
    """Structures as stacked numpy arrays; a read-only sequence of freshly built ``ase.Atoms``.

    Build one with :meth:`from_atoms` (or :class:`FramesBuilder` a batch at a time). Slicing gives a
    list of ``Atoms``, as a list would; :meth:`subset` gives another ``CompactFrames``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> frames = CompactFrames.from_atoms([bulk("Cu", cubic=True), bulk("Al")])
    >>> len(frames), frames.atom_counts.tolist(), frames[1].get_chemical_formula()
    (2, [4, 1], 'Al')
    >>> [a.get_chemical_formula() for a in frames.subset([1, 0, 1])]
    ['Al', 'Cu4', 'Al']
    """

    def __init__(self, atom_counts, cells, pbc, arrays: dict, info: list, results: list,
                 atom_results: dict, kept: dict | None = None):
        self.atom_counts = np.asarray(atom_counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.atom_counts)]).astype(np.int64)
        self.cells = np.asarray(cells, dtype=np.float64).reshape(-1, 3, 3)
        self.pbc = np.asarray(pbc, dtype=bool).reshape(-1, 3)
        self.arrays = arrays
        self.info = info
        self.results = results
        self.atom_results = atom_results
        self.kept = kept or {}

    @classmethod
    def from_atoms(cls, frames: Iterable[Atoms]) -> CompactFrames:
        """The structures of ``frames`` (any iterable of ``Atoms``), stacked."""
        builder = FramesBuilder()
        builder.extend(frames)
        return builder.build()

    # -- the sequence ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.atom_counts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._atoms(i) for i in range(*index.indices(len(self)))]
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"structure {index} out of range for {len(self)} structures")
        return self._atoms(i)

    def __iter__(self):
        for i in range(len(self)):
            yield self._atoms(i)

    def __repr__(self) -> str:
        return f"CompactFrames({len(self)} structures, {self.n_atoms} atoms)"

    @property
    def n_atoms(self) -> int:
        return int(self.offsets[-1])

    @property
    def numbers(self) -> np.ndarray:
        """Atomic number of every atom, structures stacked."""
        return self.arrays["numbers"]

    @property
    def positions(self) -> np.ndarray:
        """Positions (Å) of every atom, structures stacked."""
        return self.arrays["positions"]

    @property
    def nbytes(self) -> int:
        """Bytes held by the stacked arrays (not counting ``info``, results and kept structures)."""
        arrays = [self.atom_counts, self.offsets, self.cells, self.pbc, *self.arrays.values(),
                  *self.atom_results.values()]
        return int(sum(a.nbytes for a in arrays))

    def _atoms(self, i: int) -> Atoms:
        if i in self.kept:
            return self.kept[i]
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        atoms = Atoms(numbers=self.arrays["numbers"][a:b], positions=self.arrays["positions"][a:b],
                      cell=self.cells[i], pbc=self.pbc[i], info=self.info[i])
        for name, values in self.arrays.items():
            if name not in CORE_ARRAYS:
                atoms.arrays[name] = values[a:b].copy()
        results = self.results[i]
        if results is not None:
            per_atom = {k: v[a:b].copy() for k, v in self.atom_results.items()}
            atoms.calc = SinglePointCalculator(atoms, **results, **per_atom)
        return atoms

    # -- whole-set operations from the arrays ---------------------------------------------------
    def atom_rows(self, indices) -> np.ndarray:
        """Rows of the stacked per-atom arrays of the structures at ``indices``, in that order."""
        return _atom_rows(self.offsets, self.atom_counts, np.asarray(indices, dtype=np.int64).reshape(-1))

    def subset(self, indices) -> CompactFrames:
        """The structures at ``indices`` (in that order), stacked anew."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        rows = self.atom_rows(idx)
        kept = {k: self.kept[int(i)] for k, i in enumerate(idx.tolist()) if int(i) in self.kept}
        return CompactFrames(
            self.atom_counts[idx], self.cells[idx], self.pbc[idx],
            {k: v[rows] for k, v in self.arrays.items()}, [self.info[i] for i in idx.tolist()],
            [self.results[i] for i in idx.tolist()], {k: v[rows] for k, v in self.atom_results.items()},
            kept)

    def update_sha256(self, h) -> None:
        """Feed every structure, in order, into ``h`` as
        :func:`atomsieve.data.dataset.structures_sha256` does for ``Atoms``: the same digest."""
        numbers = self.arrays["numbers"]
        positions = self.arrays["positions"]
        for i in range(len(self)):
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            h.update(np.int64(b - a).tobytes())
            h.update(np.ascontiguousarray(numbers[a:b], dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(positions[a:b], dtype=np.float64).tobytes())
            h.update(np.ascontiguousarray(self.cells[i]).tobytes())
            h.update(self.pbc[i].tobytes())

    def formulas(self) -> list[str]:
        """Chemical formula (ASE's Hill order, as ``Atoms.get_chemical_formula``) of every structure."""
        from ase.symbols import Symbols

        numbers = self.arrays["numbers"]
        cache: dict[bytes, str] = {}
        out = []
        for i in range(len(self)):
            z = numbers[self.offsets[i]:self.offsets[i + 1]]
            key = np.bincount(z).tobytes() if len(z) else b""
            if key not in cache:
                cache[key] = Symbols(z).get_chemical_formula()
            out.append(cache[key])
        return out


class FramesBuilder:
    """Stacks structures a batch at a time into a :class:`CompactFrames` (only the arrays are kept).

    >>> from ase.build import bulk
    >>> b = FramesBuilder(); b.extend([bulk("Cu")]); b.extend([bulk("Ni"), bulk("Cu", cubic=True)])
    >>> b.build().atom_counts.tolist()
    [1, 1, 4]
    """

    def __init__(self):
        self.layout = None
        self.counts: list[np.ndarray] = []
        self.cells: list[np.ndarray] = []
        self.pbc: list[np.ndarray] = []
        self.arrays: dict[str, list[np.ndarray]] = {}
        self.atom_results: dict[str, list[np.ndarray]] = {}
        self.info: list[dict] = []
        self.results: list[dict | None] = []
        self.kept: dict[int, Atoms] = {}
        self.n = 0

    def extend(self, frames: Iterable[Atoms]) -> None:
        frames = list(frames)
        if not frames:
            return
        if self.layout is None:
            self.layout = _layout(frames[0]) or ((), (), False)
            self.arrays = {name: [] for name in CORE_ARRAYS}
            self.arrays.update({name: [] for name, _, _ in self.layout[0]})
            self.atom_results = {name: [] for name, _ in self.layout[1]}
        per_atom_names = [name for name, _ in self.layout[1]]
        for k, atoms in enumerate(frames):
            if _layout(atoms) != self.layout:
                self.kept[self.n + k] = atoms
        self.counts.append(np.array([len(a) for a in frames], dtype=np.int64))
        self.cells.append(np.array([a.cell.array for a in frames], dtype=np.float64).reshape(-1, 3, 3))
        self.pbc.append(np.array([a.pbc for a in frames], dtype=bool).reshape(-1, 3))
        regular = [a for k, a in enumerate(frames) if self.n + k not in self.kept]
        for name in self.arrays:
            if name in CORE_ARRAYS:
                self.arrays[name].append(np.concatenate([a.arrays[name] for a in frames]))
            elif regular:
                self.arrays[name].append(np.concatenate([a.arrays[name] for a in regular]))
        for name in per_atom_names:
            if regular:
                self.atom_results[name].append(
                    np.concatenate([np.asarray(a.calc.results[name]) for a in regular]))
        for k, atoms in enumerate(frames):
            self.info.append(atoms.info if self.n + k not in self.kept else {})
            calc = atoms.calc
            if calc is None or self.n + k in self.kept:
                self.results.append(None)
            else:
                self.results.append({key: value for key, value in calc.results.items()
                                     if key not in per_atom_names})
        self.n += len(frames)

    def build(self) -> CompactFrames:
        counts = np.concatenate(self.counts) if self.counts else np.zeros(0, dtype=np.int64)
        cells = np.concatenate(self.cells) if self.cells else np.zeros((0, 3, 3))
        pbc = np.concatenate(self.pbc) if self.pbc else np.zeros((0, 3), dtype=bool)
        arrays = {name: np.concatenate(parts) for name, parts in self.arrays.items() if parts}
        arrays.setdefault("numbers", np.zeros(0, dtype=np.int64))
        arrays.setdefault("positions", np.zeros((0, 3)))
        atom_results = {name: np.concatenate(parts) for name, parts in self.atom_results.items() if parts}
        if self.kept:  # stacked extras hold only the regular structures: spread them to all rows
            arrays, atom_results = self._spread(counts, arrays, atom_results)
        return CompactFrames(counts, cells, pbc, arrays, self.info, self.results, atom_results, self.kept)

    def _spread(self, counts, arrays, atom_results):
        offsets = np.concatenate([[0], np.cumsum(counts)])
        regular = np.ones(len(counts), dtype=bool)
        regular[list(self.kept)] = False
        rows = _atom_rows(offsets, counts, np.flatnonzero(regular))
        n_atoms = int(offsets[-1])

        def spread(values):
            full = np.zeros((n_atoms, *values.shape[1:]), dtype=values.dtype)
            full[rows] = values
            return full

        return ({k: v if k in CORE_ARRAYS else spread(v) for k, v in arrays.items()},
                {k: spread(v) for k, v in atom_results.items()})
