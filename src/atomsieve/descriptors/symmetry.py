"""Behler–Parrinello atom-centred symmetry functions as a torch module.

Feature order of one atom (whatever its own element):

1. radial blocks, one per neighbour element in ``species`` order (sorted by atomic number),
   each holding the radial functions in ``radial`` order;
2. angular blocks, one per unordered neighbour-element pair in DScribe's order
   (0,0), (1,0), (1,1), (2,0), (2,1), (2,2), ... (indices into ``species``), each holding the
   angular functions in ``angular`` order.

So ``n_features = n_species · n_radial + n_species (n_species + 1) / 2 · n_angular``, which is
DScribe's ACSF layout (with G1 as the first radial function of each block).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from ase.data import atomic_numbers as _Z
from ase.data import chemical_symbols

from atomsieve.descriptors.angular import angular_dense
from atomsieve.descriptors.neighbors import NeighborList
from atomsieve.descriptors.terms import (
    AngularPlan,
    angular_record,
    effective_angular,
    effective_radial,
    radial_record,
    radial_terms,
)
from atomsieve.errors import ParameterError

PARAMS_VERSION = 1

#: Cut-off (Å) of the named sets when none is given.
DEFAULT_CUTOFF = 6.0


def _li_radial(n: int, r_cut: float) -> list[dict]:
    r_s = np.linspace(0.5, r_cut - 0.5, n)
    spacing = r_s[1] - r_s[0]
    eta = round(0.5 * (r_cut / spacing) ** 2, 6)
    return [{"form": "li", "eta": eta, "r_s": round(float(r), 6)} for r in r_s]


def _li_angular(n_theta: int, zeta: float, etas) -> list[dict]:
    out = []
    for eta in etas:
        for k in range(n_theta):
            theta = round((k + 0.5) * math.pi / n_theta, 9)
            out.append({"form": "li", "eta": eta, "zeta": zeta, "lambda": 1.0, "theta_s": theta})
    return out


def check_cutoff(rc: float) -> None:
    """Refuse a cut-off that is not a finite number of Å above 1."""
    if not (math.isfinite(rc) and rc > 1.0):
        raise ParameterError(f"cutoff must be a number of Å greater than 1; got {rc}")


def _species_numbers(species) -> list[int]:
    out = []
    for s in species:
        if isinstance(s, (int, np.integer)):
            if not 0 < int(s) < len(chemical_symbols):
                raise ParameterError(f"species: {s} is not an atomic number")
            out.append(int(s))
        elif isinstance(s, str) and s in _Z:
            out.append(_Z[s])
        else:
            raise ParameterError(f"species: unknown chemical symbol {s!r}; use symbols like 'Ge' or numbers")
    if not out:
        raise ParameterError("species must name at least one element")
    return sorted(set(out))


class SymmetryFunctions(torch.nn.Module):
    """Atom-centred symmetry functions (radial and angular) for the listed elements.

    Parameters
    ----------
    species : list of str or int
        Elements that may occur (as neighbours or centres); stored sorted by atomic number.
    r_cut : float
        Cutoff radius in Å (cosine cutoff function).
    radial : list of dict
        Radial function records: ``{"form": "g1"}``, ``{"form": "g2", "eta": η/Å⁻², "r_s": Å}``
        or ``{"form": "li", "eta": η, "r_s": Å}``; see :mod:`atomsieve.descriptors.terms`.
    angular : list of dict
        Angular records: ``{"form": "g4"|"g5", "eta", "zeta", "lambda"}`` or
        ``{"form": "li", "eta", "zeta", "lambda", "theta_s"}``.
    preset : str, optional
        Name of the preset that made these parameters (informative, part of ``params``).

    Notes
    -----
    Named constructors: :meth:`li_single_element`, :meth:`li_two_element`,
    :meth:`like_dscribe_acsf`; :func:`atomsieve.descriptors.preset` by name.
    Inputs of :meth:`forward` are padded batches (species index −1 for padding).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomsieve import Dataset
    >>> sf = SymmetryFunctions.like_dscribe_acsf(["Si"], 4.0, g2_params=[[1.0, 0.0]], g4_params=[[0.1, 1, 1]])
    >>> feats = sf.compute(Dataset([bulk("Si")]), scaler="none")
    >>> feats.values.shape, sf.feature_names[:2]
    ((2, 3), ['g1[Si]', 'g2[Si](eta=1,r_s=0)'])
    """

    def __init__(self, species, r_cut: float, radial: list[dict], angular: list[dict],
                 preset: str | None = None):
        super().__init__()
        if not (isinstance(r_cut, (int, float)) and math.isfinite(r_cut) and r_cut > 0):
            raise ParameterError(f"r_cut must be a positive number of Å; got {r_cut!r}")
        self.species_numbers = _species_numbers(species)
        self.species = [chemical_symbols[z] for z in self.species_numbers]
        self.r_cut = float(r_cut)
        self.radial = [radial_record(**_record_args(r)) for r in radial]
        self.angular = [angular_record(**_record_args(a)) for a in angular]
        if not self.radial and not self.angular:
            raise ParameterError("a descriptor needs at least one radial or angular function")
        self.preset = preset
        self._feature_names = self._names()  # every compute() attaches them
        self.neighbor_list = NeighborList(self.r_cut)
        eta, rs = effective_radial(self.radial, self.r_cut)
        self.register_buffer("radial_eta", torch.tensor(eta, dtype=torch.float64))
        self.register_buffer("radial_rs", torch.tensor(rs, dtype=torch.float64))
        cols = effective_angular(self.angular, self.r_cut)
        self.angular_plan = AngularPlan(cols)
        self.register_buffer(
            "angular_params", torch.tensor([cols[k] for k in cols], dtype=torch.float64).reshape(6, -1).T
        )
        table = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
        table[torch.tensor(self.species_numbers)] = torch.arange(len(self.species_numbers))
        self.register_buffer("species_index_of_z", table)

    # ------------------------------------------------------------------ description
    @property
    def n_species(self) -> int:
        return len(self.species_numbers)

    @property
    def n_element_pairs(self) -> int:
        return self.n_species * (self.n_species + 1) // 2

    @property
    def n_features(self) -> int:
        return self.n_species * len(self.radial) + self.n_element_pairs * len(self.angular)

    def element_pairs(self) -> list[tuple[str, str]]:
        """Neighbour-element pairs of the angular blocks, in feature order."""
        return [(self.species[a], self.species[b]) for a in range(self.n_species) for b in range(a + 1)]

    @property
    def feature_names(self) -> list[str]:
        """One label per feature, e.g. ``g2[H](eta=0.5,r_s=0)`` or ``li[H-O](eta=1,zeta=16,...)``."""
        return list(self._feature_names)

    def _names(self) -> list[str]:
        def args(rec):
            return ",".join(f"{k}={v:g}" for k, v in rec.items() if k != "form")

        names = []
        for el in self.species:
            for rec in self.radial:
                a = args(rec)
                names.append(f"{rec['form']}[{el}]" + (f"({a})" if a else ""))
        for a, b in self.element_pairs():
            for rec in self.angular:
                names.append(f"{rec['form']}[{a}-{b}]({args(rec)})")
        return names

    @property
    def params(self) -> dict[str, Any]:
        """JSON-serialisable parameters that fully identify the descriptor."""
        return {
            "descriptor": "symmetry_functions",
            "version": PARAMS_VERSION,
            "preset": self.preset,
            "species": list(self.species),
            "r_cut": self.r_cut,
            "radial": [dict(r) for r in self.radial],
            "angular": [dict(a) for a in self.angular],
        }

    @classmethod
    def from_params(cls, params: dict) -> SymmetryFunctions:
        """Rebuild from :attr:`params`.

        >>> sf = SymmetryFunctions.li_single_element(["Ge"])
        >>> SymmetryFunctions.from_params(sf.params).params == sf.params
        True
        """
        if not isinstance(params, dict) or params.get("descriptor") != "symmetry_functions":
            raise ParameterError("params must be a dict made by SymmetryFunctions.params")
        if params.get("version") != PARAMS_VERSION:
            raise ParameterError(f"params version {params.get('version')} is not {PARAMS_VERSION}")
        return cls(params["species"], params["r_cut"], params["radial"], params["angular"],
                   params.get("preset"))

    def extra_repr(self) -> str:
        return (f"species={self.species}, r_cut={self.r_cut}, n_radial={len(self.radial)}, "
                f"n_angular={len(self.angular)}, n_features={self.n_features}, preset={self.preset!r}")

    # ------------------------------------------------------------------ named constructors
    @classmethod
    def li_single_element(cls, species=("Ge",), r_cut: float | None = None) -> SymmetryFunctions:
        """24 radial + 16 angular modified functions per block (Li et al. 2024 form); see presets.

        R_s evenly spaced from 0.5 Å to R_c − 0.5 Å, η = ½ (R_c/ΔR_s)²; θ_s = (k + ½)π/8, ζ = 16,
        η ∈ {0.5, 2}. R_c: :data:`DEFAULT_CUTOFF` unless given.
        """
        rc = DEFAULT_CUTOFF if r_cut is None else float(r_cut)
        check_cutoff(rc)
        return cls(species, rc, _li_radial(24, rc), _li_angular(8, 16.0, (0.5, 2.0)),
                   preset="li_single_element")

    @classmethod
    def li_two_element(cls, species=("Pd", "H"), r_cut: float | None = None) -> SymmetryFunctions:
        """18 radial per neighbour element + 4 angular per element pair (36 + 12 for two elements).

        The :meth:`li_single_element` forms with 18 radial shells and θ_s = (k + ½)π/4, ζ = 4, η = 1.
        """
        rc = DEFAULT_CUTOFF if r_cut is None else float(r_cut)
        check_cutoff(rc)
        return cls(species, rc, _li_radial(18, rc), _li_angular(4, 4.0, (1.0,)), preset="li_two_element")

    @classmethod
    def like_dscribe_acsf(cls, species, r_cut: float, g2_params=None, g4_params=None,
                          g5_params=None) -> SymmetryFunctions:
        """DScribe's ACSF, number for number: G1, then G2 per ``[η, R_s]``; G4 per ``[η, ζ, λ]``
        then G5 per ``[η, ζ, λ]`` (DScribe's ``g3_params`` are not supported)."""
        radial = [{"form": "g1"}] + [{"form": "g2", "eta": e, "r_s": r} for e, r in (g2_params or [])]
        angular = [{"form": "g4", "eta": e, "zeta": z, "lambda": l} for e, z, l in (g4_params or [])]
        angular += [{"form": "g5", "eta": e, "zeta": z, "lambda": l} for e, z, l in (g5_params or [])]
        return cls(species, r_cut, radial, angular, preset="dscribe_acsf")

    # ------------------------------------------------------------------ computation
    def species_index(self, numbers: torch.Tensor) -> torch.Tensor:
        """Index into ``species`` of atomic numbers (−1 stays −1); unknown elements raise."""
        numbers = torch.as_tensor(numbers, device=self.species_index_of_z.device)
        table = self.species_index_of_z
        idx = torch.where(numbers > 0, table[numbers.clamp(0, len(chemical_symbols) - 1)], -1)
        bad = (numbers > 0) & (idx < 0)
        if bool(bad.any()):
            z = int(numbers[bad][0])
            raise ParameterError(
                f"element {chemical_symbols[z]} is not among this descriptor's species {self.species}"
            )
        return idx

    def forward(self, species: torch.Tensor, positions: torch.Tensor, cells: torch.Tensor | None = None,
                pbc: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetry functions of a padded batch; differentiable in ``positions`` (and ``cells``).

        Parameters
        ----------
        species : LongTensor (B, A)
            Index into :attr:`species` of every atom, −1 for padding.
        positions : Tensor (B, A, 3)
            Cartesian positions in Å; may require grad (forces by autograd).
        cells : Tensor (B, 3, 3), optional
            Lattice vectors as rows (Å); ignored along non-periodic directions.
        pbc : BoolTensor (B, 3), optional
            Periodicity; default none.

        Returns
        -------
        Tensor (B, A, n_features)
            Unscaled features; rows of padding atoms are zero.
        """
        B, A = species.shape
        if cells is None:
            cells = torch.zeros(B, 3, 3, dtype=positions.dtype, device=positions.device)
        if pbc is None:
            pbc = torch.zeros(B, 3, dtype=torch.bool, device=positions.device)
        nb = self.neighbor_list(species, positions.detach(), cells.detach(), pbc)
        flat_pos = positions.reshape(B * A, 3)
        cell_of_pair = cells.to(positions.dtype)[nb.center // A]
        d = flat_pos[nb.neighbor] - flat_pos[nb.center] + torch.einsum("pk,pkj->pj", nb.shift, cell_of_pair)
        out = self.features_from_pairs(species.reshape(-1), d, nb.center, nb.neighbor)
        return out.reshape(B, A, -1)

    def features_from_pairs(self, species: torch.Tensor, d: torch.Tensor, center: torch.Tensor,
                            neighbor: torch.Tensor) -> torch.Tensor:
        """The flat core: features (N, F) of N atoms from their neighbour pairs.

        ``d`` (P, 3) holds the displacement vectors r_neighbor − r_center (with image shifts),
        ``center`` is sorted; ``species`` (N,) holds species indices (−1 = padding).
        """
        N = len(species)
        dtype, device = d.dtype, d.device
        n_s, n_r, n_a = self.n_species, len(self.radial), len(self.angular)
        r = torch.sqrt(torch.clamp((d * d).sum(-1), min=1e-20))
        sp_n = species[neighbor]
        parts = []
        if n_r:
            values = radial_terms(r, self.radial_eta.to(dtype), self.radial_rs.to(dtype), self.r_cut)
            rad = torch.zeros(N * n_s, n_r, dtype=dtype, device=device)
            rad.index_add_(0, center * n_s + sp_n, values)
            parts.append(rad.reshape(N, n_s * n_r))
        if n_a:
            parts.append(angular_dense(self, sp_n, d, r, center, N))
        return torch.cat(parts, dim=1)

    @staticmethod
    def _pair_block(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        hi, lo = torch.maximum(a, b), torch.minimum(a, b)
        return hi * (hi + 1) // 2 + lo

    def compute(self, dataset, *, scaler="minmax", batch_size: int = 4096, device: str = "auto",
                dtype=torch.float64, progress=None, cache=None, num_threads: int | None = None,
                engine: str = "auto", should_stop=None):
        """Features of every atom of ``dataset`` as :class:`AtomicFeatures`.

        See :func:`atomsieve.descriptors.compute.compute_features` for the arguments."""
        from atomsieve.descriptors.compute import compute_features

        return compute_features(self, dataset, scaler=scaler, batch_size=batch_size, device=device,
                                dtype=dtype, progress=progress, cache=cache, num_threads=num_threads,
                                engine=engine, should_stop=should_stop)

    def jacobian(self, data, *, batch_size: int = 1024, device: str = "auto", dtype=torch.float64,
                 progress=None, engine: str = "auto", num_threads: int | None = None, should_stop=None):
        """Features and their sparse position derivatives.

        See :func:`atomsieve.descriptors.jacobian.jacobian` for the arguments and the layout."""
        from atomsieve.descriptors.jacobian import jacobian

        return jacobian(self, data, batch_size=batch_size, device=device, dtype=dtype, progress=progress,
                        engine=engine, num_threads=num_threads, should_stop=should_stop)


def _record_args(rec: dict) -> dict:
    if not isinstance(rec, dict) or "form" not in rec:
        raise ParameterError(f"each function must be a dict with a 'form' key; got {rec!r}")
    out = dict(rec)
    if "lambda" in out:
        out["lam"] = out.pop("lambda")
    return out
