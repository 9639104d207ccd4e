"""Issue 20, inputs: odd numbers for every verb, companion files by content, partial labels, checks that
checked nothing, and messages that name the real problem."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write
from emt_data import emt_copper_cells

from atomsieve.cli import main
from atomsieve.datasets import default_path
from atomsieve.errors import CacheError, ParameterError

GE = str(default_path("test"))  # 25 structures, 1568 atoms


def _cli(argv, capsys) -> tuple[int, str, str]:
    """Exit status, stdout and the last stderr line of ``atomsieve ARGV`` (argparse errors included)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses an option value while parsing
        code = exc.code
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    return code, out.out, lines[-1] if lines else ""


#: (argv, words of the one-line error): numbers the parser accepts but the code cannot use, per verb.
ODD_OPTIONS = [
    (["build", "one-element", "-o", "OUT.extxyz", "--structures", "0"],
     "--structures/-n: '0': must be a whole"),
    (["build", "one-element", "-o", "OUT.extxyz", "--seed", "-1"], "--seed: '-1': must be a whole number"),
    (["generate", "-o", "OUT.extxyz", "--kmax", "inf"], "--kmax: 'inf' is not a finite number"),
    (["generate", "-o", "OUT.extxyz", "--timestep", "nan"], "--timestep: 'nan' is not a finite number"),
    (["generate", "-o", "OUT.extxyz", "--atoms", "1000000000"], "--atoms: '1000000000': must be a whole"),
    (["generate", "-o", "OUT.extxyz", "--cell", "9,inf,9"], "--cell '9,inf,9': lengths must be finite"),
    (["generate", "-o", "OUT.extxyz", "--element", "Xx"], "--element 'Xx': not a chemical symbol"),
    (["featurize", GE, "-o", "OUT.npz", "--cutoff", "inf"], "--cutoff: 'inf' is not a finite number"),
    (["featurize", GE, "-o", "OUT.npz", "--device", "gpu7"], "--device: 'gpu7': use auto, cpu, cuda"),
    (["featurize", GE, "-o", "OUT.npz", "--threads", "0"], "--threads: '0': must be a whole number"),
    (["md-check", "emt", "--reference", "emt", "--system", "one-element", "--r-max", "nan"],
     "--r-max: 'nan' is not a finite number"),
    (["md-check", "emt", "--reference", "emt", "--system", "one-element", "--bins", "10000000000"],
     "--bins: '10000000000': must be a whole number from 1 to 1,000,000"),
    (["md-check", "emt", "--reference", "emt", "--system", "one-element", "--timestep", "0"],
     "--timestep: '0': must be > 0"),
    (["select", GE, "-o", "OUT.extxyz", "--method", "fps", "--n", "1e400"], "--n '1e400': expected a count"),
    (["select", GE, "-o", "OUT.extxyz", "--threshold", "0.2", "--device", "tpu"], "--device: 'tpu'"),
    (["select", GE, "-o", "OUT.extxyz", "--threshold", "Ge=inf"], "threshold of Ge must be a finite number"),
    (["select", GE, "-o", "OUT.extxyz", "--threshold", "0.2", "--partition", "0"],
     "--partition: '0': must be a whole number"),
    (["select", GE, "-o", "OUT.extxyz", "--threshold", "0.2", "--cutoff", "-1"],
     "--cutoff: '-1': must be > 0"),
    (["select-features", GE, "--n", "0"], "--n '0': expected a count"),
    (["select-features", GE, "--n", "3", "--k", "0"], "--k: '0': must be a whole number"),
    (["sweep", GE, "-o", "OUT.csv", "--step", "1e-12"], "holds 3.5e+11 thresholds; at most 10,000"),
    (["sweep", GE, "-o", "OUT.csv", "--from", "inf"], "--from: 'inf' is not a finite number"),
    (["sweep", GE, "-o", "OUT.csv", "--to", "nan"], "--to: 'nan' is not a finite number"),
    (["compare", GE, "--output", "OUT.csv", "--sizes", "5,0"], "--sizes: '0': must be a whole number"),
    (["compare", GE, "--output", "OUT.csv", "--repeats", "0"], "--repeats: '0': must be a whole number"),
    (["compare", GE, "--output", "OUT.csv", "--methods", "fps,bogus"], "unknown selection method(s) bogus"),
    (["coverage", GE, GE, "--cutoff", "inf"], "--cutoff: 'inf' is not a finite number"),
    (["nft", GE, "--run-dir", "RUN", "--percentile", "100"], "--percentile: '100': must be >= 0 and < 100"),
    (["nft", GE, "--run-dir", "RUN", "--members", "0"], "--members: '0': must be a whole number"),
    (["nft", GE, "--run-dir", "RUN", "--fmax", "nan"], "--fmax: 'nan' is not a finite number"),
    (["nft", GE, "--run-dir", "RUN", "--hidden", "16,0"], "--hidden '16,0': each width must be from 1"),
    (["dashboard", "--port", "70000"], "--port: '70000': must be a whole number from 0 to 65,535"),
    (["dashboard", "--max-upload-mb", "inf"], "--max-upload-mb: 'inf' is not a finite number"),
]


@pytest.mark.parametrize("argv, words", ODD_OPTIONS, ids=[f"{a[0]}{a[-2]}={a[-1]}" for a, _ in ODD_OPTIONS])
def test_odd_option_values_are_refused_up_front(tmp_path, capsys, argv, words):
    argv = [a.replace("OUT", str(tmp_path / "out")).replace("RUN", str(tmp_path / "run")) for a in argv]
    code, _, last = _cli(argv, capsys)
    assert code == 2 and words in last, last
    assert list(tmp_path.iterdir()) == []  # refused before anything was written (no run folder either)


def test_threshold_range_refuses_what_it_cannot_hold():
    from atomsieve.selectors.studies import threshold_range

    for start, stop, step in [(0.1, np.inf, 0.1), (np.nan, 0.4, 0.1), (0.1, 0.4, 1e-9)]:
        with pytest.raises(ParameterError):
            threshold_range(start, stop, step)
    assert len(threshold_range(0.0, 1.0, 1e-3)) == 1001


# -- a rejected option must not lock a run folder ---------------------------------------------------
@pytest.mark.parametrize("settings, words", [
    ({"model_params": {"hidden": [0]}}, "hidden layer widths must be positive"),
    ({"model_params": {"max_epochs": 0}}, "max_epochs must be at least 1"),
    ({"model_params": {"bogus": 1}}, "model_params"),
    ({"n_members": 0}, "n_members must be from 1"),
    ({"descriptor_cutoff": float("nan")}, "descriptor_cutoff must be a positive distance"),
])
def test_a_rejected_model_setting_records_no_run(tmp_path, settings, words):
    from atomsieve.active.loop import NearsightedForceTraining
    from atomsieve.active.model import NFTEnsemble

    run = tmp_path / "run"
    nft = NearsightedForceTraining("emt", model=NFTEnsemble(**settings), run_dir=run, scheduler=None)
    target = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    with pytest.raises(ParameterError, match=words):
        nft.fit(target, emt_copper_cells(rattle=0.02))
    assert not run.exists()  # so a corrected run in the same folder is not refused for "other settings"


def test_an_unknown_parent_records_no_run(tmp_path):
    from atomsieve.active.loop import NearsightedForceTraining

    with pytest.raises(ParameterError, match="parent 'bogus' is unknown"):
        NearsightedForceTraining("bogus", run_dir=tmp_path / "run").fit(bulk("Cu", cubic=True))
    assert not (tmp_path / "run").exists()


# -- companion files are matched by content, not by counts ------------------------------------------
@pytest.fixture(scope="module")
def features_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("features") / "ge.npz"
    assert main(["featurize", GE, "-o", str(path)]) == 0
    return path


def _variant(tmp_path, change) -> str:
    frames = read(GE, ":")
    for atoms in frames:
        change(atoms)
    path = tmp_path / "variant.extxyz"
    write(path, frames)
    return str(path)


@pytest.mark.parametrize("change, words", [
    (lambda a: a.set_chemical_symbols(["Si"] * len(a)),
     "atom 0 is Ge in the features file, Si in the dataset"),
    (lambda a: a.rattle(0.01, seed=1), "same elements and counts, other positions or cells"),
], ids=["other-elements", "other-positions"])
def test_features_from_another_dataset_are_refused(tmp_path, capsys, features_file, change, words):
    other = _variant(tmp_path, change)
    code, _, last = _cli(["select", other, "--features", str(features_file), "--threshold", "0.3",
                          "-o", str(tmp_path / "sel.extxyz")], capsys)
    assert code == 2 and words in last, last
    assert not (tmp_path / "sel.extxyz").exists()


def test_features_of_the_same_structures_are_accepted(tmp_path, capsys, features_file):
    same = _variant(tmp_path, lambda a: a.info.update(note="relabelled"))  # other info, same structures
    code, out, _ = _cli(["select", same, "--features", str(features_file), "--threshold", "0.3",
                         "-o", str(tmp_path / "sel.extxyz")], capsys)
    assert code == 0 and "selected:" in out


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_a_bank_from_another_descriptor_is_refused(tmp_path, capsys, streamed):
    bank = tmp_path / "bank.npz"
    assert main(["select", GE, "--threshold", "0.3", "-o", str(tmp_path / "a.extxyz"),
                 "--bank-out", str(bank)]) == 0
    store = ["--store", str(tmp_path / "store")] if streamed else []
    code, _, last = _cli(["select", GE, "--threshold", "0.3", "--cutoff", "4.5", "--bank-in", str(bank),
                          *store, "-o", str(tmp_path / "b.extxyz")], capsys)
    assert code == 2 and "made with another descriptor" in last and "r_cut 6.0 against 4.5" in last, last
    assert not (tmp_path / "b.extxyz").exists() and not (tmp_path / "store").exists()
    if not streamed:
        return
    with pytest.raises(CacheError, match="r_cut 6.0 against 4.5"):
        from atomsieve.descriptors import preset
        from atomsieve.selectors import EnvironmentBank

        EnvironmentBank.load(bank).check_compatible(preset(None, ["Ge"], 4.5).compute(read(GE, ":2")))


# -- partial labels: one warning with counts, the same for every verb and the dashboard ---------------
@pytest.fixture(scope="module")
def partial_file(tmp_path_factory):
    frames = read(GE, ":8")
    for i in (2, 5):
        frames[i].calc = None  # structures 2 and 5 lose their energy and forces
    path = tmp_path_factory.mktemp("partial") / "partial.extxyz"
    write(path, frames)
    return str(path)


PARTIAL_VERBS = [
    ["info", "PATH"],
    ["featurize", "PATH", "-o", "TMP/f.npz"],
    ["select", "PATH", "--threshold", "0.3", "-o", "TMP/s.extxyz"],
    ["select", "PATH", "--method", "random", "--n", "3", "-o", "TMP/s.extxyz"],
    ["select-features", "PATH", "--n", "3"],
    ["sweep", "PATH", "--from", "0.2", "--to", "0.3", "--step", "0.1", "-o", "TMP/s.csv"],
    ["coverage", "PATH", "PATH"],
]


@pytest.mark.parametrize("argv", PARTIAL_VERBS, ids=[" ".join(a[:2:1][:1] + a[2:3]) for a in PARTIAL_VERBS])
def test_partial_labels_are_named_with_counts_by_every_verb(tmp_path, capsys, partial_file, argv):
    code, _, _ = _cli([a.replace("PATH", partial_file).replace("TMP", str(tmp_path)) for a in argv], capsys)
    assert code == 0
    main(["info", partial_file])  # the warning lines, as every verb prints them
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"atomsieve info: warning: {partial_file}: {kind} key {key!r} is present in 6 of 8 structures "
        f"(missing in structure 2, 5), so no {plural} are used; label every structure, or name the key "
        "to make this an error"
        for kind, key, plural in (("energy", "energy", "energies"), ("forces", "forces", "forces"))
    ]


def test_partial_labels_warn_once_per_verb_run(tmp_path, capsys, partial_file):
    argv = ["select", partial_file, "--threshold", "0.3", "-o", str(tmp_path / "s.extxyz")]
    code, _, _ = _cli(argv, capsys)
    assert code == 0
    main(["select", partial_file, "--threshold", "0.3", "-o", str(tmp_path / "t.extxyz")])
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "warning:" in ln]
    assert len(warnings) == 2 and all("present in 6 of 8 structures" in w for w in warnings)


def test_a_named_key_missing_in_some_structures_is_an_error_with_counts(capsys, partial_file):
    code, _, last = _cli(["info", partial_file, "--energy-key", "energy"], capsys)
    assert code == 2 and "energy key 'energy' is missing in 2 of 8 structures (2, 5)" in last


@pytest.mark.filterwarnings("ignore::atomsieve.errors.PartialLabelsWarning")
def test_dashboard_open_and_upload_carry_the_partial_label_notes(monkeypatch, partial_file):
    from atomsieve.app import data_panel
    from atomsieve.app.state import DatasetState
    from atomsieve.errors import PartialLabelsWarning

    with pytest.warns(PartialLabelsWarning, match="present in 6 of 8 structures"):
        state = DatasetState.from_path(partial_file)
    assert [n.split(":", 1)[1].split(" is present")[0] for n in state.dataset.label_notes] == [
        " energy key 'energy'", " forces key 'forces'"]
    shown = []
    monkeypatch.setattr(data_panel, "notify", lambda text, kind="error", *a: shown.append((kind, text)))
    panel = data_panel.DataPanel(state=state)
    with open(partial_file, "rb") as fh:
        ds = panel.upload_bytes("my set.extxyz", fh.read())
    assert ds is not None and ds.energies is None and ds.forces is None
    warnings = [text for kind, text in shown if kind == "warning"]
    assert len(warnings) == 2 and all(w.startswith("my set.extxyz: ") for w in warnings), shown
    assert all("present in 6 of 8 structures" in w and "atomsieve-upload-" not in w for w in warnings)
    shown.clear()
    panel.open_path(partial_file)
    assert [kind for kind, _ in shown].count("warning") == 2


# -- a check that checked nothing must not pass -------------------------------------------------------
def test_md_check_with_no_distance_in_range_is_inconclusive(capsys):
    code, out, _ = _cli(["md-check", "emt", "--reference", "emt", "--system", "one-element", "--atoms", "32",
                         "--steps", "20", "--equilibration", "10", "--sample-every", "10", "--nve-steps", "0",
                         "--r-max", "1.0", "--bins", "10"], capsys)
    assert code == 3
    assert out.startswith("verdict: inconclusive (the MD frames and the reference frames have no pair "
                          "distance below 1.00 Å")


# -- messages that name the real problem --------------------------------------------------------------
@pytest.mark.parametrize("option, key, words", [
    ("--forces-key", "energy", "forces key 'energy' has the wrong shape: structure 0 (63 atoms) holds one "
                               "number under it; forces need one row of 3 numbers per atom"),
    ("--energy-key", "forces", "energy key 'forces' has the wrong shape: structure 0 (63 atoms) holds an "
                               "array of shape (63, 3) under it; energies need one number per structure"),
    ("--energy-key", "config_type", "energy key 'config_type' is not numeric: structure 0 (63 atoms) "
                                    "holds text 'Vacancy' under it"),
    ("--energy-key", "U", "energy key 'U' is absent"),
])
def test_a_key_with_the_wrong_shape_is_not_called_absent(capsys, option, key, words):
    code, _, last = _cli(["info", GE, option, key], capsys)
    assert code == 2 and words in last, last


@pytest.mark.parametrize("content, words", [
    (None, "it holds text"),
    (b"\x80\x04\x95" + bytes(range(200)), "it holds binary data of another kind"),
    (b"PK\x03\x04" + b"\0" * 100, "a zip archive that holds no readable potential"),
], ids=["structure-file", "binary", "zip"])
def test_a_file_that_is_not_a_potential_says_so(tmp_path, capsys, content, words):
    model = tmp_path / "model.pt"
    model.write_bytes(open(GE, "rb").read() if content is None else content)
    code, _, last = _cli(["md-check", str(model), "--reference", "emt", "--system", "one-element"], capsys)
    assert code == 2 and f"{model}: not an atomsieve potential ({words}" in last, last
    assert "pickle" not in last.lower() and "torch" not in last.lower()


def test_an_unknown_device_name_is_a_parameter_error_everywhere():
    from atomsieve.descriptors import compute, jacobian, preset
    from atomsieve.device import resolve_device
    from atomsieve.potentials import bpnn
    from atomsieve.selectors import lebank_engines

    assert {m.resolve_device for m in (compute, jacobian, bpnn, lebank_engines)} == {resolve_device}
    with pytest.raises(ParameterError, match="device must be 'auto', 'cpu' or 'cuda'; got 'gpu7'"):
        resolve_device("gpu7")
    with pytest.raises(ParameterError, match="got 'gpu7'"):
        preset(None, ["Ge"]).compute(read(GE, ":1"), device="gpu7")
