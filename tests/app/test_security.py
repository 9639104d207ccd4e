"""Security of the served dashboard: bind address, upload limit, no unpickling, confined paths, safe names."""

from __future__ import annotations

import gzip
import inspect
import pathlib
import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomsieve.app import security
from atomsieve.app.data_panel import DataPanel
from atomsieve.app.export import export_name
from atomsieve.app.security import check_upload, confine_path, safe_filename, set_upload_limit, upload_limit
from atomsieve.app.serve import serve
from atomsieve.app.state import DatasetState
from atomsieve.cli import build_parser, main
from atomsieve.datasets import default_path
from atomsieve.errors import DataError, ParameterError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _TouchOnLoad:
    """Unpickling this creates ``marker``: proof that a file was unpickled."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def limit_reset():
    yield
    set_upload_limit(None)


@pytest.fixture(scope="module")
def state():
    return DatasetState.from_path()


# -- bind address -------------------------------------------------------------------------------
def test_serves_on_loopback_by_default():
    args = build_parser().parse_args(["dashboard"])
    assert args.address == "127.0.0.1"
    assert inspect.signature(serve).parameters["address"].default == "127.0.0.1"
    for address in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        security.check_bind(address, None)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_non_loopback_address_needs_explicit_origins(address, capsys):
    with pytest.raises(ParameterError, match="--allow-websocket-origin"):
        serve(address=address, port=0)
    # The CLI refuses it with one line and exit status 2, before loading data or binding a port.
    assert main(["dashboard", "--address", address, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "exposes the dashboard beyond this machine" in err and "Traceback" not in err
    security.check_bind(address, [f"{address}:5006"])  # with origins named it is allowed


# -- uploads ------------------------------------------------------------------------------------
def test_upload_limit_is_enforced_and_settable(state, limit_reset):
    assert upload_limit() == security.UPLOAD_LIMIT_BYTES
    good = default_path("test").read_bytes()
    set_upload_limit(len(good) / (1024 * 1024) * 0.5)  # half the file's size
    before = state.dataset
    with pytest.raises(DataError, match="over the upload limit"):
        state.load_upload("ge.extxyz", good)
    assert state.dataset is before
    set_upload_limit(len(good) / (1024 * 1024) * 2)
    assert len(state.load_upload("ge.extxyz", good)) == 25
    for bad in (0, -1, "x", 1e9):
        with pytest.raises(ParameterError, match="max-upload-mb"):
            set_upload_limit(bad)


def test_upload_panel_states_the_limit_in_force(limit_reset):
    set_upload_limit(3)
    panel = DataPanel(state=DatasetState.from_path())
    assert "3 MB" in panel.upload_note.object
    assert "pkl" not in panel.upload.accept and "py" not in panel.upload.accept.split(",")


def _payloads(marker: pathlib.Path) -> dict[str, bytes]:
    evil = pickle.dumps(_TouchOnLoad(marker), protocol=4)
    buffer = __import__("io").BytesIO()
    np.save(buffer, np.array([_TouchOnLoad(marker)], dtype=object), allow_pickle=True)
    return {
        "evil.pkl": evil,
        "evil.pickle": pickle.dumps(_TouchOnLoad(marker), protocol=2),
        "disguised.extxyz": evil,                      # pickle content under an allowed name
        "disguised.traj": evil,
        "disguised.json": pickle.dumps(_TouchOnLoad(marker), protocol=5),
        "array.npy": buffer.getvalue(),
        "script.py": f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n".encode(),
        "notebook.ipynb": b'{"cells": []}',
        "evil.pkl.gz": gzip.compress(evil),
        "disguised.extxyz.gz": gzip.compress(evil),  # pickle inside an allowed, compressed name
        "model.pt": evil,
    }


def test_pickled_or_code_running_uploads_are_refused_and_never_run(state, tmp_path):
    marker = tmp_path / "was_unpickled"
    before = state.dataset
    for name, content in _payloads(marker).items():
        with pytest.raises(DataError, match="refused"):
            state.load_upload(name, content)
        assert not marker.exists(), f"{name} ran code"
    assert state.dataset is before


def test_code_running_files_are_refused_by_path_too(tmp_path):
    marker = tmp_path / "was_unpickled"
    data = tmp_path / "data"
    data.mkdir()
    state = DatasetState.from_path(data_dir=data)
    for name, content in _payloads(marker).items():
        (data / name).write_bytes(content)
        with pytest.raises(DataError):
            state.load_path(data / name)
        assert not marker.exists(), f"{name} ran code"


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_uploads_read_as_the_plain_file(compression):
    import bz2
    import lzma

    plain = default_path("test").read_bytes()
    packed = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[compression](plain)
    state = DatasetState.from_path()
    ds = state.load_upload(f"ge.extxyz.{compression}", packed)
    reference = DatasetState.from_path().load_upload("ge.extxyz", plain)
    assert ds.content_hash() == reference.content_hash() and len(ds) == 25
    assert f".{compression}" in DataPanel(state=state).upload.accept.split(",")
    with pytest.raises(DataError, match=r"optionally followed by \.gz or \.bz2 or \.xz"):
        check_upload(f"notes.txt.{compression}", packed)


def test_upload_name_cannot_place_a_file(state, tmp_path):
    target = tmp_path / "escaped.extxyz"
    ds = state.load_upload(f"../../../{target}", default_path("test").read_bytes())
    assert len(ds) == 25 and not target.exists()
    assert check_upload("..\\..\\x y.xyz", b"1\n\nGe 0 0 0\n") == "x_y.xyz"


# -- open by path -------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ge.extxyz").write_bytes(default_path("test").read_bytes())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.extxyz").write_bytes(default_path("test").read_bytes())
    (root / "link_out.extxyz").symlink_to(outside / "secret.extxyz")
    (root / "dir_out").symlink_to(outside, target_is_directory=True)
    (root / "link_in.extxyz").symlink_to(root / "sub" / "ge.extxyz")
    return root


def test_open_by_path_stays_inside_the_data_folder(data_dir):
    state = DatasetState.from_path(data_dir=data_dir)
    assert len(state.load_path(data_dir / "sub" / "ge.extxyz")) == 25
    assert len(state.load_path("sub/ge.extxyz")) == 25          # relative: inside the folder
    assert len(state.load_path("link_in.extxyz")) == 25         # a link that stays inside
    before = state.dataset
    refused = [
        "../outside/secret.extxyz", "sub/../../outside/secret.extxyz", str(data_dir / ".." / "outside"),
        "/etc/passwd", "~/secret.extxyz", "link_out.extxyz", "dir_out/secret.extxyz",
        str(default_path("test")),
    ]
    for path in refused:
        with pytest.raises(DataError, match="outside the data folder"):
            state.load_path(path)
    for path in ("", "   ", "sub/ge.extxyz\x00.png"):
        with pytest.raises(DataError):
            state.load_path(path)
    assert state.dataset is before


def test_open_path_field_notifies_instead_of_raising(data_dir):
    panel = DataPanel(state=DatasetState.from_path(data_dir=data_dir))
    before = panel.state.dataset
    assert panel.open_path("../outside/secret.extxyz") is None
    assert panel.open_path("link_out.extxyz") is None
    assert panel.state.dataset is before


def test_without_a_data_folder_paths_resolve_normally(tmp_path):
    assert confine_path(tmp_path / "a" / ".." / "b.extxyz") == (tmp_path / "b.extxyz").resolve()


# -- export names -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\win.ini", ".bashrc", "...", "/", "",
                                  "a/b/c.extxyz", "x;rm -rf ~.db", "naïve résumé.extxyz", "\x00\n\t.db",
                                  "CON", "-rf", "a" * 500])
def test_export_names_are_sanitised(name):
    for out in (safe_filename(name), export_name(name, ".extxyz"), export_name(name, ".db")):
        assert SAFE_NAME.match(out), out
        assert "/" not in out and "\\" not in out and ".." not in out[:2] and len(out) <= 130


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_export_names_are_sanitised_for_any_text(name):
    out = export_name(name, ".extxyz")
    assert SAFE_NAME.match(out) and out.endswith(".extxyz") and len(out) <= 130


def test_export_panel_offers_only_safe_names():
    from atomsieve.app.export_panel import ExportPanel

    panel = ExportPanel(data=DatasetState.from_path())
    for widget in (panel.subset_download, panel.bank_download, panel.curves_download):
        assert SAFE_NAME.match(widget.filename), widget.filename
