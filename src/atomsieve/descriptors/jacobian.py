"""Sparse derivatives of symmetry functions with respect to atomic positions.

For a linear model ``E = Σ_i w_{Z_i} · G_i`` the forces are
``F_j = −Σ_i w_{Z_i} · ∂G_i/∂r_j``; only atoms within the cutoff of each other give non-zero
blocks, so the Jacobian is stored as triplets (i, j, ∂G_i/∂r_j).

Derivatives are computed per neighbour pair and per triple from the analytic chain rule
(distances, cos θ) and the analytic partials of each distinct factor (checked against finite
differences and against autograd through :meth:`SymmetryFunctions.forward`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from numba import prange

from atomsieve.descriptors.compute import as_atoms_list, batches, on_device, pack
from atomsieve.descriptors.neighbors import triples_from_pairs
from atomsieve.descriptors.terms import (
    radial_slopes,
    triple_angle_factors,
    triple_angle_slopes,
    triple_radial_factors,
    triple_radial_slopes,
)
from atomsieve.device import resolve_device
from atomsieve.errors import ParameterError
from atomsieve.progress import check_stop, report

#: Triples processed at once when building derivatives (bounds memory: ~ T × n_angular × 3 × 2).
TRIPLE_CHUNK = 65_536


@dataclass
class DescriptorJacobian:
    """Features and their sparse position derivatives for a set of structures.

    Attributes
    ----------
    values : Tensor (N, F)
        Unscaled features of all N atoms (structures stacked in order).
    species : LongTensor (N,)
        Atomic numbers.
    structure : LongTensor (N,)
        Structure index of each atom.
    center, neighbor : LongTensor (M,)
        Global atom indices i and j of each block.
    grad : Tensor (M, F, 3)
        ``grad[m] = ∂G_{center[m]} / ∂r_{neighbor[m]}`` in features per Å. Every (i, j) pair
        occurs once (periodic images of j are summed); the self terms (i, i) are included.
        Atoms farther apart than the cutoff have no entry (their block is zero).

    All tensors live on the CPU, in the requested dtype. Unscaled: for min–max scaled features
    divide column f of an element's rows by that element's ``max − min``.
    """

    values: torch.Tensor
    species: torch.Tensor
    structure: torch.Tensor
    center: torch.Tensor
    neighbor: torch.Tensor
    grad: torch.Tensor

    def forces(self, dE_dG: torch.Tensor) -> torch.Tensor:
        """Forces (N, 3), eV/Å, from per-atom energy gradients ``dE_dG`` (N, F), eV per feature:
        ``F_j = −Σ_i dE/dG_i · ∂G_i/∂r_j``."""
        dE_dG = torch.as_tensor(dE_dG, dtype=self.grad.dtype)
        contrib = torch.einsum("mf,mfc->mc", dE_dG[self.center], self.grad)
        out = torch.zeros(len(self.values), 3, dtype=self.grad.dtype)
        return -out.index_add_(0, self.neighbor, contrib)

    def dense(self) -> torch.Tensor:
        """The full Jacobian (N, F, N, 3); for small systems and tests."""
        N, F = self.values.shape
        out = torch.zeros(N, N, F, 3, dtype=self.grad.dtype)
        out[self.center, self.neighbor] = self.grad
        return out.permute(0, 2, 1, 3)


def _pair_derivatives(sf, species, d, center, neighbor):
    """Per-pair derivative blocks J (P, F, 3) = ∂G_center / ∂d_pair, and the features (N, F)."""
    dtype, device = d.dtype, d.device
    P = len(center)
    n_s, n_r, n_a, n_pb = sf.n_species, len(sf.radial), len(sf.angular), sf.n_element_pairs
    r = torch.sqrt(torch.clamp((d * d).sum(-1), min=1e-20))
    unit = d / r[:, None]
    sp_n = species[neighbor]
    blocks = []
    if n_r:
        eta, rs = sf.radial_eta.to(dtype), sf.radial_rs.to(dtype)
        dh_dr = radial_slopes(r, eta, rs, sf.r_cut)
        rad = torch.zeros(P, n_s, n_r, 3, dtype=dtype, device=device)
        rad[torch.arange(P, device=device), sp_n] = dh_dr[:, :, None] * unit[:, None, :]
        blocks.append(rad.reshape(P, n_s * n_r, 3))
    if n_a:
        plan = sf.angular_plan
        ri = torch.tensor(plan.rad_index, device=device)
        ai = torch.tensor(plan.ang_index, device=device)
        pref = torch.tensor(plan.prefactor, dtype=dtype, device=device)
        ang = torch.zeros(P * n_pb, n_a, 3, dtype=dtype, device=device)
        own = torch.zeros(P * n_pb, n_a, dtype=dtype, device=device)
        p_all, q_all = triples_from_pairs(center)
        for start in range(0, len(p_all), TRIPLE_CHUNK):
            p, q = p_all[start : start + TRIPLE_CHUNK], q_all[start : start + TRIPLE_CHUNK]
            dj, dk = d[p], d[q]
            rj, rk = r[p], r[q]
            u = dk - dj
            rjk = torch.sqrt(torch.clamp((u * u).sum(-1), min=1e-20))
            cos = torch.clamp((dj * dk).sum(-1) / (rj * rk), -1.0, 1.0)
            # Analytic partials of the few distinct factor columns, then the product rule.
            Rcols = triple_radial_factors(rj, rk, rjk, plan, sf.r_cut)
            partial = triple_radial_slopes(rj, rk, rjk, plan, sf.r_cut)
            Acols, dA = triple_angle_factors(cos, plan), triple_angle_slopes(cos, plan)
            Rf, Af = Rcols[:, ri], Acols[:, ai] * pref
            h_rj = partial[0][:, ri] * Af
            h_rk = partial[1][:, ri] * Af
            h_rjk = partial[2][:, ri] * Af
            h_cos = Rf * dA[:, ai] * pref
            # ∂h/∂d_j = a_j d_j + b d_k and ∂h/∂d_k = a_k d_k + b d_j (chain rule through R_ij, R_ik,
            # R_jk = |d_k − d_j| and cos θ = d_j·d_k / (R_ij R_ik)).
            jk = (h_rjk / rjk[:, None])
            b = h_cos / (rj * rk)[:, None] - jk
            a_j = h_rj / rj[:, None] - h_cos * (cos / (rj * rj))[:, None] + jk
            a_k = h_rk / rk[:, None] - h_cos * (cos / (rk * rk))[:, None] + jk
            pb = sf._pair_block(sp_n[p], sp_n[q])
            row_p, row_q = p * n_pb + pb, q * n_pb + pb
            own.index_add_(0, row_p, a_j)
            own.index_add_(0, row_q, a_k)
            ang.index_add_(0, row_p, b[:, :, None] * dk[:, None, :])
            ang.index_add_(0, row_q, b[:, :, None] * dj[:, None, :])
        ang += own[:, :, None] * d.repeat_interleave(n_pb, dim=0)[:, None, :]
        blocks.append(ang.reshape(P, n_pb * n_a, 3))
    return torch.cat(blocks, dim=1)


def jacobian(sf, data, *, batch_size: int = 1024, device="auto", dtype=torch.float64,
             progress=None, engine: str = "auto", num_threads: int | None = None,
             should_stop=None) -> DescriptorJacobian:
    """Unscaled features and ``∂G_i/∂r_j`` of every structure in ``data``.

    Parameters
    ----------
    sf : SymmetryFunctions
    data : Dataset, ase.Atoms or list of Atoms
    batch_size : int
        Padded atoms per batch.
    device, dtype, progress, engine, num_threads
        As in :meth:`SymmetryFunctions.compute`: on the CPU the per-pair blocks come from a
        compiled kernel (float64, then cast to ``dtype``) unless ``engine="torch"``.
    should_stop : callable ``should_stop() -> bool``, optional
        Polled before every batch; True raises :class:`~atomsieve.errors.Stopped`.

    Returns
    -------
    DescriptorJacobian
        See its attributes for the exact layout.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from atomsieve.descriptors import preset
    >>> jac = preset("li_two_element", ["C", "H", "O"]).jacobian(molecule("CH3OH"))
    >>> jac.values.shape, jac.grad.shape[1:]
    (torch.Size([6, 78]), torch.Size([78, 3]))
    """
    from atomsieve.descriptors.compute import ENGINES

    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {ENGINES}; got {engine!r}")
    atoms_list, _ = as_atoms_list(data)
    device = resolve_device(device)
    compiled = engine != "torch" and device.type == "cpu"
    counts = np.array([len(a) for a in atoms_list], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    N, F = int(offsets[-1]), sf.n_features
    model = on_device(sf, device)
    values = torch.zeros(N, F, dtype=dtype)
    centers, neighbors, grads = [], [], []
    done = 0
    report(progress, 0, len(atoms_list), "symmetry-function derivatives")
    with torch.no_grad():
        for members in batches(atoms_list, batch_size):
            check_stop(should_stop, "symmetry-function derivatives")
            b = pack(model, atoms_list, members, dtype, device)
            B, A = b.species.shape
            nb = model.neighbor_list(b.species, b.positions, b.cells, b.pbc)
            flat_pos = b.positions.reshape(B * A, 3)
            d = flat_pos[nb.neighbor] - flat_pos[nb.center] + torch.einsum(
                "pk,pkj->pj", nb.shift, b.cells[nb.center // A])
            sp = b.species.reshape(-1)
            if compiled:
                from atomsieve.descriptors.kernel_threads import numba_threads
                from atomsieve.descriptors.kernels import features_from_csr
                from atomsieve.descriptors.terms import KernelPlan

                args = (sp.numpy(), d.double().numpy(), nb.center.numpy(), nb.neighbor.numpy())
                J = torch.as_tensor(_pair_derivatives_cpu(model, *args, num_threads=num_threads), dtype=dtype)
                starts = np.concatenate([[0], np.cumsum(np.bincount(args[2], minlength=len(args[0])))])
                with numba_threads(num_threads):
                    feats = torch.as_tensor(features_from_csr(KernelPlan(model), args[0], starts, args[3],
                                                              args[1]), dtype=dtype)
            else:
                feats = model.features_from_pairs(sp, d, nb.center, nb.neighbor)
                J = _pair_derivatives(model, sp, d, nb.center, nb.neighbor)
            # Padded flat index -> global atom index.
            glob = torch.full((B * A,), -1, dtype=torch.long)
            for k, m in enumerate(members):
                glob[k * A : k * A + counts[m]] = torch.arange(offsets[m], offsets[m + 1])
                values[offsets[m] : offsets[m + 1]] = feats[k * A : k * A + counts[m]].cpu()
            ci, nj = glob[nb.center.cpu()], glob[nb.neighbor.cpu()]
            J = J.cpu()
            # ∂G_i/∂r_j = +J (j ≠ i's image too), ∂G_i/∂r_i = −Σ J.
            key = torch.cat([ci * N + nj, ci * N + ci])
            blocks = torch.cat([J, -J])
            uniq, inverse = torch.unique(key, return_inverse=True)
            summed = torch.zeros(len(uniq), F, 3, dtype=dtype).index_add_(0, inverse, blocks)
            centers.append(uniq // N)
            neighbors.append(uniq % N)
            grads.append(summed)
            # Isolated atoms have no pairs; they need no entries (their derivative is zero).
            done += len(members)
            report(progress, done, len(atoms_list), "symmetry-function derivatives")
    numbers = np.concatenate([a.numbers for a in atoms_list]) if atoms_list else np.zeros(0, dtype=np.int64)
    empty_long = torch.zeros(0, dtype=torch.long)
    return DescriptorJacobian(
        values=values,
        species=torch.as_tensor(numbers, dtype=torch.long),
        structure=torch.as_tensor(np.repeat(np.arange(len(atoms_list)), counts), dtype=torch.long),
        center=torch.cat(centers) if centers else empty_long,
        neighbor=torch.cat(neighbors) if neighbors else empty_long,
        grad=torch.cat(grads) if grads else torch.zeros(0, F, 3, dtype=dtype),
    )


# ---------------------------------------------------------------------------------------------------
# Compiled CPU path (numba): the same per-pair blocks as _pair_derivatives, one fused loop per centre.


def _pair_derivatives_cpu(sf, species: np.ndarray, d: np.ndarray, center: np.ndarray,
                          neighbor: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Per-pair derivative blocks J (P, F, 3) = ∂G_center / ∂d_pair (float64), as
    :func:`_pair_derivatives` computes them, with a compiled kernel (``center`` sorted)."""
    from atomsieve.descriptors.kernel_threads import numba_threads

    plan = sf.angular_plan
    cols = np.array([[rec[k] for k in ("eta", "zeta", "lambda", "theta_s", "use_jk", "prefactor")]
                     for rec in _angular_columns(sf)], dtype=np.float64).reshape(-1, 6)
    starts = np.concatenate([[0], np.cumsum(np.bincount(center, minlength=len(species)))]).astype(np.int64)
    out = np.zeros((len(center), sf.n_features, 3), dtype=np.float64)
    if len(center):
        with numba_threads(num_threads):
            _jacobian_kernel(np.ascontiguousarray(species, dtype=np.int64), starts,
                             np.ascontiguousarray(neighbor, dtype=np.int64),
                             np.ascontiguousarray(d, dtype=np.float64),
                             sf.n_species, float(sf.r_cut), sf.radial_eta.cpu().numpy().astype(np.float64),
                             sf.radial_rs.cpu().numpy().astype(np.float64), cols, bool(plan.needs_sin), out)
    return out


def _angular_columns(sf) -> list[dict]:
    from atomsieve.descriptors.terms import effective_angular

    cols = effective_angular(sf.angular, sf.r_cut)
    return [{k: cols[k][f] for k in cols} for f in range(len(sf.angular))]


@numba.njit(cache=True)
def _cut_slope(r, r_cut):  # pragma: no cover - compiled
    """(f_c(R), df_c/dR), both 0 beyond R_c."""
    if r > r_cut:
        return 0.0, 0.0
    x = r * (math.pi / r_cut)
    return 0.5 * (math.cos(x) + 1.0), (-0.5 * math.pi / r_cut) * math.sin(x)


@numba.njit(cache=True, parallel=True)
def _jacobian_kernel(species, starts, neighbor, d, n_species, r_cut, rad_eta, rad_rs, ang, needs_sin,
                     out):  # pragma: no cover - compiled
    n_r, n_a = len(rad_eta), ang.shape[0]
    radial_width = n_species * n_r
    rc2 = r_cut * r_cut
    all_jk = n_a > 0
    for f in range(n_a):
        if ang[f, 4] == 0.0:
            all_jk = False
    for i in prange(len(species)):
        s, e = starts[i], starts[i + 1]
        for p in range(s, e):
            r = math.sqrt(max(d[p, 0] ** 2 + d[p, 1] ** 2 + d[p, 2] ** 2, 1e-20))
            fc, dfc = _cut_slope(r, r_cut)
            col = species[neighbor[p]] * n_r
            for q in range(n_r):
                x = r - rad_rs[q]
                slope = math.exp(-rad_eta[q] * x * x) * (dfc - 2.0 * rad_eta[q] * x * fc) / r
                for c in range(3):
                    out[p, col + q, c] += slope * d[p, c]
        if n_a == 0:
            continue
        for p in range(s, e - 1):
            rj = math.sqrt(max(d[p, 0] ** 2 + d[p, 1] ** 2 + d[p, 2] ** 2, 1e-20))
            f_j, df_j = _cut_slope(rj, r_cut)
            if f_j == 0.0:
                continue
            for q in range(p + 1, e):
                ux, uy, uz = d[q, 0] - d[p, 0], d[q, 1] - d[p, 1], d[q, 2] - d[p, 2]
                rjk2 = ux * ux + uy * uy + uz * uz
                if all_jk and rjk2 > rc2:
                    continue
                rk = math.sqrt(max(d[q, 0] ** 2 + d[q, 1] ** 2 + d[q, 2] ** 2, 1e-20))
                f_k, df_k = _cut_slope(rk, r_cut)
                if f_k == 0.0:
                    continue
                rjk = math.sqrt(max(rjk2, 1e-20))
                f_jk, df_jk = _cut_slope(rjk, r_cut)
                dot = d[p, 0] * d[q, 0] + d[p, 1] * d[q, 1] + d[p, 2] * d[q, 2]
                cos = min(1.0, max(-1.0, dot / (rj * rk)))
                sin = math.sqrt(max(1.0 - cos * cos, 1e-12)) if needs_sin else 0.0
                a, b = species[neighbor[p]], species[neighbor[q]]
                hi, lo = max(a, b), min(a, b)
                base_col = radial_width + (hi * (hi + 1) // 2 + lo) * n_a
                for f in range(n_a):
                    eta, zeta, lam, theta_s = ang[f, 0], ang[f, 1], ang[f, 2], ang[f, 3]
                    w, pref = ang[f, 4], ang[f, 5]
                    if w != 0.0:
                        ex = math.exp(-eta * (rj * rj + rk * rk + rjk2))
                        W = f_jk
                        h_jk = ex * f_j * f_k * (df_jk - 2.0 * eta * rjk * f_jk)
                    else:
                        ex = math.exp(-eta * (rj * rj + rk * rk))
                        W = 1.0
                        h_jk = 0.0
                    if theta_s == 0.0:
                        cc, dc = cos, 1.0
                    else:
                        cs, ss = math.cos(theta_s), math.sin(theta_s)
                        cc, dc = cos * cs + sin * ss, cs - ss * cos / sin
                    base = max(1.0 + lam * cc, 0.0)
                    A = base**zeta
                    dA = zeta * lam * dc * (base ** (zeta - 1.0) if zeta > 1.0 else 1.0)
                    R = ex * f_j * f_k * W
                    h_rj = ex * W * f_k * (df_j - 2.0 * eta * rj * f_j) * A * pref
                    h_rk = ex * W * f_j * (df_k - 2.0 * eta * rk * f_k) * A * pref
                    h_rjk = h_jk * A * pref
                    h_cos = R * dA * pref
                    jk = h_rjk / rjk
                    bb = h_cos / (rj * rk) - jk
                    a_j = h_rj / rj - h_cos * cos / (rj * rj) + jk
                    a_k = h_rk / rk - h_cos * cos / (rk * rk) + jk
                    col = base_col + f
                    for c in range(3):
                        out[p, col, c] += a_j * d[p, c] + bb * d[q, c]
                        out[q, col, c] += a_k * d[q, c] + bb * d[p, c]
