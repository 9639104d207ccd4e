"""The nearsighted-force-training loop: run directory, resume, stopping, novelty, model, relaxation, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.cluster import Octahedron
from ase.io import write

from atomsieve.active.initial import random_bulk_cells, rattled_repeats
from atomsieve.active.loop import NearsightedForceTraining, _not_improved_for
from atomsieve.active.model import NFTEnsemble
from atomsieve.active.novelty import NoveltyFilter
from atomsieve.active.parents import label_structures
from atomsieve.active.rundir import RunDirectory
from atomsieve.errors import ParameterError


def tiny_target(seed=0):
    atoms = Octahedron("Pt", 3, 0)  # 19 atoms
    atoms.positions += np.random.default_rng(seed).normal(0, 0.1, atoms.positions.shape)
    return atoms


@pytest.fixture(scope="module")
def initial():
    cells = random_bulk_cells("Pt", 3.92, 4, seed=0)
    return label_structures(cells + rattled_repeats(cells[1:2], n_rattle=1, seed=0), "emt")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, initial):
    """One finished three-iteration run, shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("nft") / "run"
    return make_nft(path).fit(tiny_target(), initial), path


def linear_model(members=3):
    return NFTEnsemble(n_members=members, model="linear", descriptor_cutoff=3.5)


def make_nft(run_dir=None, **kw):
    settings = dict(cutoff=4.0, chunks_per_iteration=3, max_iterations=3, stop_delta=1e-6,
                    steps_not_improved=5, model=linear_model(), run_dir=run_dir)
    settings.update(kw)
    return NearsightedForceTraining("emt", **settings)


def test_loop_records_every_iteration(finished, initial):
    nft, path = finished
    run = RunDirectory(path)
    records = run.iterations()
    assert [r["iteration"] for r in records] == [0, 1, 2]
    assert records[-1]["stop_reason"].startswith("reached max_iterations")
    for r in records[:-1]:
        assert r["chunks_added"] + r["chunks_skipped_novelty"] == 3
        assert r["structure_uncertainty"] > 0 and "force_mae_test" in r
    chunks = run.read_chunks()
    assert len(chunks) == records[-1]["n_chunks"] == len(nft.chunks_)
    assert all(c.arrays["central"][0] and c.info["central_atom"] == 0 for c in chunks)
    # chunk centres are the atoms the record names, and labels came from the parent
    assert [c.info["source_atom"] for c in chunks if c.info["iteration"] == 0] == records[0]["chunk_atoms"]
    assert np.all(np.isfinite(chunks[0].get_forces()))
    arrays = run.iteration_arrays(1)
    assert arrays["delta"].shape == (len(nft.target_),)
    assert records[1]["structure_uncertainty"] == pytest.approx(arrays["delta"].max())
    best = run.read_best()
    assert best["iteration"] == nft.best_iteration_
    assert best["structure_uncertainty"] == pytest.approx(min(r["structure_uncertainty"] for r in records))
    # the best ensemble against the parent on the whole target, eV/Å
    from ase.calculators.emt import EMT

    reference = nft.target_.copy()
    reference.calc = EMT()
    mae = float(np.mean(np.abs(nft.ensemble_.predict(nft.target_)["forces"] - reference.get_forces())))
    assert best["target_force_mae"] == pytest.approx(mae) and nft.target_force_mae_ == pytest.approx(mae)
    assert (run.checkpoint_path(0) / "model.json").exists()
    assert len(run.read_initial()) == len(initial)


def test_interrupted_run_resumes_where_it_stopped(tmp_path, initial, finished):
    full = finished[0]
    calls = {"n": 0}

    def stop_after_first():
        calls["n"] += 1
        return calls["n"] > 1

    part = make_nft(tmp_path / "part").fit(tiny_target(), initial, should_stop=stop_after_first)
    assert len(part.history_) == 1
    resumed = make_nft(tmp_path / "part").fit(tiny_target())  # no initial: it comes from the run dir
    got = [r["structure_uncertainty"] for r in resumed.history_]
    want = [r["structure_uncertainty"] for r in full.history_]
    # labels come back from extxyz text (8 decimals), so the refits agree to rounding, not bit for bit
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert len(resumed.chunks_) == len(full.chunks_)
    # a finished run is not redone; raising max_iterations continues it
    again = make_nft(tmp_path / "part", max_iterations=4).fit(tiny_target())
    assert [r["iteration"] for r in again.history_] == [0, 1, 2, 3]


def test_resume_refuses_other_settings_or_target(finished):
    path = finished[1]
    with pytest.raises(ParameterError, match="cutoff"):
        make_nft(path, cutoff=4.5).fit(tiny_target())
    with pytest.raises(ParameterError, match="another target"):
        make_nft(path).fit(tiny_target(seed=5))


def test_stopping_rules():
    nft = make_nft(stop_delta=0.1, steps_not_improved=2, max_iterations=10)
    assert "stop_delta" in nft._stop_reason(0, 0.05, [])
    assert nft._stop_reason(1, 0.5, [0.6]) is None
    assert nft._stop_reason(2, 0.7, [0.5, 0.6]).startswith("no improvement")
    assert nft._stop_reason(9, 0.4, [0.5] * 9).startswith("reached")
    assert _not_improved_for([3, 2, 2.5, 2.1]) == 2
    with pytest.raises(ParameterError, match="percentile"):
        make_nft(percentile=120).fit(tiny_target())


def test_percentile_choice():
    nft = make_nft(percentile=90, chunks_per_iteration=50)
    delta = np.arange(100.0)
    assert nft._choose_atoms(delta).tolist() == list(range(99, 89, -1))


def test_novelty_filter_skips_labelled_environments(initial):
    model = linear_model().with_elements(["Pt"])
    novelty = NoveltyFilter(0.01)
    known = initial[0]  # a labelled cell: all of its environments are in the bank
    assert novelty.filter(model.descriptor_, known, [0, 1], initial, []).tolist() == []
    target = tiny_target()
    kept = novelty.filter(model.descriptor_, target, [0, 1, 2], initial, [])
    assert len(kept) >= 1 and novelty.n_skipped_ == 2 + (3 - len(kept))
    # what was accepted is now known: asking again buys nothing
    assert novelty.filter(model.descriptor_, target, kept, initial, []).tolist() == []
    assert NoveltyFilter(None).filter(model.descriptor_, target, [4, 2], initial, []).tolist() == [4, 2]
    assert NoveltyFilter(None).filter(model.descriptor_, target, [4, 2], initial, [], limit=1).tolist() == [4]


def test_novelty_filter_replaces_skipped_candidates(initial):
    # Known environments first: with a limit, the filter reaches past them to the novel ones, and
    # what it did not buy stays out of the bank.
    model = linear_model().with_elements(["Pt"])
    target = tiny_target()
    whole = NoveltyFilter(0.01).filter(model.descriptor_, target, np.arange(len(target)), initial, [])
    assert len(whole) >= 2
    novelty = NoveltyFilter(0.01)
    kept = novelty.filter(model.descriptor_, target, np.arange(len(target)), initial, [], limit=2)
    assert kept.tolist() == whole[:2].tolist()
    assert novelty.n_screened_ == whole[1] + 1 and novelty.n_skipped_ == whole[1] + 1 - 2
    rest = novelty.filter(model.descriptor_, target, np.arange(len(target)), initial, [])
    assert rest.tolist() == whole[2:].tolist()


@pytest.mark.slow
def test_bpnn_ensemble_save_load_and_calculator(tmp_path, initial):
    model = NFTEnsemble(n_members=2, model="bpnn", descriptor_cutoff=3.5,
                          model_params={"hidden": (8,), "max_epochs": 20}).with_elements(["Pt"])
    model.fit(initial)
    atoms = tiny_target()
    pred = model.predict(atoms)
    assert pred["forces"].shape == (len(atoms), 3) and np.all(pred["delta"] >= 0)
    loaded = NFTEnsemble.load(model.save(tmp_path / "ckpt"))
    np.testing.assert_allclose(loaded.predict(atoms)["forces"], pred["forces"], atol=1e-10)
    # the calculator's forces are minus the gradient of its energy
    atoms.calc = loaded.calculator()
    forces = atoms.get_forces()
    h, i = 1e-4, 3
    for k in range(3):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        plus.calc = minus.calc = loaded.calculator()
        fd = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert forces[i, k] == pytest.approx(fd, abs=1e-5)
    delta = atoms.calc.results["force_uncertainty"]
    assert delta.shape == (len(atoms),)
    assert atoms.calc.results["uncertainty"] == pytest.approx(delta.max())  # as in AtomsieveCalculator


def test_centre_only_chunk_predictions_match_whole_structure_forces(initial):
    from atomsieve.active.chunks import cut_chunk

    model = linear_model().with_elements(["Pt"]).fit(initial)
    chunk = cut_chunk(tiny_target(), 2, 4.0)
    chunk.info["iteration"] = 0
    fast = model.predict_chunks([chunk])["forces"][0]
    plain = chunk.copy()
    del plain.info["central_atom"]  # an ordinary structure: the whole Jacobian is used
    whole = model.predict(plain)
    np.testing.assert_allclose(fast, whole["forces"][0], atol=1e-8)
    # the autograd path (relaxation steps) gives what the Jacobian path gives
    direct = model.predict(plain, cache=False)
    np.testing.assert_allclose(direct["forces"], whole["forces"], atol=1e-8)
    np.testing.assert_allclose(direct["delta"], whole["delta"], atol=1e-8)
    assert direct["energy"] == pytest.approx(whole["energy"])


@pytest.mark.slow
def test_relax_with_retraining_logs_rounds(tmp_path, initial):
    from atomsieve.active.relax import relax_with_retraining

    nft = make_nft(tmp_path / "run", max_iterations=2).fit(tiny_target(), initial)
    out = relax_with_retraining(nft, n_select=2, max_rounds=2, max_steps=6, fmax=0.1)
    relax = [r for r in RunDirectory(tmp_path / "run").iterations() if r["phase"] == "relax"]
    assert 1 <= len(relax) == out["rounds"] <= 2
    assert all(r["trajectory_max_uncertainty"] >= r["relaxed_uncertainty"] - 1e-12 for r in relax)
    assert out["max_parent_force"] > 0 and len(out["relaxed"]) == len(nft.target_)
    assert RunDirectory(tmp_path / "run").read_best()["relaxed_max_parent_force"] == out["max_parent_force"]
    assert out["n_chunks"] == len(nft.chunks_) >= relax[0]["n_chunks"] - relax[0]["chunks_added"]
    # calling it again resumes: finished rounds are not redone
    again = relax_with_retraining(nft, n_select=2, max_rounds=2, max_steps=6, fmax=0.1)
    assert again["rounds"] == out["rounds"] and again["n_chunks"] == out["n_chunks"]


def test_cli_runs_and_resumes(tmp_path, initial, capsys):
    from atomsieve.cli import main

    write(tmp_path / "target.extxyz", tiny_target())
    write(tmp_path / "initial.extxyz", initial)
    args = ["nft", str(tmp_path / "target.extxyz"), "--initial", str(tmp_path / "initial.extxyz"),
            "--run-dir", str(tmp_path / "run"), "--model", "linear", "--members", "3", "--cutoff", "4.0",
            "--descriptor-cutoff", "3.5", "--chunks-per-iter", "2", "--max-iter", "2",
            "--scheduler", "serial", "--stop-delta", "0"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["chunks"] >= 1 and summary["run_dir"] == str(tmp_path / "run")
    assert main(args) == 0  # resumes: nothing left to do, same answer
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    assert main(args[:-4] + ["--scheduler", "serial", "--stop-delta", "0", "--cutoff", "5.0"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["nft", str(tmp_path / "missing.extxyz"), "--run-dir", str(tmp_path / "r2")]) == 2


def test_run_view_reads_a_run_directory(finished):
    from atomsieve.app import nft_view

    path = finished[1]
    tables = nft_view.run_tables(path)
    assert tables["iteration"] == [0, 1, 2] and len(tables["parent"]) == len(tables["predicted"]) >= 1
    assert nft_view.uncertainty_figure(tables)["data"][0]["y"] == tables["structure_uncertainty"]
    assert len(nft_view.parity_figure(tables)["data"][0]["x"]) == 3 * len(tables["parent"])
    assert len(nft_view.residual_figure(tables)["data"][0]["y"]) == len(tables["delta"])
    view = nft_view.NFTRunView(path)
    assert view.tables["n_chunks"] == tables["n_chunks"]
    view.__panel__()


def test_a_short_run_lowers_the_structure_uncertainty(initial):
    # Iteration 0 knows only bulk cells, so its members agree by ignorance; once chunks of the target
    # are bought, every further iteration must lower the target's structure uncertainty.
    model = NFTEnsemble(n_members=4, model="linear", descriptor="gaussian_g2g4", descriptor_cutoff=3.5,
                          feature_selection="fcorr", n_features=12)
    nft = make_nft(model=model, chunks_per_iteration=4, max_iterations=5).fit(tiny_target(), initial)
    u = [r["structure_uncertainty"] for r in nft.history_]
    assert len(u) == 5 and all(b < a for a, b in zip(u[1:], u[2:])) and u[-1] < 0.05 * u[1]


@pytest.mark.parametrize("method", ["fcorr", "cur"])
def test_feature_selection_keeps_the_chosen_columns(tmp_path, initial, method):
    from atomsieve.active.chunks import cut_chunk

    model = NFTEnsemble(n_members=3, model="linear", descriptor="gaussian_g2g4", descriptor_cutoff=3.5,
                          feature_selection=method, n_features=8).with_elements(["Pt"])
    chunk = cut_chunk(tiny_target(), 2, 4.0)
    chunk = label_structures([chunk], "emt")[0]
    model.fit(initial, [chunk])
    assert len(model.columns_) == 8 and len(set(model.columns_.tolist())) == 8
    assert model.scale_[0].shape == (1, 8)
    assert all(m.coef_.shape[-1] == 8 for m in model.ensemble_.members_)
    atoms = tiny_target()
    cached, direct = model.predict(atoms), model.predict(atoms, cache=False)
    np.testing.assert_allclose(direct["forces"], cached["forces"], atol=1e-8)
    loaded = NFTEnsemble.load(model.save(tmp_path / "ckpt"))
    np.testing.assert_array_equal(loaded.columns_, model.columns_)
    np.testing.assert_allclose(loaded.predict(atoms)["forces"], cached["forces"], atol=1e-10)
    with pytest.raises(ParameterError, match="n_features"):
        NFTEnsemble(model="linear", descriptor="gaussian_g2g4", descriptor_cutoff=3.5,
                      feature_selection=method, n_features=500).with_elements(["Pt"]).fit(initial)
