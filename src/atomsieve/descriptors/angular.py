"""Fast angular sums: dense neighbour blocks per centre and one batched matrix product.

For centre i with padded neighbour displacements D (K × 3) every angular function is

    G = c · Σ_{j<k} u_a(j) u_a(k) E_a(j, k) · A_b(j, k)

with per-neighbour factors ``u_a = exp(−η_a R²) f_c(R)``, pair factors ``E_a = exp(−η_a R_jk²) f_c(R_jk)``
(or 1 for G5-like functions) and angle factors ``A_b = (1 + λ cos(θ − θ_s))^ζ``; ``a`` runs over the
distinct (η, w) and ``b`` over the distinct (ζ, λ, θ_s) of the set. Cos θ and R_jk come from the Gram
matrix D Dᵀ (kept for j < k only); the sum over pairs of ``X_a ⊙ A_b`` for all a, b is one
batched GEMM. Nothing of size
(triples × functions) is ever built, which is what makes this path fast; the plain triple loop in
:mod:`atomsieve.descriptors.jacobian` gives the same numbers (tested).
"""

from __future__ import annotations

import math

import torch

from atomsieve.descriptors.terms import cutoff_function

#: Centres per chunk are chosen so that one (centres × K(K−1)/2) tensor holds about this many numbers.
DENSE_BLOCK = 32_768


def padded_neighbors(center: torch.Tensor, n_centers: int):
    """Slot of each pair within its centre's row and the widest row (``center`` sorted)."""
    counts = torch.bincount(center, minlength=n_centers)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(center), device=center.device) - starts[center]
    return slot, int(counts.max()) if len(center) else 0


def angular_dense(sf, sp_n: torch.Tensor, d: torch.Tensor, r: torch.Tensor, center: torch.Tensor,
                  n_atoms: int) -> torch.Tensor:
    """Angular features (n_atoms, n_element_pairs · n_angular) from sorted neighbour pairs."""
    plan = sf.angular_plan
    dtype, device = d.dtype, d.device
    S, n_pb, n_a = sf.n_species, sf.n_element_pairs, len(sf.angular)
    out = torch.zeros(n_atoms, n_pb, n_a, dtype=dtype, device=device)
    slot, K = padded_neighbors(center, n_atoms)
    if K < 2:
        return out.reshape(n_atoms, -1)
    # Only centres with at least two neighbours contribute.
    busy = torch.unique_consecutive(center)
    row_of = torch.full((n_atoms,), -1, dtype=torch.long, device=device)
    row_of[busy] = torch.arange(len(busy), device=device)
    rows = row_of[center]
    n = len(busy)
    D = d.new_zeros(n, K, 3).index_put((rows, slot), d)
    R = r.new_zeros(n, K).index_put((rows, slot), r)
    spec = torch.full((n, K), -1, dtype=torch.long, device=device).index_put((rows, slot), sp_n)
    valid = spec >= 0
    pairs = [(a, b) for a in range(S) for b in range(a + 1)]
    s1 = torch.tensor([p[0] for p in pairs], device=device)
    s2 = torch.tensor([p[1] for p in pairs], device=device)
    ri = torch.tensor(plan.rad_index, device=device)
    ai = torch.tensor(plan.ang_index, device=device)
    pref = torch.tensor(plan.prefactor, dtype=dtype, device=device)
    step = max(1, DENSE_BLOCK // (K * (K - 1) // 2))
    results = []
    for start in range(0, n, step):
        sl = slice(start, start + step)
        M = _chunk(D[sl], R[sl], valid[sl], spec[sl], plan, sf.r_cut, S, s1, s2)  # (c, nRu, n_pb, nAu)
        results.append(M[:, ri, :, ai].permute(1, 2, 0) * pref)  # (c, n_pb, n_a)
    out = out.index_put((busy,), torch.cat(results))
    return out.reshape(n_atoms, -1)


def _chunk(D, R, valid, spec, plan, r_cut, S, s1, s2):
    """Angular sums of c centres: (c, nRu, n_pb, nAu) before the per-function pick."""
    c, K, _ = D.shape
    dtype, device = D.dtype, D.device
    n_ru, n_au, n_pb = len(plan.rad_unique), len(plan.ang_unique), len(s1)
    # Without autograd, intermediates are reused in place and written into preallocated
    # blocks (fewer passes over memory); with autograd, plain out-of-place operations.
    fast = not (torch.is_grad_enabled() and D.requires_grad)
    # Unordered neighbour pairs j < k of each centre, stored flat: (c, L), L = K(K − 1)/2.
    j, k = torch.triu_indices(K, K, offset=1, device=device)
    L = len(j)
    gram = torch.bmm(D, D.transpose(1, 2)).reshape(c, K * K)[:, j * K + k]  # d_j · d_k
    R2 = R * R
    pair_r2 = R2[:, j] + R2[:, k]  # R_ij² + R_ik²
    rjk2 = torch.clamp(torch.add(pair_r2, gram, alpha=-2.0), min=0.0)
    inv_r = torch.where(valid, 1.0 / torch.where(valid, R, torch.ones_like(R)), torch.zeros_like(R))
    cos = torch.clamp(gram * inv_r[:, j] * inv_r[:, k], -1.0, 1.0)
    fc = cutoff_function(R, r_cut) * valid
    fcc = fc[:, j] * fc[:, k]  # f_c(R_ij) f_c(R_ik)
    all_r2 = with_jk = None
    if any(w for _, w in plan.rad_unique):
        # 2 f_c(R_jk) = cos(π min(R_jk, R_c)/R_c) + 1 (the ½ goes into the final scale).
        r_jk = torch.clamp(torch.sqrt(rjk2 + 1e-30), max=r_cut)
        with_jk = (torch.cos(r_jk * (math.pi / r_cut)) + 1.0) * fcc
        all_r2 = pair_r2 + rjk2
    scale = torch.tensor([0.5 if w else 1.0 for _, w in plan.rad_unique], dtype=dtype, device=device)
    if n_pb > 1:
        return _chunk_by_element_pair(spec, j, k, pair_r2, all_r2, with_jk, fcc, cos, plan, fast, n_pb, scale)
    X = torch.empty(c, n_ru, n_pb, L, dtype=dtype, device=device) if fast else []
    for a, (eta, use_jk) in enumerate(plan.rad_unique):
        Y = (all_r2 if use_jk else pair_r2) * -eta
        weight = with_jk if use_jk else fcc
        if not fast:
            X.append((torch.exp(Y) * weight)[:, None])
        else:
            torch.mul(Y.exp_(), weight, out=X[:, a, 0])
    X = X.reshape(c, n_ru * n_pb, L) if fast else torch.cat(X, dim=1)
    A = _angle_factors(cos, plan, fast)  # (c, nAu, L)
    M = torch.bmm(X, A.transpose(1, 2))  # (c, nRu*n_pb, nAu)
    return M.reshape(c, n_ru, n_pb, n_au) * scale[None, :, None, None]


def _chunk_by_element_pair(spec, j, k, pair_r2, all_r2, with_jk, fcc, cos, plan, fast, n_pb, scale):
    """Several elements: Z_ab = Y_a ⊙ A_b per neighbour pair, then one GEMM with the one-hot
    element-pair membership of each pair (cheaper than masking Y once per element pair)."""
    c, L = cos.shape
    n_ru, n_au = len(plan.rad_unique), len(plan.ang_unique)
    Y = torch.stack([torch.exp((all_r2 if use_jk else pair_r2) * -eta) * (with_jk if use_jk else fcc)
                     for eta, use_jk in plan.rad_unique], dim=1)  # (c, nRu, L)
    A = _angle_factors(cos, plan, fast)  # (c, nAu, L)
    Z = (Y[:, :, None, :] * A[:, None, :, :]).reshape(c, n_ru * n_au, L)
    a, b = spec[:, j], spec[:, k]  # element indices of the pair, −1 for padding
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    block = torch.where(lo >= 0, hi * (hi + 1) // 2 + lo, 0)  # padding has zero weight in Z anyway
    member = torch.zeros(c, n_pb, L, dtype=cos.dtype, device=cos.device)
    member.scatter_(1, block[:, None, :], 1.0)
    M = torch.bmm(member, Z.transpose(1, 2)).reshape(c, n_pb, n_ru, n_au).permute(0, 2, 1, 3)
    return M * scale[None, :, None, None]


def _angle_factors(cos: torch.Tensor, plan, fast: bool = True) -> torch.Tensor:
    """(1 + λ cos(θ − θ_s))^ζ for every distinct (ζ, λ, θ_s), shape (c, nAu, L); powers of the
    same base are shared (ζ = 1, 2, 4, 16 costs four squarings)."""
    c, L = cos.shape
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=1e-12)) if plan.needs_sin else None
    bases: dict[tuple[float, float], dict[int, torch.Tensor]] = {}
    cols = []
    for zeta, lam, theta_s in plan.ang_unique:
        key = (lam, theta_s)
        if key not in bases:
            if theta_s == 0.0:
                base = cos + 1.0 if lam > 0 else 1.0 - cos
            else:
                base = torch.add(cos * (lam * math.cos(theta_s)), sin, alpha=lam * math.sin(theta_s)) + 1.0
            bases[key] = {1: base if zeta == int(zeta) else torch.clamp(base, min=0.0)}
        cols.append((bases[key], zeta))
    if not fast:
        return torch.stack([_power(powers, zeta) for powers, zeta in cols], dim=1)
    out = torch.empty(c, len(cols), L, dtype=cos.dtype, device=cos.device)
    for i, (powers, zeta) in enumerate(cols):
        out[:, i] = _power(powers, zeta)
    return out


def _power(powers: dict, zeta: float) -> torch.Tensor:
    """base**zeta, reusing and extending the cached powers of two of the base in ``powers``."""
    if zeta != int(zeta) or zeta > 64:
        return torch.pow(powers[1], zeta)
    n, bit, result = int(zeta), 1, None
    while n:
        if bit not in powers:
            powers[bit] = powers[bit // 2] * powers[bit // 2]
        if n & 1:
            result = powers[bit] if result is None else result * powers[bit]
        n >>= 1
        bit *= 2
    return result
