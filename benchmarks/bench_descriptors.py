"""Symmetry-function throughput: atomsieve against DScribe's ACSF, in one run.

Same structures, same function set (the ``acsf_standard`` preset: G1 + 8 G2 + 32 G4, R_c = 6 Å, 41
features for Ge), both on the same cores: DScribe with ``n_jobs=THREADS`` processes, atomsieve with
``num_threads=THREADS``. atomsieve is timed on the path users get: ``SymmetryFunctions.compute`` with
the defaults, i.e. the compiled numba kernels on the CPU (:mod:`atomsieve.descriptors.kernels`); the
torch module (``engine="torch"``, the reference and the autograd/CUDA path) is timed beside it. Runs
are interleaved (A, B, C, A, B, C, ...) and the median is reported, so a change in machine load hits
every side; both sides are warmed up first (DScribe's worker processes, the numba kernels). By default
the whole germanium set (228 structures) and 300 3BPA molecules are timed, 5 times each, so a run takes
seconds rather than the tens of milliseconds that one scheduling hiccup can double. Every timed result
is checked against DScribe's (max relative error ≤ 1e-6).

Also timed: the derivative path (atomsieve's sparse Jacobian vs DScribe's ``derivatives``), and the
whole embedded germanium set with the default ``li_single_element`` preset (what the dashboard loads).

Usage::

    .venv/bin/python benchmarks/bench_descriptors.py [--structures 0] [--n-molecules 300] [--repeats 5]
        [--threads 2] [--no-compile-time]
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

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import atomsieve  # noqa: E402
from atomsieve.descriptors import preset  # noqa: E402
from atomsieve.descriptors.presets import ACSF_STANDARD_G2, ACSF_STANDARD_G4  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(acsf, sf, frames, data, dtype, args, errors: list) -> tuple[list, list, list]:
    """Seconds of DScribe, atomsieve's default path and its torch path, run in turn
    ``args.repeats`` times on the same structures; each result's error against DScribe goes to
    ``errors``. ``data``: the structures as atomsieve takes them (a list of Atoms or a Dataset)."""
    t_ds, t_ours, t_torch = [], [], []
    for _ in range(args.repeats):
        t, ref = timed(lambda: np.concatenate(acsf.create(frames, n_jobs=args.threads)))
        t_ds.append(t)
        t, ours = timed(lambda: users_path(sf, data, dtype, args.threads))
        t_ours.append(t)
        t, torch_values = timed(lambda: users_path(sf, data, dtype, args.threads, engine="torch"))
        t_torch.append(t)
        errors += [rel_err(ours, ref), rel_err(torch_values, ref)]
    return t_ds, t_ours, t_torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=0,
                        help="germanium structures timed (default 0: the whole training set, 228)")
    parser.add_argument("--derivative-structures", type=int, default=4,
                        help="structures for the derivative timing (default 4)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="cores for both sides (default 2)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--molecules", default="/work/shared/data/3bpa_train_300K.xyz",
                        help="C/H/N/O molecule file for the multi-element timing ('' to skip)")
    parser.add_argument("--n-molecules", type=int, default=300)
    parser.add_argument("--no-compile-time", action="store_true",
                        help="skip timing the kernels' first compilation (fresh numba cache, subprocess)")
    args = parser.parse_args()
    compile_s = None if args.no_compile_time else first_call_seconds()

    from dscribe.descriptors import ACSF

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    ds = atomsieve.datasets.load_default("train")
    frames = ds.atoms[: args.structures] if args.structures > 0 else ds.atoms
    n_atoms = sum(map(len, frames))
    sf = preset("acsf_standard", ["Ge"])
    acsf = ACSF(r_cut=sf.r_cut, g2_params=ACSF_STANDARD_G2, g4_params=ACSF_STANDARD_G4, species=["Ge"],
                periodic=True)

    sf.compute(frames[:1], scaler="none")  # load the compiled kernels before timing
    acsf.create(frames[: 2 * args.threads], n_jobs=args.threads)  # start DScribe's worker processes
    load_before = os.getloadavg()[0]
    errors = []
    t_ds, t_ours, t_torch = interleaved(acsf, sf, frames, frames, dtype, args, errors)
    md, mo, mt = map(statistics.median, (t_ds, t_ours, t_torch))

    dframes = frames[: args.derivative_structures]
    d_atoms = sum(map(len, dframes))
    sf.jacobian(dframes[:1], dtype=dtype)  # load the compiled Jacobian kernel before timing
    jd, jo = [], []
    for _ in range(max(1, args.repeats - 1)):
        jd.append(timed(lambda: acsf.derivatives(dframes, attach=True, n_jobs=args.threads))[0])
        jo.append(timed(lambda: sf.jacobian(dframes, dtype=dtype))[0])
    mjd, mjo = statistics.median(jd), statistics.median(jo)

    ratios = {f"germanium, {args.threads} cores (median wall time)": md / mo}
    mol_row, mol_times = None, ([], [], [])
    if args.molecules and os.path.exists(args.molecules):
        mols = atomsieve.load(args.molecules).subset(range(args.n_molecules))
        msf = preset("acsf_standard", mols.elements)
        macsf = ACSF(r_cut=msf.r_cut, g2_params=ACSF_STANDARD_G2, g4_params=ACSF_STANDARD_G4,
                     species=mols.elements, periodic=False)
        msf.compute(mols.atoms[:1], scaler="none")
        macsf.create(mols.atoms[: 2 * args.threads], n_jobs=args.threads)
        mol_times = interleaved(macsf, msf, mols.atoms, mols, dtype, args, errors)
        a, b, c = map(statistics.median, mol_times)
        n = mols.n_atoms
        mol_row = (f"| features, {len(mols)} 3BPA molecules, {n} atoms, C/H/N/O, {msf.n_features} features | "
                   f"{a:.2f} s ({n / a:,.0f} atoms/s) | {b:.3f} s ({n / b:,.0f} atoms/s) | "
                   f"**{a / b:.1f}×** | {c:.2f} s ({a / c:.1f}×) |")
        ratios[f"3BPA, {args.threads} cores (median wall time)"] = a / b

    # Load-independent view: CPU seconds per atom on one core (DScribe n_jobs=1 runs in this process).
    cpu_rows = []
    for label, desc, ref_desc, data in [("germanium", sf, acsf, frames)] + ([("3BPA", msf, macsf, mols.atoms)]
                                                                           if mol_row else []):
        c_ds, c_ours = [], []
        for _ in range(args.repeats):
            c_ds.append(cpu_timed(ref_desc.create, data, n_jobs=1))
            c_ours.append(cpu_timed(users_path, desc, data, dtype, 1))
        n = sum(map(len, data))
        a, b = min(c_ds) / n * 1e6, min(c_ours) / n * 1e6
        ratio_median = statistics.median(c_ds) / statistics.median(c_ours)
        cpu_rows.append(f"| {label}, {n} atoms, {desc.n_features} features | {a:.0f} µs | {b:.1f} µs | "
                        f"**{a / b:.1f}×** | {ratio_median:.1f}× |")
        ratios[f"{label}, one core (best CPU time)"] = a / b

    li = preset("li_single_element", ["Ge"])
    full = [timed(lambda: li.compute(ds, dtype=dtype, num_threads=args.threads))[0]
            for _ in range(max(1, args.repeats - 1))]
    mfull = statistics.median(full)
    worst = max(errors)
    if worst > 1e-6:
        raise SystemExit(f"atomsieve and DScribe disagree: max relative error {worst:.2e} > 1e-6")

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.threads} threads, torch {torch.__version__}, numba {numba.__version__} "
          f"({numba.threading_layer()} threading layer), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
          f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{len(frames)} structures, {n_atoms} atoms, {sf.n_features} features, {args.dtype}; "
          f"max relative error against DScribe over every timed result: {worst:.1e}")
    if compile_s is not None:
        print(f"first call with an empty numba cache (compiling the kernels): {compile_s:.1f} s")
    print()
    print("| what | DScribe ACSF | atomsieve (default: compiled kernels) | ratio | atomsieve torch path "
          "(ratio) |")
    print("|---|---|---|---|---|")
    print(f"| features, {len(frames)} germanium structures, {n_atoms} atoms, periodic | {md:.2f} s "
          f"({n_atoms / md:,.0f} atoms/s) | {mo:.3f} s ({n_atoms / mo:,.0f} atoms/s) | **{md / mo:.1f}×** | "
          f"{mt:.2f} s ({md / mt:.1f}×) |")
    if mol_row:
        print(mol_row)
    print(f"| features + derivatives, {d_atoms} atoms | {mjd:.2f} s ({d_atoms / mjd:,.0f} atoms/s) | "
          f"{mjo:.2f} s ({d_atoms / mjo:,.0f} atoms/s), compiled Jacobian | **{mjd / mjo:.1f}×** | – |")
    print(f"| li_single_element, whole germanium set ({ds.n_atoms} atoms, min–max scaled) | – | "
          f"{mfull:.2f} s ({ds.n_atoms / mfull:,.0f} atoms/s) | – | – |")
    print("\nCPU time per atom on one core (`time.process_time()`, best of the repeats; DScribe `n_jobs=1`, "
          "atomsieve `num_threads=1`):\n")
    print("| structures | DScribe ACSF | atomsieve | ratio (best) | ratio (medians) |")
    print("|---|---|---|---|---|")
    print("\n".join(cpu_rows))
    print("\ngoal ≥ 20× DScribe: " + "; ".join(f"{k} {v:.1f}× ({'met' if v >= 20 else 'NOT met'})"
                                            for k, v in ratios.items()))
    print(f"\nraw times: DScribe {fmt(t_ds)}, atomsieve {fmt(t_ours)}, torch path {fmt(t_torch)}; "
          f"3BPA DScribe {fmt(mol_times[0])}, atomsieve {fmt(mol_times[1])}; "
          f"derivatives DScribe {fmt(jd)}, atomsieve {fmt(jo)}; whole set {fmt(full)}")


def users_path(sf, data, dtype, threads, engine="auto"):
    return sf.compute(data, scaler="none", dtype=dtype, num_threads=threads, engine=engine).values


def cpu_timed(fn, *args, **kwargs) -> float:
    start = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - start


def rel_err(ours, ref) -> float:
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-8)))


def fmt(times) -> str:
    return "[" + ", ".join(f"{t:.3f}" for t in times) + "]"


def first_call_seconds() -> float:
    """Seconds of the first ``compute`` in a fresh process with an empty numba cache."""
    import subprocess
    import sys
    import tempfile

    code = ("import time; from ase.build import bulk; from atomsieve.descriptors import preset; "
            "sf = preset('acsf_standard', ['Ge']); t = time.perf_counter(); "
            "sf.compute([bulk('Ge')], scaler='none'); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "NUMBA_CACHE_DIR": cache},
                             capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
