"""Issue 20, file-system faults: a full disk, a read-only folder, killed writes and several outputs.

Every verb that writes ends with exit 2 and one line naming the output path the user gave and what
went wrong, and leaves nothing behind. The full disk and the read-only folder are real file systems
(a small tmpfs mounted for the test), so these tests need root; elsewhere they are skipped.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emt_data import emt_copper_cells

from atomsieve.cli import main
from atomsieve.data import atomic_group, atomic_path, load, save
from atomsieve.data.io import TEMP_PREFIX, remove_stale_temporaries
from atomsieve.datasets import default_path
from atomsieve.errors import StorageError, describe_os_error, os_problem

GE = str(default_path("test"))  # 25 structures, 1568 atoms


def _mount(folder: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for a real full or read-only disk needs root")
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 1 MiB tmpfs filled to the last byte (a filler file takes every block)."""
    folder = tmp_path / "full"
    _mount(folder, "size=1m")
    try:
        with open(folder / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path):
    """A folder on a tmpfs mounted read-only (root ignores permission bits, not a read-only mount)."""
    folder = tmp_path / "ro"
    _mount(folder, "size=1m,ro")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _features(tmp_path_factory) -> str:
    path = tmp_path_factory.getbasetemp() / "reliability-features.npz"
    if not path.exists():
        assert main(["featurize", GE, "-o", str(path)]) == 0
    return str(path)


#: (verb arguments with OUT for the output path, output file name): every verb that writes a file.
WRITERS = [
    (["featurize", GE, "-o", "OUT"], "features.npz"),
    (["select", GE, "--threshold", "Ge=0.275", "-o", "OUT"], "selected.extxyz"),
    (["select", GE, "--threshold", "Ge=0.275", "-o", "OUT"], "selected.db"),
    (["select", GE, "--method", "random", "--n", "5", "-o", "OUT"], "selected.traj"),
    (["select-features", GE, "--n", "5", "-o", "OUT"], "functions.json"),
    (["sweep", GE, "--from", "0.2", "--to", "0.3", "--step", "0.05", "-o", "OUT"], "sweep.csv"),
    (["generate", "--configs", "1", "--atoms", "4", "--steps", "5", "--cell", "6,6,6", "-o", "OUT"],
     "generated.extxyz"),
    (["md-check", "emt", "--reference", "emt", "--system", "one-element", "--atoms", "32", "--steps", "20",
      "--equilibration", "10", "--sample-every", "10", "--nve-steps", "0", "-o", "OUT"], "report.json"),
]


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv, name", WRITERS, ids=[f"{a[0]}-{n}" for a, n in WRITERS])
def test_full_disk_names_the_output_and_leaves_nothing(full_disk, capsys, argv, name):
    out = full_disk / name
    code, err = _run([str(out) if a == "OUT" else a for a in argv], capsys)
    last = err.splitlines()[-1]
    assert code == 2, err
    assert f"{out}: cannot be written: no space left on the device holding {full_disk}" in last
    assert TEMP_PREFIX not in err and "Traceback" not in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # nothing left behind


@pytest.mark.parametrize("argv, name", WRITERS, ids=[f"{a[0]}-{n}" for a, n in WRITERS])
def test_read_only_folder_names_the_output(read_only, capsys, argv, name):
    out = read_only / name
    code, err = _run([str(out) if a == "OUT" else a for a in argv], capsys)
    assert code == 2, err
    assert f"{out}: cannot be written: {read_only} is on a read-only file system" in err.splitlines()[-1]
    assert not list(read_only.iterdir())


def test_selection_and_bank_are_written_all_or_nothing(full_disk, tmp_path, capsys):
    """The selection goes to a healthy folder, the bank to a full disk: neither may appear."""
    selected = tmp_path / "selected.extxyz"
    code, err = _run(["select", GE, "--threshold", "Ge=0.275", "-o", str(selected),
                      "--bank-out", str(full_disk / "bank.npz")], capsys)
    assert code == 2 and "no space left" in err
    assert not selected.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


def test_compare_table_and_plot_are_written_all_or_nothing(full_disk, tmp_path, capsys):
    """The table goes to a healthy folder, the plot to a full disk: neither may appear."""
    table = tmp_path / "curves.csv"
    code, err = _run(["compare", GE, "--sizes", "5", "--methods", "random", "--output", str(table),
                      "--plot", str(full_disk / "curves.png")], capsys)
    assert code == 2 and f"{full_disk / 'curves.png'}: cannot be written: no space left" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_atomic_group_keeps_old_content_when_a_later_file_fails(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    with pytest.raises(RuntimeError):
        with atomic_group():
            with atomic_path(first, overwrite=True) as tmp:
                tmp.write_text("new a")
            with atomic_path(second) as tmp:
                tmp.write_text("new b")
            raise RuntimeError("the third output failed")
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_group():
        with atomic_path(first, overwrite=True) as tmp:
            tmp.write_text("new a")
        with atomic_path(second) as tmp:
            tmp.write_text("new b")
        assert first.read_text() == "old a"  # nothing is renamed before the group ends
    assert (first.read_text(), second.read_text()) == ("new a", "new b")


KILLED_WRITER = """
import sys, time
from atomsieve.data import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"x" * 2_000_000)
    print("written", flush=True)
    time.sleep(120)
"""


def test_a_killed_write_is_cleaned_by_the_next_write(tmp_path):
    target = tmp_path / "out.extxyz"
    killed = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE,
                              text=True)
    alive = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "other.extxyz")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout.readline().strip() == "written"
        assert alive.stdout.readline().strip() == "written"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        stale = [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
        assert len(stale) == 2 and all(".out.extxyz." in p.name or ".other.extxyz." in p.name for p in stale)
        save(load(GE, index=":2"), target)  # a later write into the same folder
        left = [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
        assert len(left) == 1 and f".{alive.pid}.other.extxyz." in left[0]  # a running write is kept
        assert len(load(target)) == 2
    finally:
        alive.kill()
        alive.wait()
    time.sleep(0.1)
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.extxyz"]


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left on the device holding /data"),
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "/data is on a read-only file system"),
    (errno.EDQUOT, "disk quota exceeded on the device holding /data"),
])
def test_os_errors_in_words(code, words):
    assert os_problem(OSError(code, os.strerror(code)), "/data") == words
    wrapped = RuntimeError("writer failed")
    wrapped.__cause__ = OSError(code, os.strerror(code))
    assert os_problem(wrapped, "/data") == words
    assert describe_os_error(OSError(code, os.strerror(code), "/data/x.npz")) == f"/data/x.npz: {words}"


def test_sqlite_full_disk_is_named(tmp_path):
    import sqlite3

    error = sqlite3.OperationalError("database or disk is full")
    assert os_problem(error, tmp_path) == f"no space left on the device holding {tmp_path}"



def test_dashboard_names_a_file_system_fault_not_an_unexpected_error(monkeypatch, tmp_path):
    """Open-by-path and upload go through ``guarded``: a fault reads as the file and what went wrong."""
    from atomsieve.app import notify as notify_module
    from atomsieve.app.state import DatasetState

    shown = []
    monkeypatch.setattr(notify_module, "notify", lambda text, *a, **k: shown.append(text))
    fault = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "set.extxyz"))
    notify_module.guarded("Open set.extxyz", lambda: (_ for _ in ()).throw(fault))
    assert shown == [f"Open set.extxyz: {tmp_path / 'set.extxyz'}: permission denied"]

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    state = DatasetState.from_path()
    with pytest.raises(StorageError, match=r"^my set\.extxyz: cannot be stored for reading: no space left on "
                                           r"the device holding "):
        state.load_upload("my set.extxyz", b"1\nPBC\nGe 0 0 0\n")


def test_a_run_folder_is_created_all_or_nothing(full_disk):
    """nft's run folder, settings, target and initial cells: a full disk leaves no half-made folder."""
    from ase.build import bulk

    from atomsieve.active.loop import NearsightedForceTraining
    from atomsieve.active.model import NFTEnsemble

    cells = emt_copper_cells()
    run = full_disk / "run"
    nft = NearsightedForceTraining("emt", model=NFTEnsemble(n_members=2, model="linear"), run_dir=run,
                                   scheduler=None)
    with pytest.raises(StorageError, match="no space left on the device holding"):
        nft.fit(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2), cells)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_build_refuses_a_read_only_folder_before_the_md(read_only, capsys, monkeypatch):
    import atomsieve.builders

    def no_md(*args, **kwargs):
        raise AssertionError("the MD started although the output cannot be written")

    monkeypatch.setattr(atomsieve.builders, "build", no_md)
    out = read_only / "pool.extxyz"
    code, err = _run(["build", "one-element", "--structures", "2", "-o", str(out)], capsys)
    assert code == 2 and err == f"atomsieve build: error: {out}: cannot be written: {read_only} is on a " \
                                "read-only file system"


SAVER = """
import sys
from atomsieve import load, save
from atomsieve.errors import StorageError
for step in (lambda: save(load(sys.argv[1], index=":2"), sys.argv[2]), lambda: load(sys.argv[3])):
    try:
        step()
    except StorageError as exc:
        print(exc)
"""


def test_a_folder_without_write_permission_is_named():
    """Root ignores permission bits, so as root the writer runs as user 'nobody' (setpriv)."""
    import shutil
    import tempfile

    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root a permission test needs setpriv to run the writer as another user")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    base = Path(tempfile.mkdtemp(prefix="atomsieve-permission-"))  # /tmp: reachable by that user
    try:
        base.chmod(0o755)
        (base / "home").mkdir(mode=0o777)
        (base / "home").chmod(0o777)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        out, secret = locked / "x.extxyz", base / "secret.extxyz"
        secret.write_text(Path(GE).read_text())
        secret.chmod(0o600 if prefix else 0o000)
        done = subprocess.run([*prefix, sys.executable, "-c", SAVER, GE, str(out), str(secret)],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HOME": str(base / "home")})
        expected = [f"{out}: cannot be written: permission denied",
                    f"{secret}: cannot be read: permission denied"]
        assert done.stdout.strip().splitlines() == expected, done.stderr
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_compiled_kernels_load_for_a_user_without_a_writable_home():
    """numba raised 'no locator available' on import when it could write neither beside the
    sources nor in the user's cache folder (a shared installation, a read-only home)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the import as a user who can write neither folder")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
         "import atomsieve.descriptors.neighbors, os; print(os.environ['NUMBA_CACHE_DIR'])"],
        capture_output=True, text=True, timeout=300, cwd="/", env={**env, "HOME": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("atomsieve-numba-65534")


def test_a_feature_store_on_a_full_disk_names_the_store(full_disk):
    from atomsieve.descriptors import SymmetryFunctions
    from atomsieve.descriptors.store import FeatureStore

    store = full_disk / "store"
    with pytest.raises(StorageError, match=f"^{store}: cannot be written: no space left on the device"):
        FeatureStore.build(GE, store, SymmetryFunctions.li_single_element(["Ge"]), partition_size=10)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_ensemble_checkpoints_go_through_atomic_writes(full_disk):
    from atomsieve.active.model import NFTEnsemble

    cells = emt_copper_cells()
    model = NFTEnsemble(n_members=2, model="linear").with_elements(["Cu"])
    model.fit(cells, [])
    folder = full_disk / "checkpoint"
    with pytest.raises(StorageError, match=f"^{folder / 'weights.pt'}: cannot be written: no space left"):
        model.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == []  # no hidden .weights.pt.tmp left behind
