"""``atomsieve featurize``."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.io import write

from atomsieve import load
from atomsieve.cli import main
from atomsieve.descriptors import load_features, preset


def test_featurize_writes_features_and_refuses_overwrite(tmp_path, capsys):
    frames = [bulk("Ge", "diamond", a=5.66, cubic=True), bulk("Ge", "diamond", a=5.5) * (2, 1, 1)]
    for i, at in enumerate(frames):
        at.rattle(0.05, seed=i)
    src = tmp_path / "ge.extxyz"
    write(src, frames)
    out = tmp_path / "f.npz"
    assert main(["featurize", str(src), "--cutoff", "4.5", "--output", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    assert "12 atoms x 40 features" in capsys.readouterr().out
    feats = load_features(out)
    ref = preset("li_single_element", ["Ge"], r_cut=4.5).compute(load(src))  # file precision
    np.testing.assert_allclose(feats.values, ref.values, rtol=1e-12, atol=1e-12)
    assert feats.params["r_cut"] == 4.5 and feats.scaler.kind == "minmax"
    # Existing output: one-line error, exit 2, file untouched.
    assert main(["featurize", str(src), "--output", str(out), "--preset", "acsf_standard"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["featurize", str(src), "--output", str(out), "--preset", "acsf_standard",
                 "--scaler", "none", "--overwrite"]) == 0
    assert load_features(out).n_features == 41
    assert main(["featurize", str(src), "--output", str(tmp_path / "x.csv")]) == 2
    assert ".npz" in capsys.readouterr().err
