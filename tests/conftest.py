"""Shared fixtures. The browser fixtures serve `atomsieve dashboard` and drive it with Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

BPA = "/work/shared/data/3bpa_train_300K.xyz"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ATOMSIEVE_EXE = str(Path(sys.executable).with_name("atomsieve"))


def _wait_for_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited early: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=90) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="session")
def dashboard_url():
    """URL of `atomsieve dashboard --no-show` on a free loopback port, served for the whole session."""
    from atomsieve.app.serve import free_port

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="atomsieve-dashboard-")) / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [ATOMSIEVE_EXE, "dashboard", "--port", str(port), "--no-show"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "BOKEH_LOG_LEVEL": "warn"},
        )
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    # Exceptions through atomsieve's code are failures; tornado's "websocket closed" noise when a
    # browser tab goes away mid-message is not.
    text = log.read_text()
    assert "src/atomsieve/" not in text, f"the dashboard server logged an exception:\n{text[-4000:]}"


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium under Playwright; the browser tests are skipped where it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def dashboard_page(chromium, dashboard_url):
    """A fresh browser session on the served dashboard, rendered and idle."""
    context = chromium.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(dashboard_url)
    page.wait_for_selector("text=Open a dataset")
    yield page
    context.close()


@pytest.fixture(scope="module")
def ge_frames():
    """Three periodic germanium structures (the embedded test split)."""
    import atomsieve

    return atomsieve.datasets.load_default("test").atoms[:3]


@pytest.fixture(scope="module")
def bpa_frames():
    """Three 3BPA molecules (C/H/N/O), or small C/H/N/O molecules when the shared data are absent."""
    from ase.build import molecule
    from ase.io import read

    if os.path.exists(BPA):
        return read(BPA, ":3")
    return [molecule("CH3CONH2"), molecule("CH3NO2"), molecule("HCOOH")]
