"""Radial distribution functions per element pair, with the minimum-image convention, in numpy.

For periodic frames ``g_AB(r) = V n_AB(r) / (N_A N_B ΔV(r))`` averaged over frames, where
``n_AB(r)`` counts ordered pairs (centre of element A, neighbour of element B) in the shell of
volume ``ΔV(r) = 4π/3 (r₂³ − r₁³)``: the LAMMPS ``compute rdf`` and ASE ≥ 3.27 convention
(``g_AB = g_BA``). Minimum image is exact for ``r_max`` up to half the smallest perpendicular width
of the cell (:func:`largest_rdf_radius`); larger radii are refused rather than silently wrong.

For non-periodic frames (clusters) there is no density to normalise by; ``g`` is then the
pair-distance density ``n_AB(r) / (N_A N_B Δr)`` in 1/Å, comparable between two runs of the same
cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from atomsieve.errors import ParameterError

_CHUNK = 4_000_000  # pair vectors per chunk


def pair_label(z_a: int, z_b: int) -> str:
    """``"Na-Cl"``-style name of an element pair, lighter element first.

    >>> pair_label(17, 11), pair_label(11, 11)
    ('Na-Cl', 'Na-Na')
    """
    z_a, z_b = sorted((int(z_a), int(z_b)))
    return f"{chemical_symbols[z_a]}-{chemical_symbols[z_b]}"


def _widths(atoms: Atoms) -> np.ndarray:
    """Perpendicular widths (Å) of the cell along its periodic directions."""
    inverse = np.linalg.inv(atoms.cell.array)
    return (1.0 / np.linalg.norm(inverse, axis=0))[np.asarray(atoms.pbc, dtype=bool)]


def largest_rdf_radius(frames: Iterable[Atoms]) -> float:
    """Half the smallest perpendicular cell width over periodic frames (inf when none is periodic).

    >>> from ase.build import bulk
    >>> largest_rdf_radius([bulk("Cu", cubic=True).repeat(3)])  # 3 × 3.61 Å box
    5.415
    """
    radius = np.inf
    for atoms in frames:
        if atoms.pbc.any():
            radius = min(radius, float(_widths(atoms).min()) / 2)
    return round(radius, 9) if np.isfinite(radius) else radius


def _distance_blocks(atoms: Atoms, centres: np.ndarray, neighbours: np.ndarray):
    """Yield ``(block, distances)``: minimum-image distance matrices (Å) from chunks of ``centres``
    to ``neighbours``, an atom's distance to itself set to inf."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    periodic = pbc.any()
    if periodic:
        cell = atoms.cell.array
        frac = atoms.positions @ np.linalg.inv(cell)
    rows = max(1, _CHUNK // max(1, len(neighbours)))
    for start in range(0, len(centres), rows):
        block = centres[start : start + rows]
        if periodic:
            d = frac[neighbours][None, :, :] - frac[block][:, None, :]
            d -= np.round(d) * pbc
            d = d @ cell
        else:
            d = atoms.positions[neighbours][None, :, :] - atoms.positions[block][:, None, :]
        dist = np.sqrt(np.einsum("abk,abk->ab", d, d))
        dist[block[:, None] == neighbours[None, :]] = np.inf
        yield block, dist


def pair_distances(atoms: Atoms, centres: np.ndarray, neighbours: np.ndarray, r_max: float) -> np.ndarray:
    """Minimum-image distances (Å) below ``r_max`` from atoms ``centres`` to atoms ``neighbours``,
    every ordered pair once, an atom with itself excluded."""
    out = [dist[dist < r_max] for _, dist in _distance_blocks(atoms, centres, neighbours)]
    return np.concatenate(out) if out else np.zeros(0)


def nearest_neighbour_distances(atoms: Atoms) -> np.ndarray:
    """Distance (Å) from every atom to its nearest neighbour (minimum image; inf for a lone atom).

    Exact below :func:`largest_rdf_radius`; a larger value means "no neighbour that close".

    >>> from ase.build import bulk
    >>> nearest_neighbour_distances(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)).round(3).tolist()[:2]
    [2.546, 2.546]
    """
    everyone = np.arange(len(atoms))
    out = np.full(len(atoms), np.inf)
    for block, dist in _distance_blocks(atoms, everyone, everyone):
        out[block] = dist.min(axis=1)
    return out


@dataclass
class RDF:
    """Per-pair radial distribution functions averaged over frames.

    Attributes
    ----------
    r : ndarray
        Bin centres (Å).
    edges : ndarray
        Bin edges (Å), from 0 to ``r_max``.
    g : dict of str to ndarray
        ``"A-B"`` -> g(r) (dimensionless; 1/Å for non-periodic frames, see the module docstring).
    min_distance : dict of str to float
        Smallest A–B distance seen in any frame (Å); inf when none lies within ``r_max``.
    n_frames : int
    periodic : bool
    """

    r: np.ndarray
    edges: np.ndarray
    g: dict[str, np.ndarray]
    min_distance: dict[str, float]
    n_frames: int
    periodic: bool
    counts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def r_max(self) -> float:
        return float(self.edges[-1])

    @property
    def pairs(self) -> list[str]:
        return list(self.g)

    def to_dict(self) -> dict:
        """Plain lists and floats, ready for JSON."""
        return {
            "r": self.r.tolist(),
            "g": {k: v.tolist() for k, v in self.g.items()},
            "min_distance": {k: (None if not np.isfinite(v) else v) for k, v in self.min_distance.items()},
            "n_frames": self.n_frames,
            "periodic": self.periodic,
        }


def radial_distribution(
    frames: Atoms | Iterable[Atoms], r_max: float = 6.0, n_bins: int = 120
) -> RDF:
    """Per-element-pair g(r) of one structure or the average over frames.

    Parameters
    ----------
    frames : Atoms or iterable of Atoms
        All periodic (3-D or slab) or all non-periodic; compositions may differ between frames.
    r_max : float
        Largest distance in Å; at most :func:`largest_rdf_radius` for periodic frames.
    n_bins : int
        Number of equal bins from 0 to ``r_max``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> rdf = radial_distribution(bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2), 5.0, 50)
    >>> rdf.pairs, round(rdf.min_distance["Na-Cl"], 2), round(rdf.min_distance["Na-Na"], 3)
    (['Na-Na', 'Na-Cl', 'Cl-Cl'], 2.82, 3.988)
    """
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    if not frames:
        raise ParameterError("radial_distribution needs at least one frame")
    if n_bins < 1 or not r_max > 0:
        raise ParameterError(f"need r_max > 0 Å and n_bins >= 1; got r_max={r_max}, n_bins={n_bins}")
    periodic = {bool(a.pbc.any()) for a in frames}
    if len(periodic) > 1:
        raise ParameterError("frames mix periodic and non-periodic structures; their g(r) cannot be averaged")
    periodic_flag = periodic.pop()
    if periodic_flag:
        limit = largest_rdf_radius(frames)
        if r_max > limit + 1e-9:
            raise ParameterError(
                f"r_max={r_max} Å exceeds half the smallest cell width ({limit:.3f} Å); minimum image "
                f"would be wrong. Use r_max <= {limit:.3f} or larger cells"
            )
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    all_z = sorted({int(z) for a in frames for z in np.unique(a.numbers)})
    pairs = [(a, b) for k, a in enumerate(all_z) for b in all_z[k:]]
    g = {pair_label(a, b): np.zeros(n_bins) for a, b in pairs}
    counts = {key: np.zeros(n_bins) for key in g}
    min_distance = dict.fromkeys(g, np.inf)
    for atoms in frames:
        for za, zb in pairs:
            key = pair_label(za, zb)
            ia, ib = np.flatnonzero(atoms.numbers == za), np.flatnonzero(atoms.numbers == zb)
            if len(ia) == 0 or len(ib) == 0:
                continue
            d = pair_distances(atoms, ia, ib, r_max)
            hist = np.histogram(d, bins=edges)[0].astype(float)
            counts[key] += hist
            if d.size:
                min_distance[key] = min(min_distance[key], float(d.min()))
            if periodic_flag:
                g[key] += hist * atoms.get_volume() / (len(ia) * len(ib) * shell)
            else:
                g[key] += hist / (len(ia) * len(ib) * np.diff(edges))
    for key in g:
        g[key] /= len(frames)
    return RDF(r=0.5 * (edges[1:] + edges[:-1]), edges=edges, g=g, min_distance=min_distance,
               n_frames=len(frames), periodic=periodic_flag, counts=counts)


def rdf_distance(a: RDF, b: RDF) -> dict[str, float]:
    """Integrated absolute difference ``∫ |g_a(r) − g_b(r)| dr`` (Å) for every pair in both.

    The two must share bins. A pair absent from one side counts as g = 0 there.

    >>> from ase.build import bulk
    >>> x = radial_distribution(bulk("Cu", cubic=True).repeat(3), 5.0, 50)
    >>> rdf_distance(x, x)
    {'Cu-Cu': 0.0}
    """
    if a.edges.shape != b.edges.shape or not np.allclose(a.edges, b.edges):
        raise ParameterError(
            f"RDFs have different bins (r_max {a.r_max} vs {b.r_max} Å, {len(a.r)} vs {len(b.r)} bins); "
            "compute both with the same r_max and n_bins"
        )
    widths = np.diff(a.edges)
    zero = np.zeros_like(a.r)
    return {key: float(np.sum(np.abs(a.g.get(key, zero) - b.g.get(key, zero)) * widths))
            for key in dict.fromkeys([*a.g, *b.g])}
