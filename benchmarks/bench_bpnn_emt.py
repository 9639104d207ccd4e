"""The EMT platinum check of the Behler–Parrinello trainer (issue 19).

60 rattled fcc Pt cells of 32 atoms (2×2×2 cubic cells, lattice constant 3.92 Å × (1 + 0.02·N(0, 1)),
positions rattled with σ = 0.1 Å) labelled by ASE's EMT train a ``BPNNModel``; 30 other such cells
test it. Reports the test force MAE (meV/Å), the training time and how training ended, per data draw
(``--draws``: the training cells of draw k come from seed 2k, the test cells from seed 2k + 1).

σ = 0.1 Å rattles bring a few atoms much closer than the rest (EMT forces up to ~12 eV/Å), so a test
set can hold environments outside the training set's range. Beside the plain MAE the benchmark reports
the MAE over the test atoms whose min–max scaled fingerprints all lie inside the training range
(within ``--range-tolerance``), how many atoms are outside, and the closest pair of each set.

The descriptor defaults are those of ``atomsieve nft``: the 56 Gaussian G2/G4 candidates of
``gaussian_g2g4`` at 6.5 Å, of which the 21 whose force features best explain each draw's training
forces are kept (force correlation, chosen on the training cells only); ``--feature-selection none``
uses all 56. The network options set BPNNModel arguments; those not given keep the class
defaults. benchmarks/README.md ("BPNN trainer: the EMT platinum check") has the measurements.

Run:  .venv/bin/python benchmarks/bench_bpnn_emt.py --draws 3 --json /tmp/bpnn_emt.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

from atomsieve import Dataset
from atomsieve.active.parents import label_structures
from atomsieve.descriptors import preset
from atomsieve.descriptors.presets import keep_functions
from atomsieve.potentials import BPNNModel, LinearModel, prepare
from atomsieve.potentials.featurize import select_functions


def rattled_pt_cells(n: int, seed: int, sigma: float = 0.1) -> Dataset:
    """``n`` rattled, strained 32-atom fcc Pt cells labelled by EMT (eV, eV/Å)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Pt", "fcc", a=3.92 * (1 + 0.02 * rng.standard_normal()), cubic=True).repeat(2)
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        frames.append(atoms)
    labelled = label_structures(frames, "emt")
    return Dataset(frames, energies=[a.get_potential_energy() for a in labelled],
                   forces=np.concatenate([a.get_forces() for a in labelled]))


def closest_pair(dataset: Dataset) -> float:
    """Shortest interatomic distance (Å, minimum image) over the structures."""
    return float(min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() for a in dataset.atoms))


def library_defaults(draws: range, n_train: int, n_test: int) -> list[dict]:
    """The check as a user runs it: ``fit_potential(cells, BPNNModel())`` with every default (the
    descriptor included), scored on the test cells."""
    from atomsieve.potentials import fit_potential

    rows = []
    for draw in draws:
        train, test = rattled_pt_cells(n_train, seed=2 * draw), rattled_pt_cells(n_test, seed=2 * draw + 1)
        t0 = time.perf_counter()
        potential = fit_potential(train, BPNNModel(seed=draw, device="cpu"))
        seconds = time.perf_counter() - t0
        score = potential.score(test)
        rows.append({"draw": draw, "test_force_mae_meV": 1000 * score["mae_f"],
                     "test_force_rmse_meV": 1000 * score["rmse_f"],
                     "functions": potential.descriptor.n_features, "descriptor": potential.descriptor.preset,
                     "fit_seconds": seconds})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--first-draw", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=60)
    ap.add_argument("--n-test", type=int, default=30)
    ap.add_argument("--descriptor", default="gaussian_g2g4")
    ap.add_argument("--descriptor-cutoff", type=float, default=None, help="Å (default: the preset's own)")
    ap.add_argument("--feature-selection", choices=["fcorr", "cur", "none"], default="fcorr",
                    help="keep --n-features of the descriptor's functions, chosen on each draw's "
                         "training cells (fcorr: force correlation, as atomsieve nft does; cur: CUR)")
    ap.add_argument("--n-features", type=int, default=21)
    ap.add_argument("--max-g2-eta", type=float,
                    help="drop the descriptor's G2 functions with a larger η (Å⁻²) before anything else")
    ap.add_argument("--optimizer")
    ap.add_argument("--activation")
    ap.add_argument("--hidden")
    ap.add_argument("--force-weight", type=float)
    ap.add_argument("--max-epochs", type=int)
    ap.add_argument("--learning-rate", type=float)
    ap.add_argument("--l2", type=float)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--dtype")
    ap.add_argument("--no-goals", action="store_true", help="turn the convergence goals off")
    ap.add_argument("--linear", action="store_true", help="also fit the linear model")
    ap.add_argument("--range-tolerance", type=float, default=0.05)
    ap.add_argument("--json")
    ap.add_argument("--library-defaults", action="store_true",
                    help="only fit_potential(cells, BPNNModel()), every library default (descriptor too)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    if args.library_defaults:
        draws = range(args.first_draw, args.first_draw + args.draws)
        rows = library_defaults(draws, args.n_train, args.n_test)
        if args.json:
            Path(args.json).write_text(json.dumps({"library_defaults": rows}, indent=1))
        return
    params: dict = {"device": "cpu"}
    for name in ("optimizer", "activation", "force_weight", "max_epochs", "learning_rate", "l2",
                 "batch_size", "dtype"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.hidden:
        params["hidden"] = tuple(int(h) for h in args.hidden.split(","))
    if args.no_goals:
        params.update(energy_rmse_goal=None, force_rmse_goal=None, force_max_goal=None)
    sf = preset(args.descriptor, ["Pt"], r_cut=args.descriptor_cutoff)
    if args.max_g2_eta is not None:
        n_radial = len(sf.radial)  # one element: features are the radial functions, then the angular
        steep = {j for j, f in enumerate(sf.radial) if f.get("form") == "g2" and f["eta"] > args.max_g2_eta}
        sf = keep_functions(sf, [j for j in range(sf.n_features) if j >= n_radial or j not in steep])
    rows = []
    for draw in range(args.first_draw, args.first_draw + args.draws):
        train = rattled_pt_cells(args.n_train, seed=2 * draw)
        test = rattled_pt_cells(args.n_test, seed=2 * draw + 1)
        d_train, feats = prepare(train, sf, pairs=True, device="cpu", cache=False)
        kept = sf
        if args.feature_selection != "none":
            kept = keep_functions(sf, select_functions(d_train, args.feature_selection, args.n_features))
            d_train, feats = prepare(train, kept, pairs=True, device="cpu", cache=False)
        d_test, _ = prepare(test, kept, feats.scaler, pairs=True, device="cpu", cache=False)
        t0 = time.perf_counter()
        model = BPNNModel(**params, seed=draw).fit(d_train)
        seconds = time.perf_counter() - t0
        score, fit = model.score(d_test), model.score(d_train)
        _, forces = model.predict(d_test)
        scaled = d_test.features
        inside = np.all((scaled >= -args.range_tolerance) & (scaled <= 1 + args.range_tolerance), axis=1)
        err = np.abs(forces - d_test.forces)
        row = {"draw": draw, "test_force_mae_meV": 1000 * score["mae_f"],
               "test_force_rmse_meV": 1000 * score["rmse_f"],
               "test_energy_rmse_meV_atom": 1000 * score["rmse_e"],
               "test_force_median_meV": 1000 * float(np.median(err)),
               "test_force_mae_inside_range_meV": 1000 * float(err[inside].mean()),
               "test_atoms_outside_range": int((~inside).sum()), "test_atoms": int(len(inside)),
               "largest_error_eV_A": float(err.max()),
               "closest_pair_train_A": closest_pair(train), "closest_pair_test_A": closest_pair(test),
               "functions": kept.n_features if args.feature_selection == "none" else kept.feature_names,
               "train_force_rmse_meV": 1000 * fit["rmse_f"], "epochs": len(model.history_),
               "stop_reason": model.stop_reason_, "train_seconds": seconds}
        if args.linear:
            lin = LinearModel().fit(d_train)
            row["linear_test_force_mae_meV"] = 1000 * lin.score(d_test)["mae_f"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"settings": {**vars(args), **{k: v for k, v in params.items() if k != "hidden"}},
              "model_config": BPNNModel(**params).get_config(), "draws": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
