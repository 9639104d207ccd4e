"""The dashboard notebook in a real JupyterLab, in headless Chromium, with no request leaving the machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from servers import running
from test_browser import card_value

pytestmark = [pytest.mark.browser]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard_in_jupyter.ipynb"
JUPYTER_EXE = str(Path(sys.executable).with_name("jupyter"))
LOCAL_HOSTS = ("127.0.0.1", "localhost")
VIEWPORT = (1280, 900)  # the narrowest width the layout must hold at

#: JavaScript: the open notebook's code cells, and its kernel's status.
CELLS = "window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code')"
KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on a free loopback port, no token, a temporary root holding a copy of the notebook."""
    pytest.importorskip("jupyterlab")
    from atomsieve.app.serve import free_port

    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [JUPYTER_EXE, "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--ServerApp.password=",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly",
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    env = {"JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_PLATFORM_DIRS": "1"}
    with running(command, f"{base}/lab", env=env, cwd=str(root)) as log:
        yield base, log


def test_notebook_runs_offline_in_jupyterlab_and_its_slider_moves_the_count(chromium, jupyterlab, tmp_path):
    base, log = jupyterlab
    context = chromium.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    outside = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:  # a CDN, a font service, news: recorded, and the machine stays offline
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}")
        page.wait_for_function(
            f"() => window.jupyterapp?.shell.currentWidget?.content && {KERNEL} === 'idle'", timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            f"() => {CELLS}.every(c => c.model.executionCount !== null) && {KERNEL} === 'idle'",
            timeout=240_000, polling=500)
        errors = page.evaluate(f"""() => {CELLS}.flatMap(c => c.model.outputs.toJSON())
            .filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)""")
        assert errors == []
        # Panel's outputs rendered (inline resources): the dashboard's cards show the notebook's Ge 0.4.
        note = page.locator(".selection-note", has_text="Ge 0.400").first
        note.wait_for()
        before = card_value(page, "structures")
        cards = page.locator(".card-structures")
        cards.first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "dashboard_before.png"))
        page.locator(".jp-OutputArea-output", has=cards).first.screenshot(path=str(tmp_path / "output.png"))
        # At this width the cards neither overlap nor leave the notebook's output area.
        output = page.locator(".jp-OutputArea-output", has=cards).first.bounding_box()
        boxes = [page.locator(f".card-{name}").first.bounding_box()
                 for name in ("structures", "atoms", "percent", "bank")]
        for box in boxes:
            assert output["x"] <= box["x"] and box["x"] + box["width"] <= output["x"] + output["width"] + 1
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart = (a["x"] + a["width"] <= b["x"] + 1 or b["x"] + b["width"] <= a["x"] + 1
                         or a["y"] + a["height"] <= b["y"] + 1 or b["y"] + b["height"] <= a["y"] + 1)
                assert apart, (a, b)
        handle = page.locator(".threshold-Ge .noUi-handle").first
        handle.focus()
        for _ in range(20):  # twenty steps of 0.005: 0.400 -> 0.500 (17 -> 15 structures on this split)
            handle.press("ArrowRight")
        page.locator(".selection-note", has_text="Ge 0.500").first.wait_for(timeout=120_000)
        # The note and the cards are separate messages over the kernel's comm: wait for the card too.
        for _ in range(120):
            if card_value(page, "structures") != before:
                break
            page.wait_for_timeout(500)
        assert (before, card_value(page, "structures")) == (17, 15)
        page.screenshot(path=str(tmp_path / "dashboard_after.png"))
        page.locator(".bk-tab", has_text="Compare methods").first.click()
        page.locator(".compare-status").first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "compare.png"))
    finally:
        context.close()
    assert outside == []
    assert "Traceback" not in log.read_text()
