"""The symmetry-function forms, as parameter records and as elementwise torch functions.

Every function is reduced to one of two internal forms with *effective* parameters:

- radial, per pair (i, j):  ``exp(−η_eff (R_ij − R_s)²) · f_c(R_ij)``
- angular, per unordered neighbour pair {j, k} of i:
  ``c · (1 + λ cos(θ_ijk − θ_s))^ζ · exp(−η_eff (R_ij² + R_ik² + w R_jk²)) · f_c(R_ij) f_c(R_ik) f_c(R_jk)^w``

with ``w`` = 1 (the R_jk term and its cutoff, G4-like) or 0 (G5-like) and a prefactor ``c``.

The user-facing forms (``form`` in the parameter records):

======== =============================================================================================
g1       Σ_j f_c(R_ij)                                                         (Behler 2011, eq. 5)
g2       Σ_j exp(−η (R_ij − R_s)²) f_c(R_ij)                                   (Behler 2011, eq. 6)
g4       2^(1−ζ) Σ_{j<k} (1 + λ cos θ_ijk)^ζ e^(−η(R_ij²+R_ik²+R_jk²)) f_c f_c f_c  (Behler 2011, eq. 8)
g5       2^(1−ζ) Σ_{j<k} (1 + λ cos θ_ijk)^ζ e^(−η(R_ij²+R_ik²)) f_c(R_ij) f_c(R_ik)  (Behler 2011, eq. 9)
li       radial: Σ_j exp(−η (R_ij − R_s)² / R_c²) f_c(R_ij)                     (Li et al. 2024, eq. 4)
li       angular: 2^(1−ζ) Σ_{j≠k} (1 + λ cos(θ_ijk − θ_s))^ζ
         · exp(−η (R_ij² + R_jk² + R_ik²) / R_c²) f_c f_c f_c                   (Li et al. 2024, eqs. 5–6)
======== =============================================================================================

G4/G5 sum over unordered pairs (j < k) as DScribe and n2p2 do; the Li angular sum runs over
ordered pairs (j ≠ k), i.e. twice the unordered sum. ``f_c(R) = ½(cos(πR/R_c) + 1)`` for R ≤ R_c,
else 0. Distances in Å, η in Å⁻² (dimensionless for ``li``), θ_s in radians.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from atomsieve.errors import ParameterError

RADIAL_FORMS = ("g1", "g2", "li")
ANGULAR_FORMS = ("g4", "g5", "li")


def radial_record(form: str, eta: float = 0.0, r_s: float = 0.0) -> dict:
    """A JSON-able record of one radial function."""
    if form not in RADIAL_FORMS:
        raise ParameterError(f"radial form must be one of {RADIAL_FORMS}; got {form!r}")
    if form == "g1":
        return {"form": "g1"}
    if not eta >= 0:
        raise ParameterError(f"radial eta must be >= 0; got {eta}")
    return {"form": form, "eta": float(eta), "r_s": float(r_s)}


def angular_record(form: str, eta: float, zeta: float, lam: float, theta_s: float = 0.0) -> dict:
    """A JSON-able record of one angular function (``lam`` is λ = ±1)."""
    if form not in ANGULAR_FORMS:
        raise ParameterError(f"angular form must be one of {ANGULAR_FORMS}; got {form!r}")
    if not eta >= 0 or not zeta >= 1:
        raise ParameterError(f"angular functions need eta >= 0 and zeta >= 1; got eta={eta}, zeta={zeta}")
    if lam not in (1, -1, 1.0, -1.0):
        raise ParameterError(f"angular lambda must be +1 or -1; got {lam}")
    rec = {"form": form, "eta": float(eta), "zeta": float(zeta), "lambda": float(lam)}
    if form == "li":
        rec["theta_s"] = float(theta_s)
    elif theta_s:
        raise ParameterError(f"theta_s is only used by the 'li' angular form; got form {form!r}")
    return rec


def effective_radial(records: list[dict], r_cut: float) -> tuple[list[float], list[float]]:
    """(η_eff, R_s) lists of the internal radial form."""
    eta, rs = [], []
    for rec in records:
        if rec["form"] == "g1":
            eta.append(0.0)
            rs.append(0.0)
        else:
            eta.append(rec["eta"] / (r_cut**2 if rec["form"] == "li" else 1.0))
            rs.append(rec["r_s"])
    return eta, rs


def effective_angular(records: list[dict], r_cut: float) -> dict[str, list[float]]:
    """Columns (eta, zeta, lambda, theta_s, use_jk, prefactor) of the internal angular form."""
    keys = ("eta", "zeta", "lambda", "theta_s", "use_jk", "prefactor")
    cols: dict[str, list[float]] = {k: [] for k in keys}
    for rec in records:
        li = rec["form"] == "li"
        cols["eta"].append(rec["eta"] / (r_cut**2 if li else 1.0))
        cols["zeta"].append(rec["zeta"])
        cols["lambda"].append(rec["lambda"])
        cols["theta_s"].append(rec.get("theta_s", 0.0))
        cols["use_jk"].append(0.0 if rec["form"] == "g5" else 1.0)
        # Ordered-pair sum for li = twice the unordered sum we evaluate.
        cols["prefactor"].append(2.0 ** (1.0 - rec["zeta"]) * (2.0 if li else 1.0))
    return cols


def cutoff_function(r: torch.Tensor, r_cut: float) -> torch.Tensor:
    """½(cos(πR/R_c) + 1) for R ≤ R_c, else 0."""
    inside = r <= r_cut
    return torch.where(inside, 0.5 * (torch.cos(r * (math.pi / r_cut)) + 1.0), torch.zeros_like(r))


def radial_terms(r: torch.Tensor, eta: torch.Tensor, r_s: torch.Tensor, r_cut: float) -> torch.Tensor:
    """Per-pair radial values, shape (P, n_radial)."""
    fc = cutoff_function(r, r_cut)
    x = r[:, None] - r_s
    return torch.exp(-eta * x * x) * fc[:, None]


class AngularPlan:
    """Unique (η, w) and (ζ, λ, θ_s) combinations of an angular set, so each exponential and
    power is evaluated once per triple and the functions are products of two columns."""

    def __init__(self, cols: dict[str, list[float]]):
        rad_keys = list(zip(cols["eta"], cols["use_jk"]))
        ang_keys = list(zip(cols["zeta"], cols["lambda"], cols["theta_s"]))
        self.rad_unique = sorted(set(rad_keys))
        self.ang_unique = sorted(set(ang_keys))
        self.rad_index = [self.rad_unique.index(k) for k in rad_keys]
        self.ang_index = [self.ang_unique.index(k) for k in ang_keys]
        self.prefactor = cols["prefactor"]
        self.needs_sin = any(abs(math.sin(t)) > 0 for _, _, t in self.ang_unique)

    def __len__(self) -> int:
        return len(self.prefactor)


def angular_factors(
    r_ij: torch.Tensor,
    r_ik: torch.Tensor,
    r_jk: torch.Tensor,
    cos: torch.Tensor,
    plan: AngularPlan,
    r_cut: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-triple radial factors (T, n_unique_radial) (with the cutoff functions) and angular
    factors (T, n_unique_angular); function f is
    ``R[:, rad_index[f]] * A[:, ang_index[f]] * prefactor[f]``."""
    return triple_radial_factors(r_ij, r_ik, r_jk, plan, r_cut), triple_angle_factors(cos, plan)


def triple_radial_factors(r_ij, r_ik, r_jk, plan: AngularPlan, r_cut: float) -> torch.Tensor:
    """The distance-dependent factors (T, n_unique_radial), cutoff functions included."""
    fc_ij_ik = cutoff_function(r_ij, r_cut) * cutoff_function(r_ik, r_cut)
    fc_jk = cutoff_function(r_jk, r_cut)
    s_two = r_ij * r_ij + r_ik * r_ik
    rjk2 = r_jk * r_jk
    rad_cols = []
    for eta, use_jk in plan.rad_unique:
        if use_jk:
            rad_cols.append(torch.exp(-eta * (s_two + rjk2)) * fc_ij_ik * fc_jk)
        else:
            rad_cols.append(torch.exp(-eta * s_two) * fc_ij_ik)
    return torch.stack(rad_cols, dim=1)


def triple_angle_factors(cos: torch.Tensor, plan: AngularPlan) -> torch.Tensor:
    """The angle-dependent factors (1 + λ cos(θ − θ_s))^ζ, shape (T, n_unique_angular)."""
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=1e-12)) if plan.needs_sin else None
    ang_cols = []
    for zeta, lam, theta_s in plan.ang_unique:
        cs, ss = math.cos(theta_s), math.sin(theta_s)
        c = cos if theta_s == 0.0 else cos * cs + sin * ss
        base = torch.clamp(1.0 + lam * c, min=0.0)
        ang_cols.append(_power(base, zeta))
    return torch.stack(ang_cols, dim=1)


def _power(base: torch.Tensor, zeta: float) -> torch.Tensor:
    """base**zeta, by repeated squaring for small integer ζ (faster and exact)."""
    if zeta == int(zeta) and 1 <= zeta <= 64:
        n = int(zeta)
        result, square = None, base
        while n:
            if n & 1:
                result = square if result is None else result * square
            n >>= 1
            if n:
                square = square * square
        return result
    return torch.pow(base, zeta)


def cutoff_and_slope(r: torch.Tensor, r_cut: float) -> tuple[torch.Tensor, torch.Tensor]:
    """f_c(R) and df_c/dR (zero beyond R_c)."""
    inside = r <= r_cut
    x = r * (math.pi / r_cut)
    zero = torch.zeros_like(r)
    return (torch.where(inside, 0.5 * (torch.cos(x) + 1.0), zero),
            torch.where(inside, (-0.5 * math.pi / r_cut) * torch.sin(x), zero))


def radial_slopes(r: torch.Tensor, eta: torch.Tensor, r_s: torch.Tensor, r_cut: float) -> torch.Tensor:
    """d/dR of :func:`radial_terms`, shape (P, n_radial)."""
    fc, dfc = cutoff_and_slope(r, r_cut)
    x = r[:, None] - r_s
    g = torch.exp(-eta * x * x)
    return g * (dfc[:, None] - 2.0 * eta * x * fc[:, None])


def triple_radial_slopes(r_ij, r_ik, r_jk, plan: AngularPlan, r_cut: float):
    """Partial derivatives of :func:`triple_radial_factors` by R_ij, R_ik and R_jk, each (T, n_unique)."""
    f_j, df_j = cutoff_and_slope(r_ij, r_cut)
    f_k, df_k = cutoff_and_slope(r_ik, r_cut)
    f_jk, df_jk = cutoff_and_slope(r_jk, r_cut)
    s_two = r_ij * r_ij + r_ik * r_ik
    out_j, out_k, out_jk = [], [], []
    for eta, use_jk in plan.rad_unique:
        if use_jk:
            e = torch.exp(-eta * (s_two + r_jk * r_jk))
            out_jk.append(e * f_j * f_k * (df_jk - 2.0 * eta * r_jk * f_jk))
        else:
            e = torch.exp(-eta * s_two)
            f_jk_use = torch.ones_like(f_jk)
            out_jk.append(torch.zeros_like(e))
        w = f_jk if use_jk else f_jk_use
        out_j.append(e * w * f_k * (df_j - 2.0 * eta * r_ij * f_j))
        out_k.append(e * w * f_j * (df_k - 2.0 * eta * r_ik * f_k))
    return torch.stack(out_j, 1), torch.stack(out_k, 1), torch.stack(out_jk, 1)


def triple_angle_slopes(cos: torch.Tensor, plan: AngularPlan) -> torch.Tensor:
    """d/d(cos θ) of :func:`triple_angle_factors`, shape (T, n_unique_angular)."""
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=1e-12)) if plan.needs_sin else None
    cols = []
    for zeta, lam, theta_s in plan.ang_unique:
        cs, ss = math.cos(theta_s), math.sin(theta_s)
        if theta_s == 0.0:
            c, dc = cos, torch.ones_like(cos)
        else:
            c, dc = cos * cs + sin * ss, cs - ss * cos / sin
        base = torch.clamp(1.0 + lam * c, min=0.0)
        cols.append(zeta * lam * dc * (_power(base, zeta - 1) if zeta > 1 else torch.ones_like(base)))
    return torch.stack(cols, dim=1)


# ---------------------------------------------------------------------------------------------------
# Flat parameters of the compiled CPU kernels (atomsieve.descriptors.kernels).

#: Largest integer multiple n of a base η for which exp(−n η₀ x) is taken as exp(−η₀ x)^n
#: (relative error ≤ ~n ulp, so ≤ 3e-14).
MAX_POWER = 128


def power_bits(n: int) -> list[int]:
    """Exponents t of the powers 2^t that multiply to ``n`` (``[-2]`` for n = 0: the value 1).

    >>> power_bits(20), power_bits(0)
    ([2, 4], [-2])
    """
    return [t for t in range(8) if n >> t & 1] or [-2]


def power_family(etas: list[float]) -> tuple[float, np.ndarray, int]:
    """Write every η as an integer multiple n ≤ :data:`MAX_POWER` of the smallest positive one
    (to within an ulp of η), so exp(−η x) = exp(−η₀ x)^n costs one exponential and a few products.

    Returns ``(η₀, bits, n_bits)``: ``bits`` (len(etas), 8) lists the powers of two of each n
    (−1 ends a row, −2 means n = 0); η₀ = −1 when the etas are not such a family.

    >>> eta0, bits, n_bits = power_family([0.005, 0.02, 0.05, 0.1])
    >>> eta0, bits[:, :2].tolist(), n_bits
    (0.005, [[0, -1], [2, -1], [1, 3], [2, 4]], 5)
    """
    bits = np.full((len(etas), 8), -1, dtype=np.int64)
    positive = [e for e in etas if e > 0]
    if not positive:
        bits[:, 0] = -2
        return 0.0, bits, 1
    eta0 = min(positive)
    n_bits = 1
    for row, eta in enumerate(etas):
        n = round(eta / eta0)
        if n > MAX_POWER or abs(eta - n * eta0) > 2.5e-16 * eta:
            return -1.0, bits, 1
        b = power_bits(n)
        bits[row, : len(b)] = b
        n_bits = max(n_bits, b[-1] + 1)
    return eta0, bits, n_bits


class KernelPlan:
    """The descriptor's parameters as flat arrays for the compiled kernel
    (:func:`atomsieve.descriptors.kernels.pair_features`).

    Examples
    --------
    >>> from atomsieve.descriptors import preset
    >>> plan = KernelPlan(preset("acsf_standard", ["Ge"]))
    >>> len(plan.rad_eta), len(plan.ang_rad), plan.jk_eta.tolist(), plan.rad_eta0
    (9, 32, [0.005, 0.02, 0.05, 0.1], 0.01)
    """

    def __init__(self, sf):
        plan = sf.angular_plan
        self.n_species = sf.n_species
        self.r_cut = float(sf.r_cut)
        self.rad_eta = sf.radial_eta.detach().cpu().numpy().astype(np.float64)
        self.rad_rs = sf.radial_rs.detach().cpu().numpy().astype(np.float64)
        self.rad_eta0, self.rad_bits, self.rad_nb = -1.0, np.full((len(self.rad_eta), 8), -1), 1
        if np.all(self.rad_rs == 0.0):
            self.rad_eta0, self.rad_bits, self.rad_nb = power_family(self.rad_eta.tolist())
        # Distinct η of the per-neighbour factors u_a = exp(−η R²) f_c(R) of the angular functions.
        rad_unique = list(plan.rad_unique)  # (η, w) pairs
        etas = sorted({eta for eta, _ in rad_unique})
        self.u_eta = np.array(etas, dtype=np.float64)
        self.x_u = np.array([etas.index(eta) for eta, _ in rad_unique], dtype=np.int64)
        # Distinct η of exp(−η R_jk²), for the (η, w = 1) columns.
        jk = sorted({eta for eta, w in rad_unique if w})
        self.jk_eta = np.array(jk, dtype=np.float64)
        self.jk_eta0, self.jk_bits, self.jk_nb = power_family(jk)
        self.x_jk = np.array([jk.index(eta) if w else -1 for eta, w in rad_unique], dtype=np.int64)
        self.all_jk = bool(rad_unique) and all(w for _, w in rad_unique)
        # Angle bases 1 + λ cos(θ − θ_s) per distinct (λ, θ_s) and the powers-of-two table each needs.
        bases = sorted({(lam, theta_s) for _, lam, theta_s in plan.ang_unique})
        self.base_lam = np.array([b[0] for b in bases], dtype=np.float64)
        self.base_cos = np.array([math.cos(b[1]) for b in bases], dtype=np.float64)
        self.base_sin = np.array([math.sin(b[1]) for b in bases], dtype=np.float64)
        self.base_shifted = np.array([b[1] != 0.0 for b in bases], dtype=np.bool_)
        self.needs_sin = bool(plan.needs_sin)
        n_au = len(plan.ang_unique)
        self.a_base = np.zeros(n_au, dtype=np.int64)
        self.a_zeta = np.zeros(n_au, dtype=np.float64)
        self.a_bits = np.full((n_au, 8), -1, dtype=np.int64)  # −1 everywhere: non-integer ζ, use pow
        self.a_nb = 1
        for b, (zeta, lam, theta_s) in enumerate(plan.ang_unique):
            self.a_base[b] = bases.index((lam, theta_s))
            self.a_zeta[b] = zeta
            if zeta == int(zeta) and 1 <= zeta <= MAX_POWER:
                bits = power_bits(int(zeta))
                self.a_bits[b, : len(bits)] = bits
                self.a_nb = max(self.a_nb, bits[-1] + 1)
        # Functions: products of an (η, w) column and an angle column, in the descriptor's order.
        self.ang_rad = np.array(plan.rad_index, dtype=np.int64)
        self.ang_ang = np.array(plan.ang_index, dtype=np.int64)
        self.ang_pref = np.array(plan.prefactor, dtype=np.float64)

    def arrays(self) -> tuple:
        """Positional arguments of :func:`pair_features` after the neighbour list."""
        return (self.n_species, self.r_cut, self.rad_eta, self.rad_rs, self.rad_eta0, self.rad_bits,
                self.rad_nb, self.u_eta, self.x_u, self.jk_eta, self.jk_eta0, self.jk_bits, self.jk_nb,
                self.x_jk, self.all_jk, self.base_lam, self.base_cos, self.base_sin, self.base_shifted,
                self.needs_sin, self.a_base, self.a_zeta, self.a_bits, self.a_nb, self.ang_rad,
                self.ang_ang, self.ang_pref)
