"""Chunks: an uncertain atom and every atom within the chunk cutoff, cut out of the target.

A chunk is the small structure the parent labels instead of the whole target (Zeng, Chen &
Peterson, J. Chem. Phys. 156, 064104 (2022)). Its central atom comes first (index 0), is flagged
in ``arrays["central"]`` and named in ``info["central_atom"]``; only that atom's force enters the
loss, since the other atoms sit next to an artificial surface.

Two kinds:

- **vacuum-padded** (default): a non-periodic cluster. For a periodic target the neighbours are
  taken with the minimum image (every periodic image within the cutoff), so the chunk is the
  central atom's true neighbourhood. The box has ``vacuum`` Å of empty space on every side.
- **periodic** (for slabs): a box of side ``2 * cutoff`` centred on the atom, periodic along the
  target's periodic axes, vacuum-padded along the others, holding the atoms that fall inside the
  box (wrapped into it). It keeps a slab's surface without cutting the slab sideways.

Units: Å.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from atomsieve.errors import ParameterError


def _check(atoms: Atoms, index: int, cutoff: float) -> int:
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"target must be an ase.Atoms; got {type(atoms).__name__}")
    n = len(atoms)
    if not -n <= int(index) < n:
        raise ParameterError(f"atom index {index} is outside the target's {n} atoms")
    if not cutoff > 0:
        raise ParameterError(f"chunk cutoff must be a positive distance in Å; got {cutoff}")
    if atoms.pbc.any() and abs(atoms.cell.volume) < 1e-9:
        raise ParameterError("target is periodic but has no cell; set atoms.cell or atoms.pbc = False")
    return int(index) % n


def neighbourhood(atoms: Atoms, index: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and displacement vectors (Å, from the centre) of every atom image within ``cutoff``.

    Periodic images count separately (minimum image and beyond, for cells smaller than the
    cutoff). The centre itself is not included.

    Examples
    --------
    >>> from ase import Atoms
    >>> idx, vec = neighbourhood(Atoms("H3", positions=[[0, 0, 0], [1, 0, 0], [5, 0, 0]]), 0, 2.0)
    >>> idx.tolist(), vec.tolist()
    ([1], [[1.0, 0.0, 0.0]])
    """
    index = _check(atoms, index, cutoff)
    if not atoms.pbc.any():
        d = atoms.positions - atoms.positions[index]
        dist = np.linalg.norm(d, axis=1)
        keep = np.flatnonzero((dist <= cutoff) & (np.arange(len(atoms)) != index))
        return keep, d[keep]
    probe = atoms.copy()
    probe.calc = None
    i, j, vec = neighbor_list("ijD", probe, cutoff, self_interaction=False)
    sel = i == index
    return j[sel], vec[sel]


def cut_chunk(
    atoms: Atoms,
    index: int,
    cutoff: float = 6.5,
    *,
    periodic: bool = False,
    vacuum: float = 6.0,
) -> Atoms:
    """The chunk around atom ``index`` of ``atoms``: central atom first and flagged.

    Parameters
    ----------
    atoms : ase.Atoms
        The target structure (a cluster, a periodic bulk cell or a slab).
    index : int
        The central (uncertain) atom.
    cutoff : float
        Chunk radius in Å: every atom within it of the centre is kept.
    periodic : bool
        Cut a periodic box of side ``2 * cutoff`` instead of a vacuum-padded cluster (for slabs).
    vacuum : float
        Empty space in Å on each non-periodic side.

    Returns
    -------
    ase.Atoms
        With ``arrays["central"]`` (bool, True only at index 0), ``arrays["source_index"]`` (index of
        each atom in the target), ``info["central_atom"] = 0``, ``info["source_atom"] = index``,
        ``info["chunk_cutoff"]`` and ``info["chunk_kind"]``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> chunk = cut_chunk(bulk("Pt", "fcc", a=3.92, cubic=True), 0, cutoff=3.0)
    >>> len(chunk), chunk.info["central_atom"], bool(chunk.arrays["central"][0]), bool(chunk.pbc.any())
    (13, 0, True, False)
    """
    index = _check(atoms, index, cutoff)
    if periodic:
        return _periodic_chunk(atoms, index, cutoff, vacuum)
    neigh, vectors = neighbourhood(atoms, index, cutoff)
    order = np.lexsort((neigh, np.round(np.linalg.norm(vectors, axis=1), 8)))
    neigh, vectors = neigh[order], vectors[order]
    numbers = np.concatenate([[atoms.numbers[index]], atoms.numbers[neigh]])
    positions = np.vstack([np.zeros((1, 3)), vectors])
    half = cutoff + vacuum
    chunk = Atoms(numbers=numbers, positions=positions + half, cell=np.eye(3) * 2 * half, pbc=False)
    return _flag(chunk, np.concatenate([[index], neigh]), index, cutoff, "vacuum")


def _periodic_chunk(atoms: Atoms, index: int, cutoff: float, vacuum: float) -> Atoms:
    if not atoms.pbc.any():
        raise ParameterError("periodic chunks need a target with at least one periodic direction")
    side = 2.0 * cutoff
    # every image within the box's circumscribed sphere, then those inside the box [-cutoff, cutoff)^3
    neigh, vectors = neighbourhood(atoms, index, cutoff * np.sqrt(3) + 1e-6)
    pbc = atoms.pbc.copy()
    inside = np.all((vectors >= -cutoff) & (vectors < cutoff), axis=1)
    neigh, vectors = neigh[inside], vectors[inside]
    positions = np.vstack([np.zeros((1, 3)), vectors])
    lo = np.where(pbc, -cutoff, positions.min(axis=0) - vacuum)
    extent = np.where(pbc, side, np.ptp(positions, axis=0) + 2 * vacuum)
    positions = positions - lo
    cell = np.diag(extent)
    numbers = np.concatenate([[atoms.numbers[index]], atoms.numbers[neigh]])
    chunk = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    chunk.wrap()
    keep = _drop_overlaps(chunk)
    source = np.concatenate([[index], neigh])[keep]
    return _flag(chunk[keep], source, index, cutoff, "periodic")


def _drop_overlaps(chunk: Atoms, tolerance: float = 0.5) -> np.ndarray:
    """Indices to keep so that no two atoms (with the chunk's periodicity) are closer than ``tolerance``."""
    if len(chunk) < 2:
        return np.arange(len(chunk))
    i, j = neighbor_list("ij", chunk, tolerance, self_interaction=False)
    drop = set()
    for a, b in zip(i, j):
        if a < b and a not in drop:
            drop.add(int(b))
    return np.array([k for k in range(len(chunk)) if k not in drop], dtype=int)


def _flag(chunk: Atoms, source: np.ndarray, index: int, cutoff: float, kind: str) -> Atoms:
    central = np.zeros(len(chunk), dtype=bool)
    central[0] = True
    chunk.arrays["central"] = central
    chunk.arrays["source_index"] = np.asarray(source, dtype=np.int64)
    chunk.info.update(central_atom=0, source_atom=int(index), chunk_cutoff=float(cutoff), chunk_kind=kind)
    return chunk


def cut_chunks(
    atoms: Atoms, indices: Sequence[int], cutoff: float = 6.5, *, periodic: bool = False, vacuum: float = 6.0
) -> list[Atoms]:
    """:func:`cut_chunk` for each of ``indices``.

    Examples
    --------
    >>> from ase.cluster import Octahedron
    >>> [len(c) for c in cut_chunks(Octahedron("Pt", 4, 1), [0, 1], cutoff=3.0)]
    [7, 7]
    """
    return [cut_chunk(atoms, i, cutoff, periodic=periodic, vacuum=vacuum) for i in indices]


def central_atom(chunk: Atoms) -> int:
    """Index of the central atom of a chunk (``info["central_atom"]``, else the ``central`` flag)."""
    if "central_atom" in chunk.info:
        return int(chunk.info["central_atom"])
    if "central" in chunk.arrays:
        flagged = np.flatnonzero(chunk.arrays["central"])
        if len(flagged) == 1:
            return int(flagged[0])
    raise ParameterError("structure is not a chunk: it has no info['central_atom'] or arrays['central'] flag")
