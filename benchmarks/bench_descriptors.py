"""Symmetry-function throughput: atomsieve (PyTorch) against DScribe's ACSF, in one run.

Same structures, same function set (the ``acsf_standard`` preset: G1 + 8 G2 + 32 G4, R_c = 6 Å, 41
features for Ge), both on the same cores: DScribe with ``n_jobs=THREADS`` processes, atomsieve with
``torch.set_num_threads(THREADS)``. Runs are interleaved (A, B, A, B, ...) and the median is reported,
so a change in machine load hits both sides. The values are checked to agree before timing.

Also timed: the derivative path (atomsieve's sparse Jacobian vs DScribe's ``derivatives``), and the
whole embedded germanium set with the default ``li_single_element`` preset (what the dashboard loads).

Usage::

    .venv/bin/python benchmarks/bench_descriptors.py [--structures 60] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import os

# Both sides share two cores with other work; libgomp's default busy-waiting makes torch's intra-op
# threads fight for them. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import platform
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import atomsieve  # noqa: E402
from atomsieve.descriptors import preset  # noqa: E402
from atomsieve.descriptors.presets import ACSF_STANDARD_G2, ACSF_STANDARD_G4  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=60, help="germanium structures timed (default 60)")
    parser.add_argument("--derivative-structures", type=int, default=4,
                        help="structures for the derivative timing (default 4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="cores for both sides (default 2)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--molecules", default="/work/shared/data/3bpa_train_300K.xyz",
                        help="C/H/N/O molecule file for the multi-element timing ('' to skip)")
    parser.add_argument("--n-molecules", type=int, default=100)
    args = parser.parse_args()

    from dscribe.descriptors import ACSF

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    ds = atomsieve.datasets.load_default("train")
    frames = ds.atoms[: args.structures]
    n_atoms = sum(map(len, frames))
    sf = preset("acsf_standard", ["Ge"])
    acsf = ACSF(r_cut=sf.r_cut, g2_params=ACSF_STANDARD_G2, g4_params=ACSF_STANDARD_G4, species=["Ge"],
                periodic=True)

    ref = np.concatenate([acsf.create(a) for a in frames[:3]])
    ours = sf.compute(frames[:3], scaler="none", dtype=dtype).values
    err = float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-8)))
    print(f"agreement on 3 structures: max relative error {err:.2e}")

    t_ds, t_ours = [], []
    for _ in range(args.repeats):
        t_ds.append(timed(lambda: acsf.create(frames, n_jobs=args.threads))[0])
        t_ours.append(timed(lambda: sf.compute(frames, scaler="none", dtype=dtype))[0])
    md, mo = statistics.median(t_ds), statistics.median(t_ours)

    dframes = frames[: args.derivative_structures]
    d_atoms = sum(map(len, dframes))
    jd, jo = [], []
    for _ in range(max(1, args.repeats - 1)):
        jd.append(timed(lambda: acsf.derivatives(dframes, attach=True, n_jobs=args.threads))[0])
        jo.append(timed(lambda: sf.jacobian(dframes, dtype=dtype))[0])
    mjd, mjo = statistics.median(jd), statistics.median(jo)

    mol_row = None
    if args.molecules and os.path.exists(args.molecules):
        mols = atomsieve.load(args.molecules).subset(range(args.n_molecules))
        msf = preset("acsf_standard", mols.elements)
        macsf = ACSF(r_cut=msf.r_cut, g2_params=ACSF_STANDARD_G2, g4_params=ACSF_STANDARD_G4,
                     species=mols.elements, periodic=False)
        m_ds, m_ours = [], []
        for _ in range(args.repeats):
            m_ds.append(timed(lambda: macsf.create(mols.atoms, n_jobs=args.threads))[0])
            m_ours.append(timed(lambda: msf.compute(mols, scaler="none", dtype=dtype))[0])
        a, b = statistics.median(m_ds), statistics.median(m_ours)
        n = mols.n_atoms
        mol_row = (f"| features, {len(mols)} 3BPA molecules, {n} atoms, C/H/N/O, {msf.n_features} features | "
                   f"{a:.2f} s ({n / a:,.0f} atoms/s) | {b:.2f} s ({n / b:,.0f} atoms/s) | "
                   f"**{a / b:.1f}×** |")

    li = preset("li_single_element", ["Ge"])
    full = [timed(lambda: li.compute(ds, dtype=dtype))[0] for _ in range(max(1, args.repeats - 1))]
    mfull = statistics.median(full)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{len(frames)} structures, {n_atoms} atoms, {sf.n_features} features, {args.dtype}\n")
    print("| what | DScribe ACSF | atomsieve | ratio |")
    print("|---|---|---|---|")
    print(f"| features, {n_atoms} atoms | {md:.2f} s ({n_atoms / md:,.0f} atoms/s) | {mo:.2f} s "
          f"({n_atoms / mo:,.0f} atoms/s) | **{md / mo:.1f}×** |")
    print(f"| features + derivatives, {d_atoms} atoms | {mjd:.2f} s ({d_atoms / mjd:,.0f} atoms/s) | "
          f"{mjo:.2f} s ({d_atoms / mjo:,.0f} atoms/s) | **{mjd / mjo:.1f}×** |")
    if mol_row:
        print(mol_row)
    print(f"| li_single_element, whole germanium set ({ds.n_atoms} atoms, min–max scaled) | – | "
          f"{mfull:.2f} s ({ds.n_atoms / mfull:,.0f} atoms/s) | – |")
    print(f"\nraw times: DScribe {t_ds}, atomsieve {t_ours}; derivatives DScribe {jd}, atomsieve {jo}; "
          f"whole set {full}")


if __name__ == "__main__":
    main()
