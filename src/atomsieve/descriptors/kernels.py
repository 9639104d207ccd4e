"""Compiled CPU kernels (numba) for symmetry functions when no gradient is needed.

The torch path (:meth:`SymmetryFunctions.forward`) stays the reference and the only path with
autograd, CUDA and the Jacobian. Without autograd on the CPU, features are computed here instead:

1. :func:`atomsieve.descriptors.neighbors.neighbor_pairs` builds the neighbour list of a group of
   structures (up to 16,384 atoms, all in one call) as CSR (``starts``, ``neighbor``, displacement
   vectors ``d``), in numba;
2. :func:`pair_features` evaluates every radial and angular function of every centre in one fused
   loop per centre, ``numba.prange`` over tasks of about equal work
   (:mod:`atomsieve.descriptors.kernel_threads`), writing straight into the caller's result array.

Per centre, the neighbours are sorted by species (stable), then per neighbour the kernel computes R,
f_c(R) and the radial functions (one exponential when the η are integer multiples of the smallest).
The angular terms are computed one element-pair block at a time: only the neighbour pairs (j < k)
of that block are enumerated, and for each only what must be: cos θ, R_jk (a pair with R_jk > R_c is
skipped when every angular function has the R_jk cutoff), f_c(R_jk) (a polynomial in R_jk², no square
root), one exponential exp(−η₀(R_ij² + R_ik² + R_jk²)) whose integer powers give every η of a power
family (as in ``acsf_standard``; otherwise per-neighbour and per-pair factors), the powers
(1 + λ cos(θ − θ_s))^ζ (repeated squaring for integer ζ, ``pow`` otherwise), then the sums over the
block's pairs (vectorised). No fast-math except the order of those sums of non-negative terms:
results agree with the torch path to rounding (≤ 1e-12 relative, tested), and are bit-identical
whatever the thread count. The kernel works in float64 whatever dtype the caller asked for.

Performance notes (numba 0.68): LLVM vectorises loops in small functions but none inside the large
per-centre function, and every call with array arguments from the per-centre loop costs two atomic
reference-count updates per array, so the loops are written out inline except the block sums
(:func:`_pair_sums`, one call per block).

The features are laid out exactly as :class:`SymmetryFunctions` documents (radial blocks per
neighbour element, then angular blocks per unordered neighbour-element pair).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

from atomsieve.descriptors.kernel_threads import TASKS_PER_THREAD, task_bounds
from atomsieve.descriptors.terms import KernelPlan


def features_from_csr(plan: KernelPlan, species: np.ndarray, starts: np.ndarray, neighbor: np.ndarray,
                      d: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Unscaled features (N, F) of N atoms from their CSR neighbour list (float64).

    ``species`` (N,) holds indices into the descriptor's species; the neighbours of atom i are
    entries ``starts[i]:starts[i + 1]`` of ``neighbor`` (atom index) and ``d`` (r_neighbor − r_i, Å).
    ``out``, if given, is a C-contiguous float64 (N, F) array overwritten in place (no second copy
    of a large result). Call inside :func:`atomsieve.descriptors.kernel_threads.numba_threads` to
    choose the thread count.
    """
    n = len(species)
    n_r, n_a = len(plan.rad_eta), len(plan.ang_pref)
    n_pb = plan.n_species * (plan.n_species + 1) // 2
    shape = (n, plan.n_species * n_r + n_pb * n_a)
    if out is None:
        out = np.empty(shape, dtype=np.float64)
    elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}")
    if n:
        starts = np.ascontiguousarray(starts, np.int64)
        pair_features(np.ascontiguousarray(species, dtype=np.int64), starts,
                      np.ascontiguousarray(neighbor, np.int64), np.ascontiguousarray(d, np.float64),
                      *plan.arrays(), task_bounds(starts, TASKS_PER_THREAD * numba.get_num_threads()),
                      numba.get_num_threads(), out)
    return out


#: Taylor coefficients (−1)^n / (2n)! of cos y, n = 0..11 (truncation error < 1e-19 for y ≤ π/2).
_COS_TAYLOR = tuple((-1.0) ** n / math.factorial(2 * n) for n in range(12))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11 = _COS_TAYLOR


@numba.njit(cache=True)
def cutoff_sq(r2, r_cut):  # pragma: no cover - compiled
    """f_c(R) = ½(cos(πR/R_c) + 1) = cos²(πR/(2R_c)) for R ≤ R_c, else 0, from R² (Å²).

    The cosine of y = πR/(2R_c) ∈ [0, π/2] is a 12-term Taylor polynomial in z = y², itself
    proportional to R² (no square root needed), evaluated by Estrin's scheme (pairs of terms, then
    powers z², z⁴: a dependency chain of 5 steps rather than Horner's 12), without branches or libm
    calls: absolute error ≤ 3e-16, relative ≤ 1e-15 except where f_c itself is below ~1e-6 (close to
    R_c, where ½(cos + 1) has the same absolute rounding error).
    """
    z = min(r2, r_cut * r_cut) * ((0.5 * math.pi / r_cut) ** 2)
    z2 = z * z
    z4 = z2 * z2
    q0 = (_C0 + _C1 * z) + (_C2 + _C3 * z) * z2
    q1 = (_C4 + _C5 * z) + (_C6 + _C7 * z) * z2
    q2 = (_C8 + _C9 * z) + (_C10 + _C11 * z) * z2
    c = q0 + (q1 + q2 * z4) * z4
    return c * c if r2 <= r_cut * r_cut else 0.0


@numba.njit(cache=True)
def cutoff(r, r_cut):  # pragma: no cover - compiled
    """f_c(R) for R in Å (see :func:`cutoff_sq`)."""
    return cutoff_sq(r * r, r_cut) if r <= r_cut else 0.0


@numba.njit(cache=True, fastmath={"reassoc"})
def _pair_sums(X, A, n_x, n_au, n, acc):  # pragma: no cover - compiled
    """``acc[a, c] = Σ_t X[a, t] A[c, t]`` over t < n, each sum in any order (vectorised: numba
    optimises this small function on its own, and LLVM vectorised no loop inside the large per-centre
    function). Every term is ≥ 0, so any order has the sequential sum's error bound, relative
    ≤ (n − 1)·2⁻⁵³. One call per element-pair block: a call with array arguments costs atomic
    reference-count updates, so the loops are not split into smaller calls."""
    for a in range(n_x):
        for c in range(n_au):
            total = 0.0
            for t in range(n):
                total += X[a, t] * A[c, t]
            acc[a, c] = total


@intrinsic
def _fetch_add(typingctx, counter):
    """``counter[0] += 1`` as one atomic operation; returns the value before (the next task number).
    numba's ``prange`` hands out iterations statically; workers taking tasks from this counter keep
    both cores busy when one of them is slowed down by other processes on a shared machine."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.atomic_rmw("add", data, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(counter), codegen


@numba.njit(cache=True, parallel=True)
def pair_features(species, starts, neighbor, d, n_species, r_cut, rad_eta, rad_rs, rad_eta0, rad_bits,
                  rad_nb, u_eta, x_u, jk_eta, jk_eta0, jk_bits, jk_nb, x_jk, all_jk, base_lam, base_cos,
                  base_sin, base_shifted, needs_sin, a_base, a_zeta, a_bits, a_nb, ang_rad, ang_ang,
                  ang_pref, bounds, n_workers, out):  # pragma: no cover - compiled
    """Fill ``out`` (N, F) with the features of every centre (see :func:`features_from_csr`);
    centres ``bounds[t]:bounds[t + 1]`` form task t; one worker per thread takes the next free task
    until none is left (results do not depend on which worker ran a task). (The parallel loop only
    calls :func:`_centre_range`: numba's parallel passes on the large body took minutes to compile.)"""
    n_tasks = len(bounds) - 1
    next_task = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):  # one worker per thread, each takes the next free task
        while True:
            task = _fetch_add(next_task)
            if task >= n_tasks:
                break
            _centre_range(bounds[task], bounds[task + 1], species, starts, neighbor, d, n_species, r_cut,
                          rad_eta, rad_rs, rad_eta0, rad_bits, rad_nb, u_eta, x_u, jk_eta, jk_eta0, jk_bits,
                          jk_nb, x_jk, all_jk, base_lam, base_cos, base_sin, base_shifted, needs_sin, a_base,
                          a_zeta, a_bits, a_nb, ang_rad, ang_ang, ang_pref, out)


@numba.njit(cache=True)
def _centre_range(first, stop, species, starts, neighbor, d, n_species, r_cut, rad_eta, rad_rs, rad_eta0,
                  rad_bits, rad_nb, u_eta, x_u, jk_eta, jk_eta0, jk_bits, jk_nb, x_jk, all_jk, base_lam,
                  base_cos, base_sin, base_shifted, needs_sin, a_base, a_zeta, a_bits, a_nb, ang_rad, ang_ang,
                  ang_pref, out):  # pragma: no cover - compiled
    """Features of centres ``first`` to ``stop − 1`` (one parallel task)."""
    n_r, n_a, n_u, n_x = len(rad_eta), len(ang_pref), len(u_eta), len(x_u)
    n_jk, n_base, n_au = len(jk_eta), len(base_lam), len(a_base)
    n_pb = n_species * (n_species + 1) // 2
    radial_width = n_species * n_r
    rc2 = r_cut * r_cut
    keep = rc2 if all_jk else np.inf
    K_max = 2
    for i in range(first, stop):
        K_max = max(K_max, starts[i + 1] - starts[i])
    T_max = K_max * (K_max - 1) // 2
    fc = np.empty(K_max)
    unit = np.empty((K_max, 3))
    dd = np.empty((K_max, 3))
    sp = np.empty(K_max, dtype=np.int64)
    order = np.empty(K_max, dtype=np.int64)
    group = np.empty(n_species + 1, dtype=np.int64)  # neighbours of species e: group[e]:group[e + 1]
    fill = np.empty(n_species, dtype=np.int64)
    u = np.empty((K_max, max(n_u, 1)))
    rtab = np.empty(rad_nb)
    utab = np.empty(max(jk_nb, 1))
    u_from_jk = jk_eta0 > 0.0 and n_u == n_jk
    for a in range(min(n_u, n_jk)):
        if u_eta[a] != jk_eta[a] or jk_bits[a, 0] < 0:
            u_from_jk = False
    # With the u factors' η the R_jk factors' η, all a power family, and every angular column
    # carrying f_c(R_jk) (acsf_standard, G4 in general): one exponential per neighbour pair,
    # X_a = f_c(R_ij) f_c(R_ik) f_c(R_jk) exp(−η₀(R_ij² + R_ik² + R_jk²))^{m_a}, instead of the
    # products of per-neighbour and per-pair factors.
    fused = u_from_jk and all_jk
    r2n = np.empty(K_max)
    # (Unsigned indices: numba adds no negative-index fix-up to the gathers through them.)
    jj = np.empty(T_max, dtype=np.uint32)
    kk = np.empty(T_max, dtype=np.uint32)
    rr = np.empty(T_max)
    cs = np.empty(T_max)
    g = np.empty(T_max)
    sn = np.empty(T_max)
    e0 = np.empty((max(jk_nb, 1), T_max))
    ejk = np.empty((max(n_jk, 1), T_max))
    X = np.empty((max(n_x, 1), T_max))
    ptab = np.empty((max(a_nb, 1), T_max))
    A = np.empty((max(n_au, 1), T_max))
    acc = np.empty((max(n_x, 1), max(n_au, 1)))
    n_f = out.shape[1]
    for i in range(first, stop):
        for f in range(n_f):  # the result is allocated uninitialised: zeroed here, in parallel
            out[i, f] = 0.0
        s = starts[i]
        K = starts[i + 1] - s
        if K == 0:
            continue
        # Neighbours sorted by species (stable): the pairs of one element-pair block are then
        # enumerated, computed and summed on their own, below.
        group[:] = 0
        for p in range(K):
            group[species[neighbor[s + p]] + 1] += 1
        for e in range(n_species):
            group[e + 1] += group[e]
            fill[e] = group[e]
        for p in range(K):
            e = species[neighbor[s + p]]
            order[fill[e]] = p
            fill[e] += 1
        # Per neighbour: R, f_c, unit vector, radial functions, angular factors u.
        for p in range(K):
            q0 = s + order[p]
            dx, dy, dz = d[q0, 0], d[q0, 1], d[q0, 2]
            dd[p, 0], dd[p, 1], dd[p, 2] = dx, dy, dz
            r = math.sqrt(max(dx * dx + dy * dy + dz * dz, 1e-20))
            unit[p, 0], unit[p, 1], unit[p, 2] = dx / r, dy / r, dz / r
            f = cutoff(r, r_cut)
            fc[p] = f
            sp[p] = species[neighbor[q0]]
            col = sp[p] * n_r
            if rad_eta0 >= 0.0:
                rtab[0] = math.exp(-rad_eta0 * (r * r))
                for t in range(1, rad_nb):
                    rtab[t] = rtab[t - 1] * rtab[t - 1]
                for q in range(n_r):
                    v = 1.0
                    if rad_bits[q, 0] != -2:
                        v = rtab[rad_bits[q, 0]]
                        for c in range(1, 8):
                            if rad_bits[q, c] < 0:
                                break
                            v *= rtab[rad_bits[q, c]]
                    out[i, col + q] += v * f
            else:
                for q in range(n_r):
                    x = r - rad_rs[q]
                    out[i, col + q] += math.exp(-rad_eta[q] * x * x) * f
            r2n[p] = r * r
            if fused:
                pass
            elif u_from_jk:  # the same η as the R_jk factors: one exponential and products
                utab[0] = math.exp(-jk_eta0 * (r * r))
                for t in range(1, jk_nb):
                    utab[t] = utab[t - 1] * utab[t - 1]
                for a in range(n_u):
                    v = utab[jk_bits[a, 0]]
                    for c in range(1, 8):
                        if jk_bits[a, c] < 0:
                            break
                        v *= utab[jk_bits[a, c]]
                    u[p, a] = v * f
            else:
                for a in range(n_u):
                    u[p, a] = math.exp(-u_eta[a] * (r * r)) * f
        if n_a == 0 or K < 2:
            continue
        # One element-pair block at a time (species lo ≤ hi, block hi(hi + 1)/2 + lo): its
        # neighbour pairs j < k that can contribute (R_jk ≤ R_c when every function has f_c(R_jk)),
        # then their terms, summed into that block only. (The pair search is written without
        # branches: whether a pair is kept is unpredictable.)
        for blk in range(n_pb):
            hi = int((math.sqrt(8 * blk + 1) - 1) // 2)
            lo = blk - hi * (hi + 1) // 2
            T = 0
            for j in range(group[lo], group[lo + 1]):
                xj, yj, zj = dd[j, 0], dd[j, 1], dd[j, 2]
                for k in range(max(j + 1, group[hi]), group[hi + 1]):
                    ex, ey, ez = dd[k, 0] - xj, dd[k, 1] - yj, dd[k, 2] - zj
                    r2 = ex * ex + ey * ey + ez * ez
                    jj[T] = j
                    kk[T] = k
                    rr[T] = r2
                    T += np.int64(r2 <= keep)
            if T == 0:
                continue
            for t in range(T):
                j, k = jj[t], kk[t]
                c = unit[j, 0] * unit[k, 0] + unit[j, 1] * unit[k, 1] + unit[j, 2] * unit[k, 2]
                cs[t] = min(1.0, max(-1.0, c))
            if fused:
                for t in range(T):
                    j, k = jj[t], kk[t]
                    e0[0, t] = math.exp(-jk_eta0 * (r2n[j] + r2n[k] + rr[t]))
                    g[t] = fc[j] * fc[k] * cutoff_sq(rr[t], r_cut)
                for b in range(1, jk_nb):
                    for t in range(T):
                        e0[b, t] = e0[b - 1, t] * e0[b - 1, t]
                for a in range(n_x):
                    # X[a, t] = Π_q e0[jk_bits[x_u[a], q], t] (written out here: a call with arrays costs
                    # atomic reference-count updates)
                    pr = x_u[a]
                    if jk_bits[pr, 0] == -2:
                        for t in range(T):
                            X[a, t] = 1.0
                    else:
                        pb = jk_bits[pr, 0]
                        for t in range(T):
                            X[a, t] = e0[pb, t]
                        pq = 1
                        while pq < 8 and jk_bits[pr, pq] >= 0:
                            pb = jk_bits[pr, pq]
                            for t in range(T):
                                X[a, t] *= e0[pb, t]
                            pq += 1
                    for t in range(T):
                        X[a, t] *= g[t]
            elif n_jk:
                for t in range(T):
                    g[t] = cutoff_sq(rr[t], r_cut)
                if jk_eta0 >= 0.0:
                    for t in range(T):
                        e0[0, t] = math.exp(-jk_eta0 * rr[t])
                    for b in range(1, jk_nb):
                        for t in range(T):
                            e0[b, t] = e0[b - 1, t] * e0[b - 1, t]
                    for e in range(n_jk):
                        # ejk[e, t] = Π_q e0[jk_bits[e, q], t] (written out here: a call with arrays costs
                        # atomic reference-count updates)
                        pr = e
                        if jk_bits[pr, 0] == -2:
                            for t in range(T):
                                ejk[e, t] = 1.0
                        else:
                            pb = jk_bits[pr, 0]
                            for t in range(T):
                                ejk[e, t] = e0[pb, t]
                            pq = 1
                            while pq < 8 and jk_bits[pr, pq] >= 0:
                                pb = jk_bits[pr, pq]
                                for t in range(T):
                                    ejk[e, t] *= e0[pb, t]
                                pq += 1
                else:
                    for e in range(n_jk):
                        for t in range(T):
                            ejk[e, t] = math.exp(-jk_eta[e] * rr[t])
                for e in range(n_jk):
                    for t in range(T):
                        ejk[e, t] *= g[t]
            for a in range(0 if fused else n_x):
                ua, ea = x_u[a], x_jk[a]
                for t in range(T):
                    X[a, t] = u[jj[t], ua] * u[kk[t], ua]
                if ea >= 0:
                    for t in range(T):
                        X[a, t] *= ejk[ea, t]
            # Angle factors (1 + λ cos(θ − θ_s))^ζ, the powers of each base shared.
            if needs_sin:
                for t in range(T):
                    sn[t] = math.sqrt(max(1.0 - cs[t] * cs[t], 1e-12))
            for b in range(n_base):
                lam = base_lam[b]
                if base_shifted[b]:
                    cb, sb = lam * base_cos[b], lam * base_sin[b]
                    for t in range(T):
                        ptab[0, t] = max(cs[t] * cb + sn[t] * sb + 1.0, 0.0)
                elif lam > 0:
                    for t in range(T):
                        ptab[0, t] = 1.0 + cs[t]
                else:
                    for t in range(T):
                        ptab[0, t] = 1.0 - cs[t]
                for q in range(1, a_nb):
                    for t in range(T):
                        ptab[q, t] = ptab[q - 1, t] * ptab[q - 1, t]
                for c in range(n_au):
                    if a_base[c] != b:
                        continue
                    if a_bits[c, 0] < 0:
                        for t in range(T):
                            A[c, t] = ptab[0, t] ** a_zeta[c]
                    else:
                        # A[c, t] = Π_q ptab[a_bits[c, q], t] (written out here: a call with arrays costs
                        # atomic reference-count updates)
                        pr = c
                        if a_bits[pr, 0] == -2:
                            for t in range(T):
                                A[c, t] = 1.0
                        else:
                            pb = a_bits[pr, 0]
                            for t in range(T):
                                A[c, t] = ptab[pb, t]
                            pq = 1
                            while pq < 8 and a_bits[pr, pq] >= 0:
                                pb = a_bits[pr, pq]
                                for t in range(T):
                                    A[c, t] *= ptab[pb, t]
                                pq += 1
            _pair_sums(X, A, n_x, n_au, T, acc)
            for f in range(n_a):
                out[i, radial_width + blk * n_a + f] = acc[ang_rad[f], ang_ang[f]] * ang_pref[f]
