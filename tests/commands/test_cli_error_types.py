"""One error type per kind of failure, whichever verb meets it (issue 21).

Each kind of bad input is given to every verb that takes it; with ``--debug`` the exception comes
through and must be the one type for that kind, and without it every verb prints one line and exits 2.
"""

from __future__ import annotations

import pytest

from atomsieve.active.parents import ParentError
from atomsieve.cli import main
from atomsieve.datasets import default_path
from atomsieve.errors import CacheError, DataError, ParameterError

GE = str(default_path("test"))  # 25 structures

#: kind of failure -> (the one type, argvs of the verbs that meet it). T is a fresh folder holding
#: a garbled file bad.extxyz and an existing file old.* for each output suffix.
KINDS = {
    "missing input file": (DataError, [
        ["info", "T/nope.extxyz"],
        ["featurize", "T/nope.extxyz", "-o", "T/o.npz"],
        ["select", "T/nope.extxyz", "-o", "T/o.extxyz", "--threshold", "0.3"],
        ["select-features", "T/nope.extxyz", "--n", "3"],
        ["sweep", "T/nope.extxyz", "-o", "T/o.csv"],
        ["compare", "T/nope.extxyz", "--output", "T/o.csv"],
        ["compare", GE, "--output", "T/o.csv", "--test", "T/nope.extxyz"],
        ["coverage", "T/nope.extxyz", GE],
        ["chemiscope", "T/nope.extxyz", "-o", "T/o.json.gz"],
        ["chemiscope", GE, "-o", "T/o.json.gz", "--selection", "T/nope.json"],
        ["nft", "T/nope.extxyz", "--run-dir", "T/run"],
        ["md-check", "emt", "--reference", "emt", "--system", "T/nope.extxyz"],
        ["md-check", "T/nope.pt", "--reference", "emt", "--system", "one-element"],
        ["select", GE, "-o", "T/o.extxyz", "--features", "T/nope.npz", "--threshold", "0.3"],
        ["select", GE, "-o", "T/o.extxyz", "--bank-in", "T/nope.npz", "--threshold", "0.3"],
    ]),
    "garbled structure file": (DataError, [
        ["info", "T/bad.extxyz"],
        ["featurize", "T/bad.extxyz", "-o", "T/o.npz"],
        ["select", "T/bad.extxyz", "-o", "T/o.extxyz", "--threshold", "0.3"],
        ["select-features", "T/bad.extxyz", "--n", "3"],
        ["sweep", "T/bad.extxyz", "-o", "T/o.csv"],
        ["compare", GE, "--output", "T/o.csv", "--test", "T/bad.extxyz"],
        ["coverage", "T/bad.extxyz", GE],
        ["chemiscope", "T/bad.extxyz", "-o", "T/o.json.gz"],
        ["nft", "T/bad.extxyz", "--run-dir", "T/run"],
        ["md-check", "emt", "--reference", "emt", "--system", "T/bad.extxyz"],
    ]),
    "garbled features or bank file": (CacheError, [
        ["select", GE, "-o", "T/o.extxyz", "--features", "T/bad.extxyz", "--threshold", "0.3"],
        ["select", GE, "-o", "T/o.extxyz", "--bank-in", "T/bad.extxyz", "--threshold", "0.3"],
    ]),
    "output exists without --overwrite": (DataError, [
        ["build", "one-element", "-o", "T/old.extxyz"],
        ["generate", "-o", "T/old.extxyz"],
        ["featurize", GE, "-o", "T/old.npz"],
        ["select", GE, "-o", "T/old.extxyz", "--threshold", "0.3"],
        ["select", GE, "-o", "T/o.extxyz", "--threshold", "0.3", "--store", "T/old.extxyz"],
        ["select-features", GE, "--n", "3", "-o", "T/old.json"],
        ["sweep", GE, "-o", "T/old.csv"],
        ["compare", GE, "--output", "T/old.csv"],
        ["chemiscope", GE, "-o", "T/old.json.gz"],
        ["coverage", GE, GE, "--store", "T/old.extxyz"],
    ]),
    "output folder missing": (DataError, [
        ["build", "one-element", "-o", "T/no/o.extxyz"],
        ["generate", "-o", "T/no/o.extxyz"],
        ["featurize", GE, "-o", "T/no/o.npz"],
        ["select", GE, "-o", "T/no/o.extxyz", "--threshold", "0.3"],
        ["select", GE, "-o", "T/o.extxyz", "--threshold", "0.3", "--store", "T/no/store"],
        ["select-features", GE, "--n", "3", "-o", "T/no/o.json"],
        ["sweep", GE, "-o", "T/no/o.csv"],
        ["compare", GE, "--output", "T/no/o.csv"],
        ["chemiscope", GE, "-o", "T/no/o.json.gz"],
        ["coverage", GE, GE, "--store", "T/no/store"],
    ]),
    "query for a file that is no database": (ParameterError, [
        ["info", GE, "--query", "natoms<10"],
        ["featurize", GE, "-o", "T/o.npz", "--query", "natoms<10"],
        ["select", GE, "-o", "T/o.extxyz", "--threshold", "0.3", "--query", "natoms<10"],
        ["compare", GE, "--output", "T/o.csv", "--query", "natoms<10"],
    ]),
    "unknown element": (ParameterError, [
        ["select", GE, "-o", "T/o.extxyz", "--threshold", "Xx=0.3"],
        ["chemiscope", GE, "-o", "T/o.json.gz", "--threshold", "Xx=0.3"],
        ["sweep", GE, "-o", "T/o.csv", "--element", "Xx"],
        ["build", "one-element", "-o", "T/o.extxyz", "--element", "Xx"],
        ["generate", "-o", "T/o.extxyz", "--element", "Xx"],
    ]),
    "parent cannot label the element": (ParentError, [
        ["nft", GE, "--run-dir", "T/run"],  # EMT has no germanium
    ]),
}
CASES = [(kind, error, argv) for kind, (error, runs) in KINDS.items() for argv in runs]


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "bad.extxyz").write_text("garbage\n")
    for suffix in (".extxyz", ".npz", ".json", ".csv", ".json.gz"):
        (tmp_path / f"old{suffix}").write_text("old\n")
    return tmp_path


@pytest.mark.parametrize("kind, error, argv", CASES,
                         ids=[f"{kind}: {' '.join(a[:1] + [x for x in a[1:] if x.startswith('-')])}"
                              for kind, _, a in CASES])
def test_every_verb_raises_one_type_per_kind_of_failure(folder, capsys, kind, error, argv):
    argv = [a.replace("T/", f"{folder}/") for a in argv]
    before = sorted(folder.rglob("*"))
    with pytest.raises(error) as caught:
        main(["--debug", *argv])
    assert type(caught.value) is error, f"{kind}: {type(caught.value).__name__}: {caught.value}"
    capsys.readouterr()
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if ": warning: " not in line]
    assert len(err) == 1 and err[0].startswith(f"atomsieve {argv[0]}: error: "), err
    assert "Traceback" not in err[0]
    assert sorted(folder.rglob("*")) == before  # refused before anything was written
