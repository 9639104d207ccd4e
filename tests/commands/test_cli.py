"""The command line as a user runs it: the installed `atomsieve` entry point in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import wait_for_http

from atomsieve.app.serve import free_port
from atomsieve.datasets import default_path

EXE = str(Path(sys.executable).with_name("atomsieve"))


def run_cli(*args, timeout=120):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def test_info_prints_counts_elements_and_keys():
    out = run_cli("info", str(default_path("test")))
    assert out.returncode == 0, out.stderr
    assert "structures:  25" in out.stdout
    assert "atoms:       1568" in out.stdout
    assert "Ge  1568 atoms" in out.stdout
    assert "energy key:  energy" in out.stdout and "forces key:  forces" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "absent.extxyz"], "no such file"),
        (["info", str(default_path("test")), "--energy-key", "U"], "energy key 'U' is absent"),
    ],
)
def test_info_errors_are_one_line_without_traceback(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_garbled_file_error(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("3\nProperties=species:S:1:pos:R:3\nGe 0 0\n")
    out = run_cli("info", str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr and "Traceback" not in out.stderr


def test_dashboard_refuses_public_address_without_origin():
    out = run_cli("dashboard", "--address", "0.0.0.0", "--port", str(free_port()))
    assert out.returncode == 2 and "--allow-websocket-origin" in out.stderr


def test_dashboard_answers_http_200_on_loopback():
    port = free_port()
    proc = subprocess.Popen(
        [EXE, "dashboard", "--port", str(port), "--no-show"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BOKEH_LOG_LEVEL": "error"},
    )
    try:
        status, body = wait_for_http(f"http://127.0.0.1:{port}/", proc, seconds=240)
        assert status == 200
        assert "atomsieve" in body
        # the command restarted itself on the system allocator (memory returns after sessions close)
        assert b"PYTHONMALLOC=malloc" in Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_dashboard_bad_path_fails_before_serving():
    out = run_cli("dashboard", "absent.extxyz", "--port", str(free_port()))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_dashboard_refuses_a_bad_upload_limit():
    out = run_cli("dashboard", "--max-upload-mb", "-1", "--port", str(free_port()))
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.strip()
