"""Bad input loses nothing: generated malformed files give the project's clear error, and an export
killed mid-write leaves the previous file intact."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomsieve import DataError, Dataset, load
from atomsieve.cli import main
from atomsieve.datasets import default_path

GOOD = default_path("test").read_text().split("\n")
GOOD_TEXT = "\n".join(GOOD[: 2 * (int(GOOD[0]) + 2)]) + "\n"  # the first two structures
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutations():
    """Malformed variants of a valid extxyz file: truncated, garbled, wrong counts, NaN, huge numbers,
    wrong encodings, binary."""
    text = st.just(GOOD_TEXT)
    truncated = st.integers(1, len(GOOD_TEXT) - 1).map(lambda n: GOOD_TEXT[:n].encode())
    garbled = st.tuples(st.integers(0, len(GOOD_TEXT) - 1), st.binary(min_size=1, max_size=40)).map(
        lambda t: GOOD_TEXT.encode()[: t[0]] + t[1] + GOOD_TEXT.encode()[t[0] + len(t[1]):]
    )
    counts = st.integers(-5, 10**9).map(lambda n: (str(n) + GOOD_TEXT[GOOD_TEXT.index("\n"):]).encode())
    token = st.sampled_from(["nan", "inf", "-inf", "1e308", "1e400", "NaN", "0x10", "", "🙂", "1,5"])
    numbers = st.tuples(st.integers(0, 300), token).map(_replace_number)
    encoded = st.sampled_from(["utf-16", "utf-32", "cp500"]).map(lambda enc: GOOD_TEXT.encode(enc))
    binary = st.binary(min_size=1, max_size=2000)
    lines = st.lists(st.sampled_from(GOOD_TEXT.split("\n")), min_size=1, max_size=20).map(
        lambda ls: "\n".join(ls).encode()
    )
    return st.one_of(truncated, garbled, counts, numbers, encoded, binary, lines, text.map(str.encode))


def _replace_number(args) -> bytes:
    k, token = args
    words = GOOD_TEXT.split(" ")
    numeric = [i for i, w in enumerate(words) if w.strip().replace(".", "").replace("-", "").isdigit()]
    i = numeric[k % len(numeric)]
    words[i] = token + ("\n" if words[i].endswith("\n") else "")
    return " ".join(words).encode()


def _check_dataset(ds: Dataset) -> None:
    for atoms in ds.atoms:
        assert len(atoms) > 0 and np.isfinite(atoms.positions).all()


@FUZZ
@given(content=_mutations(), suffix=st.sampled_from([".extxyz", ".xyz", ".db", ".json", ".traj", ".cif"]))
def test_loader_never_fails_unclearly(tmp_path_factory, content, suffix):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / f"input{suffix}"
    path.write_bytes(content)
    try:
        _check_dataset(load(path))
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc).strip()
    assert [p.name for p in folder.iterdir()] == [path.name]  # nothing written beside it


@FUZZ
@given(content=_mutations())
def test_cli_prints_one_line_and_no_traceback(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("cli") / "input.extxyz"
    path.write_bytes(content)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["info", str(path)])
    assert code in (0, 2)
    if code:
        assert len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue()


def test_symlinks_and_special_paths(tmp_path):
    good = tmp_path / "good.extxyz"
    good.write_text(GOOD_TEXT)
    (tmp_path / "link.extxyz").symlink_to(good)
    assert len(load(tmp_path / "link.extxyz")) == 2
    (tmp_path / "dangling.extxyz").symlink_to(tmp_path / "absent.extxyz")
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "dangling.extxyz")
    (tmp_path / "loop.extxyz").symlink_to(tmp_path / "loop.extxyz")
    with pytest.raises(DataError):
        load(tmp_path / "loop.extxyz")
    with pytest.raises(DataError, match="directory"):
        load(tmp_path)


WRITER = """
import sys
from atomsieve import load, save
ds = load(sys.argv[1])
big = ds.subset(list(range(len(ds))) * 40)
print("writing", flush=True)
save(big, sys.argv[2], overwrite=True)
print("done", flush=True)
"""


@pytest.mark.parametrize("suffix", [".extxyz", ".db"])
def test_export_killed_mid_write_leaves_previous_file(tmp_path, suffix):
    target = tmp_path / f"export{suffix}"
    from atomsieve import save

    save(load(default_path("test"), index=":1"), target)
    before = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(default_path("test")), str(target)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)  # the write of ~1000 structures takes seconds; kill it part-way
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = target.read_bytes()
    if after != before:  # the rename happened before the kill: then the file must be complete
        assert len(load(target)) == 1000
    else:
        assert len(load(target)) == 1
    leftovers = [p for p in tmp_path.iterdir() if p.name != target.name]
    from atomsieve.data.io import TEMP_PREFIX

    assert all(p.name.startswith(TEMP_PREFIX) for p in leftovers)  # only recognisable temp folders
