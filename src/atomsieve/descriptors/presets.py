"""Named symmetry-function sets, with every parameter written out.

=================== ================================================================================
``li_single_element`` Li et al. (2024) modified forms, per neighbour element: 24 radial
                    ``exp(−η(R−R_s)²/R_c²) f_c`` with R_s evenly spaced from 0.5 Å to R_c − 0.5 Å and
                    η = ½ (R_c/ΔR_s)² (Gaussian width = spacing); per neighbour-element pair: 16
                    angular with θ_s = (k + ½)π/8, k = 0..7, ζ = 16, λ = +1, η ∈ {0.5, 2}.
                    Single element: 40 features (the size the paper used for Ge). R_c = 6 Å.
``li_two_element``  The same forms with 18 radial per neighbour element (R_s from 0.5 Å to R_c − 0.5 Å,
                    η = ½ (R_c/ΔR_s)²) and 4 angular per element pair (θ_s = (k + ½)π/4, k = 0..3,
                    ζ = 4, λ = +1, η = 1). Two elements: 36 radial + 12 angular = 48 features per atom
                    (the paper's Pd–H size). R_c = 6 Å.
``acsf_standard``   Behler G1/G2/G4 in DScribe's ACSF parameterisation (comparable number for number with
                    ``dscribe.descriptors.ACSF``): G1; G2 with R_s = 0 and η ∈ {0.01, 0.03, 0.06, 0.1,
                    0.2, 0.4, 0.7, 1.2} Å⁻²; G4 with η ∈ {0.005, 0.02, 0.05, 0.1} Å⁻², ζ ∈ {1, 2, 4, 16},
                    λ = ±1. Single element: 41 features. R_c = 6 Å.
``gaussian_g2g4``   A candidate set of Behler Gaussian functions to choose ~20 from (nearsighted force
                    training, Zeng, Chen & Peterson 2022, SI: a Gaussian G2/G4 candidate set cut down by
                    feature selection): 16 G2 with R_s = 0 and η log-spaced from 0.01 to 4 Å⁻²; 40 G4
                    with η ∈ {0.005, 0.015, 0.04, 0.1} Å⁻², ζ ∈ {1, 2, 4, 8, 16}, λ = ±1. Single element:
                    56 features. R_c = 6.5 Å (the paper's chunk radius).
=================== ================================================================================

The cut-offs are our choice (the Li et al. paper used the same forms with R_c around 6 Å; its exact
η, R_s, θ_s values are not reproduced here). Every preset accepts any element list: radial blocks
per neighbour element, angular blocks per unordered neighbour-element pair.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.symmetry import DEFAULT_CUTOFF, SymmetryFunctions, check_cutoff
from atomsieve.errors import ParameterError


def li_single_element(species=("Ge",), r_cut: float | None = None) -> SymmetryFunctions:
    """24 radial + 16 angular Li et al. functions per block (40 for one element).

    >>> li_single_element(["Ge"]).n_features
    40
    """
    return SymmetryFunctions.li_single_element(species, r_cut)


def li_two_element(species=("Pd", "H"), r_cut: float | None = None) -> SymmetryFunctions:
    """18 radial per neighbour element + 4 angular per element pair (48 for two elements).

    >>> li_two_element(["Pd", "H"]).n_features
    48
    """
    return SymmetryFunctions.li_two_element(species, r_cut)


ACSF_STANDARD_G2 = [[eta, 0.0] for eta in (0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.7, 1.2)]
ACSF_STANDARD_G4 = [[eta, zeta, lam] for eta in (0.005, 0.02, 0.05, 0.1) for zeta in (1.0, 2.0, 4.0, 16.0)
                    for lam in (1.0, -1.0)]


def acsf_standard(species, r_cut: float | None = None) -> SymmetryFunctions:
    """G1 + 8 G2 + 32 G4 in DScribe's parameterisation (41 features for one element).

    >>> acsf_standard(["Cu"]).n_features
    41
    """
    rc = DEFAULT_CUTOFF if r_cut is None else float(r_cut)
    check_cutoff(rc)
    sf = SymmetryFunctions.like_dscribe_acsf(species, rc, g2_params=ACSF_STANDARD_G2,
                                             g4_params=ACSF_STANDARD_G4)
    sf.preset = "acsf_standard"
    return sf


GAUSSIAN_G2_ETAS = [round(float(e), 6) for e in np.geomspace(0.01, 4.0, 16)]
GAUSSIAN_G4 = [(eta, zeta, lam) for eta in (0.005, 0.015, 0.04, 0.1) for zeta in (1.0, 2.0, 4.0, 8.0, 16.0)
               for lam in (1.0, -1.0)]
GAUSSIAN_CUTOFF = 6.5


def gaussian_g2g4(species, r_cut: float | None = None) -> SymmetryFunctions:
    """16 G2 + 40 G4 Gaussian candidates per block (56 for one element), for feature selection.

    >>> gaussian_g2g4(["Pt"]).n_features, gaussian_g2g4(["Pt"]).r_cut
    (56, 6.5)
    """
    rc = GAUSSIAN_CUTOFF if r_cut is None else float(r_cut)
    check_cutoff(rc)
    radial = [{"form": "g2", "eta": eta, "r_s": 0.0} for eta in GAUSSIAN_G2_ETAS]
    angular = [{"form": "g4", "eta": e, "zeta": z, "lambda": lam} for e, z, lam in GAUSSIAN_G4]
    return SymmetryFunctions(species, rc, radial, angular, preset="gaussian_g2g4")


def keep_functions(sf: SymmetryFunctions, columns) -> SymmetryFunctions:
    """``sf`` with only the functions behind feature ``columns`` (e.g. a feature selector's
    ``selected_``), for fitting potentials on a selected descriptor.

    Columns are laid out as ``sf.feature_names``: per element every radial function, then per element
    pair every angular one. A function is kept with all its element blocks, so with one element the
    new descriptor's features are exactly ``columns`` (in ascending order).

    >>> sf = gaussian_g2g4(["Pt"])
    >>> small = keep_functions(sf, [30, 2, 17])
    >>> small.n_features, small.feature_names == [sf.feature_names[j] for j in (2, 17, 30)]
    (3, True)
    """
    cols = np.unique(np.asarray(columns, dtype=np.int64))
    if cols.size == 0 or cols[0] < 0 or cols[-1] >= sf.n_features:
        raise ParameterError(f"columns must be feature indices in [0, {sf.n_features}); got {list(columns)}")
    n_radial = sf.n_species * len(sf.radial)
    radial = sorted({int(j) % len(sf.radial) for j in cols if j < n_radial})
    angular = sorted({int(j - n_radial) % len(sf.angular) for j in cols if j >= n_radial})
    return SymmetryFunctions(sf.species, sf.r_cut, [dict(sf.radial[k]) for k in radial],
                             [dict(sf.angular[k]) for k in angular],
                             preset=f"{sf.preset} (selected)" if sf.preset else None)


#: Preset name -> constructor ``(species, r_cut=None) -> SymmetryFunctions``.
PRESETS: dict[str, Callable[..., SymmetryFunctions]] = {
    "li_single_element": li_single_element,
    "li_two_element": li_two_element,
    "acsf_standard": acsf_standard,
    "gaussian_g2g4": gaussian_g2g4,
}


def default_preset_name(species) -> str:
    """``li_single_element`` for one element, ``li_two_element`` for more."""
    return "li_single_element" if len(set(species)) == 1 else "li_two_element"


def default_descriptor(species, r_cut: float | None = None, name: str | None = None) -> SymmetryFunctions:
    """The descriptor used wherever none is given: :func:`preset` ``name`` for ``species``.

    ``species`` is a list of element symbols or anything with ``.elements`` (a Dataset). ``name``
    None takes :func:`default_preset_name`; ``"li_single_element"`` asked for several elements
    becomes the two-element preset. ``r_cut`` None: :data:`DEFAULT_CUTOFF`.

    >>> default_descriptor(["Pt"]).preset, default_descriptor(["Pd", "H"], 5.0, "li_single_element").preset
    ('li_single_element', 'li_two_element')
    """
    species = list(getattr(species, "elements", species))
    if name is None or (name == "li_single_element" and len(set(species)) > 1):
        name = default_preset_name(species)
    return preset(name, species, r_cut)


def preset(name: str | None, species, r_cut: float | None = None) -> SymmetryFunctions:
    """The preset ``name`` (None: :func:`default_preset_name`) for ``species``.

    >>> preset("li_single_element", ["Ge"], r_cut=5.0).r_cut
    5.0
    """
    species = list(species)
    name = default_preset_name(species) if name is None else name
    if name not in PRESETS:
        raise ParameterError(f"unknown descriptor preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name](species, r_cut)
