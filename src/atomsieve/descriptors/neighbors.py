"""Neighbour lists for batches of padded structures, periodic or not.

The input format is the one every descriptor module here uses (TorchANI's habit):
``species`` (B, A) integer, −1 marks padding; ``positions`` (B, A, 3) in Å;
``cells`` (B, 3, 3) with lattice vectors as rows; ``pbc`` (B, 3) booleans.

The list is returned flat over the batch: atom ``a`` of structure ``b`` has flat
index ``b * A + a``. For every ordered pair (i, j) with ``|r_j + S·cell − r_i| ≤ r_cut``
(``S`` an integer image shift, ``(j, S) ≠ (i, 0)``) there is one entry, sorted by ``i``.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import torch
from numba import prange

#: Largest number of (i, j, shift) candidate distances evaluated at once by the dense search.
DENSE_CHUNK = 4_000_000
#: A single structure with more (i, j, image) candidates than this uses ASE's cell list instead.
DENSE_LIMIT = 16_000_000


class Neighbors(NamedTuple):
    """Flat neighbour pairs of a batch.

    Attributes
    ----------
    center, neighbor : LongTensor (P,)
        Flat atom indices (``b * A + a``); ``center`` is sorted.
    shift : Tensor (P, 3)
        Integer image shift (as floats) of ``neighbor``, in units of the lattice vectors of the
        *unwrapped* input positions: ``d = r[neighbor] + shift @ cell[b] − r[center]``.
    """

    center: torch.Tensor
    neighbor: torch.Tensor
    shift: torch.Tensor


def image_ranges(cells: np.ndarray, pbc: np.ndarray, r_cut: float) -> np.ndarray:
    """Images needed per lattice direction, shape (B, 3): ``ceil(r_cut / plane spacing)`` where
    periodic, 0 elsewhere. Positions must lie inside the cell (see :func:`wrap_positions`)."""
    out = np.zeros(pbc.shape, dtype=np.int64)
    for b in range(len(cells)):
        if not pbc[b].any():
            continue
        cell = cells[b]
        # Plane spacing along direction d = 1 / |row d of inv(cell).T|; singular cells fail loudly.
        recip = np.linalg.inv(cell).T
        spacing = 1.0 / np.linalg.norm(recip, axis=1)
        out[b] = np.where(pbc[b], np.ceil(r_cut / spacing + 1e-9), 0).astype(np.int64)
    return out


def wrap_shifts(positions: torch.Tensor, cells: torch.Tensor, pbc: torch.Tensor) -> torch.Tensor:
    """Integer lattice offsets ``k`` (B, A, 3) with ``positions − k @ cell`` inside the cell
    along periodic directions (zero along the others)."""
    frac = torch.linalg.solve(cells.transpose(1, 2), positions.transpose(1, 2)).transpose(1, 2)
    return torch.where(pbc[:, None, :], torch.floor(frac), torch.zeros_like(frac))


class NeighborList(torch.nn.Module):
    """All neighbours within ``r_cut`` (Å) of every atom of a padded batch.

    Dense search over atom pairs and the lattice images each cell needs, so cells smaller
    than the cutoff, skewed cells, molecules without a cell and mixed periodicity all work;
    a very large structure falls back to ASE's cell list. Runs without gradients: the
    descriptor recomputes the displacement vectors from ``shift`` so they carry gradients.

    Examples
    --------
    >>> import torch
    >>> nl = NeighborList(2.0)
    >>> pos = torch.tensor([[[0.0, 0, 0], [1.5, 0, 0], [9.0, 0, 0]]])
    >>> n = nl(torch.tensor([[0, 0, 0]]), pos, torch.zeros(1, 3, 3), torch.zeros(1, 3, dtype=torch.bool))
    >>> n.center.tolist(), n.neighbor.tolist()
    ([0, 1], [1, 0])
    """

    def __init__(self, r_cut: float):
        super().__init__()
        self.register_buffer("r_cut", torch.tensor(float(r_cut), dtype=torch.float64))

    @torch.no_grad()
    def forward(self, species, positions, cells, pbc) -> Neighbors:
        B, A = species.shape
        dtype, device = positions.dtype, positions.device
        if B == 0 or A == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return Neighbors(empty, empty, torch.zeros(0, 3, dtype=dtype, device=device))
        rc = float(self.r_cut)
        pbc = pbc.to(torch.bool)
        real = species >= 0
        safe_cells = torch.as_tensor(
            search_cells(cells.detach().double().cpu().numpy(), pbc.cpu().numpy()), dtype=dtype, device=device
        )
        k = wrap_shifts(positions, safe_cells, pbc) if bool(pbc.any()) else torch.zeros_like(positions)
        wrapped = positions - torch.einsum("bai,bij->baj", k, safe_cells)
        ranges = image_ranges(safe_cells.double().cpu().numpy(), pbc.cpu().numpy(), rc)
        n_real = real.sum(dim=1).cpu().numpy()
        centers, neighbors, shifts = [], [], []
        dense = [b for b in range(B) if n_real[b] ** 2 * np.prod(2 * ranges[b] + 1) <= DENSE_LIMIT]
        if dense:
            groups = {}
            for b in dense:
                groups.setdefault(tuple(ranges[b]), []).append(b)
            for rng, members in groups.items():
                c, n, s = self._dense(wrapped, safe_cells, real, members, rng, rc)
                centers.append(c)
                neighbors.append(n)
                shifts.append(s)
        for b in sorted(set(range(B)) - set(dense)):
            c, n, s = self._cell_list(wrapped[b], safe_cells[b], pbc[b], real[b], rc)
            centers.append(c + b * A)
            neighbors.append(n + b * A)
            shifts.append(s)
        center = torch.cat(centers)
        neighbor = torch.cat(neighbors)
        shift = torch.cat(shifts).to(dtype)
        if len(centers) > 1:
            order = torch.sort(center, stable=True).indices
            center, neighbor, shift = center[order], neighbor[order], shift[order]
        # Express shifts for the unwrapped input positions: d = r_j + (S - k_j + k_i)·cell - r_i.
        kf = k.reshape(B * A, 3)
        shift = shift - kf[neighbor] + kf[center]
        return Neighbors(center, neighbor, shift)

    @staticmethod
    def _dense(wrapped, cells, real, members, rng, rc):
        device, dtype = wrapped.device, wrapped.dtype
        B, A = real.shape
        axes = [torch.arange(-r, r + 1, device=device, dtype=dtype) for r in rng]
        S = torch.cartesian_prod(*axes).reshape(-1, 3)  # (n_shift, 3)
        idx = torch.tensor(members, device=device)
        pos = wrapped[idx]  # (b, A, 3)
        mask_real = real[idx]
        shift_vec = torch.einsum("sk,bkj->bsj", S, cells[idx])  # (b, n_shift, 3)
        zero_shift = int(torch.nonzero((S == 0).all(dim=1))[0])
        per_struct = A * A * len(S)
        step = max(1, DENSE_CHUNK // max(per_struct, 1))
        out_c, out_n, out_s = [], [], []
        # |r_j + s − r_i|² = |r_i|² + |r_j + s|² − 2 r_i·(r_j + s): one batched GEMM, no (i, j, s, 3)
        # tensor. The rounding error (~1e-13 Å²) only matters at R ≈ r_cut, where f_c is zero anyway.
        rc2 = rc * rc * (1.0 + 1e-10)
        diag = torch.arange(A, device=device)
        for start in range(0, len(members), step):
            sl = slice(start, start + step)
            p, sv, m = pos[sl], shift_vec[sl], mask_real[sl]
            nb = len(p)
            img = (p[:, :, None, :] + sv[:, None, :, :]).reshape(nb, A * len(S), 3)  # (b, j*s, 3)
            r2 = (p * p).sum(-1)[:, :, None] + (img * img).sum(-1)[:, None, :]
            r2 -= 2.0 * torch.bmm(p, img.transpose(1, 2))
            ok = (r2 <= rc2).reshape(nb, A, A, len(S))
            ok &= m[:, :, None, None] & m[:, None, :, None]
            ok[:, diag, diag, zero_shift] = False
            b, i, j, s = torch.nonzero(ok, as_tuple=True)
            flat_b = idx[sl][b]
            out_c.append(flat_b * A + i)
            out_n.append(flat_b * A + j)
            out_s.append(S[s])
        return torch.cat(out_c), torch.cat(out_n), torch.cat(out_s)

    @staticmethod
    def _cell_list(pos, cell, pbc, real, rc):
        from ase.neighborlist import primitive_neighbor_list

        device, dtype = pos.device, pos.dtype
        n = int(real.sum())
        p = pos[:n].double().cpu().numpy()
        c = cell.double().cpu().numpy()
        i, j, S = primitive_neighbor_list("ijS", pbc.cpu().numpy(), c, p, rc, self_interaction=False)
        return (
            torch.as_tensor(i, device=device, dtype=torch.long),
            torch.as_tensor(j, device=device, dtype=torch.long),
            torch.as_tensor(S, device=device, dtype=dtype),
        )


def search_cells(cells: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Cells safe to invert: rows along non-periodic directions replaced by unit vectors
    orthogonal to the periodic rows (those rows never shift atoms, so any choice is exact)."""
    out = np.array(cells, dtype=np.float64, copy=True)
    pbc = np.asarray(pbc, dtype=bool)
    out[~pbc.any(axis=1)] = np.eye(3)  # molecules: any basis will do
    for b in np.flatnonzero(pbc.any(axis=1) & ~pbc.all(axis=1)).tolist():  # mixed periodicity
        per = np.flatnonzero(pbc[b])
        non = np.flatnonzero(~pbc[b])
        # Orthonormal complement of the periodic rows.
        _, _, vt = np.linalg.svd(out[b][per])
        out[b][non] = vt[len(per):]
    return out


def triples_from_pairs(center: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered pairs of neighbour entries sharing a centre.

    ``center`` must be sorted. Returns pair indices ``(p, q)``, shape (T,), with ``p < q`` and
    ``center[p] == center[q]``, grouped by centre.

    >>> import torch
    >>> p, q = triples_from_pairs(torch.tensor([0, 0, 0, 1, 1]))
    >>> p.tolist(), q.tolist()
    ([0, 0, 1, 3], [1, 2, 2, 4])
    """
    device = center.device
    P = len(center)
    if P == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    _, counts = torch.unique_consecutive(center, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(P, device=device) - torch.repeat_interleave(starts, counts)
    later = torch.repeat_interleave(counts, counts) - local - 1  # partners after p in its group
    p = torch.repeat_interleave(torch.arange(P, device=device), later)
    block_start = torch.cumsum(later, 0) - later
    q = p + 1 + (torch.arange(len(p), device=device) - torch.repeat_interleave(block_start, later))
    return p, q


# ---------------------------------------------------------------------------------------------------
# Compiled CSR neighbour list (numba) for the no-gradient CPU path.


class PairList(NamedTuple):
    """Neighbour pairs of concatenated structures in CSR form (numpy, float64).

    The neighbours of atom ``i`` are entries ``starts[i]:starts[i + 1]`` of ``neighbor`` (index of
    the neighbouring atom in the concatenation) and ``d`` (its displacement r_j + S·cell − r_i, Å).
    """

    starts: np.ndarray
    neighbor: np.ndarray
    d: np.ndarray


def neighbor_pairs(positions: np.ndarray, cells: np.ndarray, pbc: np.ndarray, counts: np.ndarray,
                   r_cut: float) -> PairList:
    """All pairs within ``r_cut`` (Å) of concatenated structures, as :class:`PairList`.

    ``positions`` (N, 3) Å, structures of ``counts`` (B,) atoms one after another; ``cells``
    (B, 3, 3) with lattice vectors as rows; ``pbc`` (B, 3). Same pairs as :class:`NeighborList`
    (brute force over the atoms and the lattice images each structure needs, pruned by the
    distance to each image of the cell, in numba); a structure with more than :data:`DENSE_LIMIT`
    candidates uses ASE's cell list. Call inside :func:`atomsieve.descriptors.kernel_threads.numba_threads`
    to choose the thread count.

    >>> import numpy as np
    >>> pl = neighbor_pairs(np.array([[0.0, 0, 0], [1.5, 0, 0], [9.0, 0, 0]]), np.zeros((1, 3, 3)),
    ...                     np.zeros((1, 3), bool), np.array([3]), 2.0)
    >>> pl.starts.tolist(), pl.neighbor.tolist(), pl.d[:, 0].tolist()
    ([0, 1, 2, 2], [1, 0], [1.5, -1.5])
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    pbc = np.asarray(pbc, dtype=bool)
    n_atoms, B = len(positions), len(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    safe = search_cells(np.asarray(cells, dtype=np.float64), pbc)
    inv = np.linalg.inv(safe)
    structure = np.repeat(np.arange(B), counts)
    frac = np.einsum("ni,nij->nj", positions, inv[structure])
    k = np.where(pbc[structure], np.floor(frac), 0.0)
    wrapped = positions - np.einsum("ni,nij->nj", k, safe[structure])
    frac -= k
    spacing = 1.0 / np.linalg.norm(inv, axis=1)  # plane spacing per lattice direction (Å)
    ranges = np.where(pbc, np.ceil(r_cut / spacing + 1e-9), 0).astype(np.int64)
    big = counts.astype(np.float64) ** 2 * np.prod(2 * ranges + 1, axis=1) > DENSE_LIMIT
    n_found = np.zeros(n_atoms, dtype=np.int64)
    neighbor = np.zeros(0, dtype=np.int64)
    d = np.zeros((0, 3))
    args = (wrapped, frac, structure, offsets, safe, ranges, spacing, float(r_cut), ~big[structure])
    _scan_pairs(*args, n_found, neighbor, d, False)
    ase_pairs = {}
    for b in np.flatnonzero(big):
        lo = offsets[b]
        i, j, S = _ase_pairs(wrapped[lo : offsets[b + 1]], safe[b], pbc[b], r_cut)
        ase_pairs[b] = (i + lo, j + lo, (wrapped[lo + j] + S @ safe[b]) - wrapped[lo + i])
        n_found[lo : offsets[b + 1]] = np.bincount(i, minlength=counts[b])
    starts = np.concatenate([[0], np.cumsum(n_found)]).astype(np.int64)
    neighbor = np.empty(int(starts[-1]), dtype=np.int64)
    d = np.empty((int(starts[-1]), 3))
    _scan_pairs(*args, starts, neighbor, d, True)
    for i, j, dij in ase_pairs.values():
        order = np.argsort(i, kind="stable")
        where = starts[i[order]] + (np.arange(len(i)) - np.searchsorted(i[order], i[order]))
        neighbor[where] = j[order]
        d[where] = dij[order]
    return PairList(starts, neighbor, d)


def _ase_pairs(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, r_cut: float):
    from ase.neighborlist import primitive_neighbor_list

    i, j, S = primitive_neighbor_list("ijS", pbc, cell, pos, r_cut, self_interaction=False)
    return i.astype(np.int64), j.astype(np.int64), S.astype(np.float64)


@numba.njit(cache=True)
def _image_span(r, f, spacing, reach):  # pragma: no cover - compiled
    """Lowest and highest image along one lattice direction (at most ``r`` either way) whose cell,
    fractional coordinates [s, s + 1), comes within ``reach`` (Å) of fractional coordinate ``f``."""
    lo, hi = -r, r
    while lo < 0 and spacing * (f - lo - 1.0) > reach:
        lo += 1
    while hi > 0 and spacing * (hi - f) > reach:
        hi -= 1
    return lo, hi


@numba.njit(cache=True, parallel=True)
def _scan_pairs(wrapped, frac, structure, offsets, cells, ranges, spacing, r_cut, active, starts, neighbor,
                d, fill):  # pragma: no cover - compiled
    """Count (``fill`` False: into ``starts[i]``) or write (``fill`` True: from ``starts[i]``) the
    neighbours of every ``active`` atom."""
    rc2 = r_cut * r_cut
    reach = r_cut * (1.0 + 1e-9) + 1e-9
    for i in prange(len(wrapped)):
        if not active[i]:
            continue
        b = structure[i]
        # Image range per lattice direction (scalars: two small arrays per atom cost more than the
        # distances of a molecule).
        lo0, hi0 = _image_span(ranges[b, 0], frac[i, 0], spacing[b, 0], reach)
        lo1, hi1 = _image_span(ranges[b, 1], frac[i, 1], spacing[b, 1], reach)
        lo2, hi2 = _image_span(ranges[b, 2], frac[i, 2], spacing[b, 2], reach)
        xi, yi, zi = wrapped[i, 0], wrapped[i, 1], wrapped[i, 2]
        n = starts[i] if fill else 0
        for s0 in range(lo0, hi0 + 1):
            for s1 in range(lo1, hi1 + 1):
                for s2 in range(lo2, hi2 + 1):
                    ox = s0 * cells[b, 0, 0] + s1 * cells[b, 1, 0] + s2 * cells[b, 2, 0] - xi
                    oy = s0 * cells[b, 0, 1] + s1 * cells[b, 1, 1] + s2 * cells[b, 2, 1] - yi
                    oz = s0 * cells[b, 0, 2] + s1 * cells[b, 1, 2] + s2 * cells[b, 2, 2] - zi
                    home = s0 == 0 and s1 == 0 and s2 == 0
                    for j in range(offsets[b], offsets[b + 1]):
                        dx = wrapped[j, 0] + ox
                        dy = wrapped[j, 1] + oy
                        dz = wrapped[j, 2] + oz
                        if dx * dx + dy * dy + dz * dz <= rc2 and not (home and j == i):
                            if fill:
                                neighbor[n] = j
                                d[n, 0] = dx
                                d[n, 1] = dy
                                d[n, 2] = dz
                            n += 1
        if not fill:
            starts[i] = n
