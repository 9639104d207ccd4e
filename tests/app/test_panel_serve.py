"""`panel serve` of the dashboard's file and of the notebook, answered in headless Chromium."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from servers import assert_no_atomsieve_exception, running
from test_browser import card_value, wait_for_selection

from atomsieve.datasets import default_path

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
PANEL_EXE = str(Path(sys.executable).with_name("panel"))
APP = ROOT / "src" / "atomsieve" / "app" / "panel_app.py"
NOTEBOOK = ROOT / "notebooks" / "dashboard_in_jupyter.ipynb"


@pytest.fixture(scope="module")
def panel_server():
    """One `panel serve` process serving the app file (on the 25-structure test split) and the notebook."""
    from atomsieve.app.serve import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [PANEL_EXE, "serve", str(APP), str(NOTEBOOK), "--address", "127.0.0.1", "--port", str(port),
               "--args", str(default_path("test"))]
    with running(command, f"{base}/panel_app") as log:
        yield base, log
    assert_no_atomsieve_exception(log)


def open_page(chromium, url: str):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    outside = []  # every request must stay on the machine
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url)
    return context, page, outside


def test_panel_serve_app_file_serves_the_dashboard_on_the_given_dataset(chromium, panel_server, tmp_path):
    base, _log = panel_server
    context, page, outside = open_page(chromium, f"{base}/panel_app")
    try:
        page.locator(".dataset-summary", has_text="1,568").wait_for()  # the dataset after --args
        assert 1 <= wait_for_selection(page) <= 25
        page.screenshot(path=str(tmp_path / "panel_app.png"))
    finally:
        context.close()
    assert outside == []


def test_panel_serve_notebook_shows_its_servable_dashboard(chromium, panel_server, tmp_path):
    base, log = panel_server
    context, page, outside = open_page(chromium, f"{base}/dashboard_in_jupyter")
    try:
        # The notebook's own code ran in the session (dash.wait() did not deadlock) and set Ge 0.4.
        page.locator(".selection-note", has_text="Ge 0.400").wait_for(timeout=120_000)
        printed = re.search(r"(\d+) of 25 structures", log.read_text())
        assert printed is not None
        assert card_value(page, "structures") == int(printed[1])
        page.screenshot(path=str(tmp_path / "notebook.png"))
    finally:
        context.close()
    assert outside == []


def test_panel_serve_with_a_missing_file_says_so_on_the_page_and_in_the_log(chromium, tmp_path):
    from atomsieve.app.serve import free_port

    port = free_port()
    missing = tmp_path / "missing.extxyz"
    command = [PANEL_EXE, "serve", str(APP), "--address", "127.0.0.1", "--port", str(port),
               "--args", str(missing)]
    with running(command, f"http://127.0.0.1:{port}/panel_app") as log:
        context, page, _outside = open_page(chromium, f"http://127.0.0.1:{port}/panel_app")
        try:
            page.locator(".atomsieve-error", has_text=f"{missing}: no such file").wait_for()
        finally:
            context.close()
    assert f"atomsieve: {missing}: no such file" in log.read_text()
