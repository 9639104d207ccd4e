"""The live model-error panel in the served dashboard (Playwright + Debian Chromium)."""

from __future__ import annotations

import re

import pytest
from test_browser import card_value, upload, wait_for_selection

from atomsieve.datasets import default_path

pytestmark = [pytest.mark.browser]

RMSE_TEXT = re.compile(r"force RMSE (\d+\.\d) meV/Å, energy RMSE (\d+\.\d) meV/atom")


def page_text(page, css: str) -> str:
    return page.locator(css).first.evaluate("el => (el.shadowRoot || el).textContent")


def wait_for_rmse(page, structures: int, timeout: float = 240_000) -> str:
    """Wait until the RMSE text describes a model trained on ``structures`` structures; return it."""
    page.locator(".model-error-text", has_text=f"trained on the {structures:,} selected structures").wait_for(
        timeout=timeout)
    # Every method's number is in (none still "computing…"): the at-size line streams in method by method.
    page.wait_for_function("""(el) => { const t = (el.shadowRoot || el).textContent;
        return /FPS \\d/.test(t) && /CUR \\d/.test(t) && /random \\d/.test(t)
            && !t.includes('computing'); }""",
                           arg=page.locator(".model-error-at-size").first.element_handle(), timeout=timeout)
    return page_text(page, ".model-error-text")


def wait_for_marker(page, x: float, timeout: float = 30_000) -> None:
    """Wait until the current-selection marker of the RMSE-vs-size plot sits at ``x`` (Bokeh's data)."""
    page.wait_for_function("""(x) => {
        for (const doc of Bokeh.documents) {
            for (const m of doc._all_models.values()) {
                if (m.name === 'model-error-marker' && m.data.x.length && m.data.x[0] === x) return true;
            }
        }
        return false; }""", arg=float(x), timeout=timeout)


def test_rmse_appears_without_a_click_and_follows_the_slider(dashboard_page):
    page = dashboard_page
    before = wait_for_selection(page)
    text = wait_for_rmse(page, before)  # nothing clicked: the model input was prepared on load
    force, energy = map(float, RMSE_TEXT.search(text).groups())
    assert 10 < force < 1000 and 0.1 < energy < 1000  # meV/Å and meV/atom, not eV
    assert "test set" in page_text(page, ".model-error-status")  # the embedded test split predicts
    wait_for_marker(page, before)
    handle = page.locator(".threshold-Ge .noUi-handle").first
    handle.focus()
    for _ in range(10):  # 0.275 -> 0.325
        handle.press("ArrowRight")
    page.locator(".selection-note", has_text="Ge 0.325").wait_for(timeout=60_000)
    after = card_value(page, "structures")
    assert after != before
    moved = wait_for_rmse(page, after, timeout=60_000)
    assert RMSE_TEXT.search(moved).groups() != (f"{force:.1f}", f"{energy:.1f}")
    line = page_text(page, ".model-error-at-size")
    assert f"At this size ({after:,} structures)" in line
    for name in ("LE-bank", "FPS", "CUR", "random"):
        assert re.search(rf"{name} \d+\.\d", line), line
    wait_for_marker(page, after)  # the marker moved with the slider
    # The switch to atoms: the line now speaks of atoms, the marker sits at the selection's atom count.
    page.locator(".model-error-unit").get_by_text("atoms").click()
    page.locator(".model-error-at-size", has_text="atoms):").wait_for(timeout=60_000)
    wait_for_marker(page, card_value(page, "atoms"))


def test_cancelling_the_network_leaves_the_page_live(dashboard_page):
    page = dashboard_page
    upload(page, default_path("test"), "ge_test.extxyz")  # 25 structures: quick to prepare
    page.locator(".features-status", has_text="1,568 atoms").wait_for(timeout=240_000)
    wait_for_rmse(page, wait_for_selection(page))
    page.locator(".model-error-model select").select_option("bpnn")
    page.locator(".model-error-text", has_text=re.compile("preparing|training")).wait_for(timeout=60_000)
    page.locator(".model-error-cancel button").click()
    model = page.locator(".model-error-model select").first.element_handle()
    page.wait_for_function("(el) => el.value === 'linear'", arg=model, timeout=60_000)  # back to linear
    # Still live: the linear model's numbers come back and a slider move is answered.
    handle = page.locator(".threshold-Ge .noUi-handle").first
    handle.focus()
    for _ in range(10):
        handle.press("ArrowRight")
    page.locator(".selection-note", has_text="Ge 0.325").wait_for(timeout=60_000)
    wait_for_rmse(page, card_value(page, "structures"), timeout=120_000)
    assert "linear model trained" in page_text(page, ".model-error-text")
