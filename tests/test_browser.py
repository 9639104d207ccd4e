"""The served dashboard driven in headless Chromium (Playwright): what a user clicks, what they see."""

from __future__ import annotations

import ase.io
import pytest

from atomsieve.datasets import default_path

pytestmark = [pytest.mark.browser]


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
    assert "Upload broken.extxyz" in message and "cannot be read" in message
    assert page.locator(".dataset-summary", has_text="14,072").count() == 1  # the old dataset is kept
    # The session still works: a valid upload replaces the dataset.
    test_file = default_path("test")
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "ge_test.extxyz", "mimeType": "text/plain", "buffer": test_file.read_bytes()}]
    )
    page.locator(".dataset-summary", has_text="1,568").wait_for()
    page.locator(".dataset-summary", has_text="ge_test.extxyz (uploaded)").wait_for()


def test_export_downloads_a_file_ase_reads_back(dashboard_page, tmp_path):
    page = dashboard_page
    page.locator(".bk-tab", has_text="Export").click()
    with page.expect_download() as info:
        page.locator(".export-subset").get_by_text("Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".extxyz")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    frames = ase.io.read(target, ":")
    assert len(frames) == 228
    reference = ase.io.read(default_path(), 0)
    assert frames[0].get_potential_energy() == pytest.approx(reference.get_potential_energy())
