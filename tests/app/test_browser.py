"""The served dashboard driven in headless Chromium (Playwright): what a user clicks, what they see."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import ase.io
import numpy as np
import pytest
from PIL import Image

from atomsieve.datasets import default_path

pytestmark = [pytest.mark.browser]

#: The README's picture of the running dashboard; rewritten only with ATOMSIEVE_UPDATE_SCREENSHOT=1.
SCREENSHOT = Path(__file__).resolve().parents[2] / "assets" / "dashboard.png"
VIEWPORT = (1500, 1000)
HEADER_RGB = (0x2F, 0x6F, 0x9F)  # atomsieve.app.serve.ACCENT


def screenshot_target(tmp_path: Path) -> Path:
    """Where the test run writes the dashboard screenshot: a temporary file unless asked to refresh."""
    if os.environ.get("ATOMSIEVE_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        return SCREENSHOT
    return tmp_path / "dashboard.png"


def check_dashboard_picture(path: Path) -> None:
    """A loose check of a dashboard screenshot: the viewport's size, the accent header, a populated page."""
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape[:2] == (VIEWPORT[1], VIEWPORT[0])
    header = image[5:40, 400:1400].reshape(-1, 3)
    assert np.abs(np.median(header, axis=0) - HEADER_RGB).max() < 12  # the template's header bar
    body = image[80:, 380:]  # the main area right of the sidebar: cards and plots, not a blank page
    assert body.std() > 20
    assert len(np.unique(body.reshape(-1, 3), axis=0)) > 500
    # Plot lines in the selection colour (#2f6f9f) appear below the header: the histogram drew.
    blue = np.all(np.abs(body - HEADER_RGB) < 25, axis=-1)
    assert blue.sum() > 500


def notification_text(page, contains: str, timeout: float = 30_000) -> str:
    toast = page.locator(".notyf__message", has_text=contains).first
    toast.wait_for(timeout=timeout)
    return toast.inner_text()


def test_malformed_upload_is_notified_and_the_session_keeps_working(dashboard_page):
    page = dashboard_page
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "broken.extxyz", "mimeType": "text/plain", "buffer": b"3\nnot a header\nGe 0 0\n"}]
    )
    message = notification_text(page, "broken.extxyz")
    assert message.startswith("Upload broken.extxyz: broken.extxyz: ")  # the file named, then the problem
    assert "Traceback" not in message
    assert page.locator(".dataset-summary", has_text="14,072").count() == 1  # the old dataset is kept
    # The session still works: a valid upload, gzip-compressed as users keep them, replaces the dataset.
    packed = gzip.compress(default_path("test").read_bytes())
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "ge_test.extxyz.gz", "mimeType": "application/gzip", "buffer": packed}]
    )
    page.locator(".dataset-summary", has_text="1,568").wait_for()
    page.locator(".dataset-summary", has_text="ge_test.extxyz.gz (uploaded)").wait_for()


def test_export_downloads_a_file_ase_reads_back(dashboard_page, tmp_path):
    page = dashboard_page
    selected = wait_for_selection(page)
    page.locator(".bk-tab", has_text="Export").click()
    with page.expect_download() as info:
        page.locator(".export-subset").get_by_text("Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".extxyz")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    frames = ase.io.read(target, ":")
    assert len(frames) == selected  # the structures on the card, no more, no fewer
    energies = {round(a.get_potential_energy(), 6) for a in ase.io.read(default_path(), ":")}
    assert all(round(a.get_potential_energy(), 6) in energies for a in frames)
    assert all(len(a.get_forces()) == len(a) for a in frames)


def test_export_tab_offers_mace_labels_and_a_chemiscope_map(dashboard_page, tmp_path):
    import chemiscope

    page = dashboard_page
    wait_for_selection(page)
    selected = card_value(page, "structures")
    page.locator(".bk-tab", has_text="Export").click()
    page.get_by_text("MACE extxyz (REF_)").click()
    with page.expect_download() as info:
        page.locator(".export-subset").get_by_text("Download").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    frames = ase.io.read(target, ":")
    assert len(frames) == selected
    energies = {round(a.get_potential_energy(), 6) for a in ase.io.read(default_path(), ":")}
    assert all(a.calc is None and round(a.info["REF_energy"], 6) in energies for a in frames)
    assert all(a.arrays["REF_forces"].shape == (len(a), 3) and "config_type" in a.info for a in frames)
    page.screenshot(path=str(os.environ.get("ATOMSIEVE_EXPORT_SHOT", tmp_path / "export_tab.png")))
    with page.expect_download() as info:
        page.locator(".export-chemiscope").get_by_text("Download").click()
    assert info.value.suggested_filename.endswith(".json.gz")
    map_path = tmp_path / info.value.suggested_filename
    info.value.save_as(map_path)
    assert type(chemiscope.show_input(str(map_path))).__name__ == "ChemiscopeWidget"


def card_value(page, name: str) -> int:
    """The number shown on a live card (Panel renders it inside the element's shadow root, beside
    <style> elements whose CSS holds numbers too, and which a re-render can put after the text)."""
    text = page.locator(f".card-{name}").first.evaluate(
        """el => [...(el.shadowRoot || el).childNodes].filter(n => !['STYLE', 'LINK'].includes(n.nodeName))
                 .map(n => n.textContent).join(' ')""")
    return int(re.findall(r"[\d,]+", text)[-1].replace(",", ""))


def wait_for_selection(page) -> int:
    """Wait until the fingerprints are computed and the first selection is shown."""
    page.locator(".selection-note", has_text="LE-bank fit").wait_for(timeout=240_000)
    return card_value(page, "structures")


def test_threshold_slider_changes_count_and_histogram(dashboard_page, tmp_path):
    page = dashboard_page
    before = wait_for_selection(page)
    histogram_before = page.locator(".histogram").first.screenshot()
    handle = page.locator(".threshold-Ge .noUi-handle").first
    handle.focus()
    for _ in range(10):  # ten steps of 0.005: 0.275 -> 0.325
        handle.press("ArrowRight")
    page.locator(".selection-note", has_text="Ge 0.325").wait_for(timeout=60_000)
    after = card_value(page, "structures")
    assert after < before  # a larger threshold selects fewer structures
    page.wait_for_timeout(500)
    assert page.locator(".histogram").first.screenshot() != histogram_before
    # The shuffle study runs in the background and fills the violins; then the README screenshot.
    page.get_by_text("Run shuffle study").click()
    page.get_by_text(re.compile(r"20 shuffled runs at thresholds")).wait_for(timeout=240_000)
    page.locator(".threshold-curve").first.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(".card-structures").first.scroll_into_view_if_needed()  # the main area scrolls by itself
    page.wait_for_timeout(1000)
    target = screenshot_target(tmp_path)
    page.screenshot(path=str(target), full_page=False)
    check_dashboard_picture(target)


def upload(page, path, name: str) -> None:
    page.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "text/plain", "buffer": path.read_bytes()}])
    page.locator(".dataset-summary", has_text=f"{name} (uploaded)").wait_for()


def test_comparison_streams_curve_points_while_the_ui_stays_live(dashboard_page):
    page = dashboard_page
    upload(page, default_path("test"), "ge_test.extxyz")  # 25 structures: a quick study
    cutoff = page.locator(".descriptor-cutoff input").first  # 3 Å: few neighbours, quick derivatives
    cutoff.fill("3")
    cutoff.press("Enter")
    page.locator(".features-status", has_text="cut-off 3.0 Å), 1,568 atoms").wait_for(timeout=240_000)
    page.locator(".selection-note", has_text="LE-bank fit").wait_for(timeout=240_000)
    page.locator(".bk-tab", has_text="Compare methods").click()
    sizes = page.locator(".compare-sizes input").first
    sizes.fill("4, 8")
    sizes.press("Enter")
    page.locator(".compare-start").get_by_text("Start comparison").click()
    page.locator(".compare-status", has_text="curve points").wait_for(timeout=240_000)
    # While models train in the background the selection still answers.
    page.locator(".bk-tab", has_text="Selection").click()
    handle = page.locator(".threshold-Ge .noUi-handle").first
    handle.focus()
    for _ in range(10):  # 0.275 -> 0.325
        handle.press("ArrowRight")
    page.locator(".selection-note", has_text="Ge 0.325").wait_for(timeout=120_000)
    assert 1 <= card_value(page, "structures") <= 25
    page.locator(".bk-tab", has_text="Compare methods").click()
    status = page.locator(".compare-status", has_text=re.compile(r"done: \d+ rows")).first
    status.wait_for(timeout=240_000)
    text = status.evaluate("el => (el.shadowRoot || el).textContent")
    points = int(re.search(r"(\d+) curve points", text)[1])
    assert points == 4 * 2  # four methods x two sizes, plus the full-data reference row
    page.locator(".compare-timing", has_text="Seconds per method").wait_for()


def test_environment_map_opens_a_tapped_structure_without_leaving_the_machine(chromium, dashboard_url):
    context = chromium.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    outside = []  # every resource must come from the dashboard itself (no CDN): the 3-D view works offline
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    try:
        page.goto(dashboard_url)
        wait_for_selection(page)
        page.locator(".bk-tab", has_text="Environment map").click()
        page.get_by_text(re.compile(r"14,072 atoms \(one point each\); [\d,]+ bank environments")).wait_for()
        # What the tap tool does on a ring: select it in the structures' data source.
        rings = page.evaluate("""() => {
            const models = [...Bokeh.documents[0]._all_models.values()];
            const source = models.find(m => m.type === 'ColumnDataSource' && m.data && m.data.formula);
            source.selected.indices = [7];
            return source.data.formula.length; }""")
        assert rings == 228
        page.get_by_text("structure 7: Ge63").first.wait_for()  # the Plotly 3-D view's title
        page.get_by_text("7 of 228").first.wait_for()  # the details table
    finally:
        context.close()
    assert outside == []
