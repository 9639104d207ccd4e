"""Shared fixtures. The browser fixtures serve `atomsieve dashboard` and drive it with Chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from servers import assert_no_atomsieve_exception, running

BPA = "/work/shared/data/3bpa_train_300K.xyz"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ATOMSIEVE_EXE = str(Path(sys.executable).with_name("atomsieve"))


@pytest.fixture(scope="session")
def dashboard_url():
    """URL of `atomsieve dashboard --no-show` on a free loopback port, served for the whole session."""
    from atomsieve.app.serve import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with running([ATOMSIEVE_EXE, "dashboard", "--port", str(port), "--no-show"], url) as log:
        yield url
    assert_no_atomsieve_exception(log)


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
