"""The AutoML sidebar in a real JupyterLab, driven through a real Chromium (see conftest.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.browser.conftest import EMPTY_DATASETS, SIDEBAR_ID, UI_TIMEOUT_MS, Lab, assert_no_page_errors, open_lab, screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _reviews_csv(path: Path, rows: int = 120) -> Path:
    """A valid text-classification upload: one head with two balanced classes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text_data", "sentiment"])
        for i in range(rows):
            good = i % 2 == 0
            text = f"Review {i}: {'loved it, would buy again' if good else 'broke after a day'}"
            writer.writerow([text, "positive" if good else "negative"])
    return path


def _upload_reviews(lab: Lab, tmp_path: Path, *, snapshot: str | None = None) -> None:
    """Upload `reviews` through the Python API, and freeze it as `snapshot` when named."""
    automl = lab.automl()
    try:
        dataset = automl.upload_dataset(
            _reviews_csv(tmp_path / "reviews.csv"), model_type="text_classification", name="reviews"
        )
        if snapshot:
            automl.create_snapshot(dataset.id, name=snapshot, role="train")
    finally:
        automl.close()


def test_dataset_uploaded_beforehand_is_listed(browser, start_lab, tmp_path):
    from playwright.sync_api import expect

    lab = start_lab()
    _upload_reviews(lab, tmp_path, snapshot="reviews-train")
    page, tab = open_lab(browser, lab, tmp_path)

    assert tab.get_attribute("title") == "AutoML"
    tab.click()
    panel = page.locator(f"#{SIDEBAR_ID}")
    expect(panel).to_be_visible()

    datasets = panel.get_by_role("region", name="Datasets")
    item = datasets.get_by_role("listitem").filter(has_text="reviews")
    expect(item).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(item).to_contain_text("Text classification")
    expect(item).to_contain_text("120 of 120 rows valid")
    expect(item).to_contain_text("reviews.csv")
    expect(datasets.get_by_text(EMPTY_DATASETS)).to_have_count(0)
    expect(panel.get_by_role("alert")).to_have_count(0)

    snapshots = panel.get_by_role("region", name="Snapshots")
    snapshot = snapshots.get_by_role("listitem").filter(has_text="reviews-train")
    expect(snapshot).to_be_visible()
    expect(snapshot).to_contain_text("train")
    expect(snapshot).to_contain_text("120 rows")

    page.screenshot(path=str(screenshot_dir(tmp_path) / "sidebar-with-dataset.png"))
    assert_no_page_errors(page)


def test_empty_state_then_refresh_shows_new_dataset(browser, start_lab, tmp_path):
    from playwright.sync_api import expect

    lab = start_lab()
    page, _ = open_lab(browser, lab, tmp_path)

    # Open through the command palette, keyboard only.
    page.locator("#jp-main-dock-panel").click()
    page.keyboard.press("Control+Shift+C")
    palette_input = page.locator(".lm-CommandPalette-input")
    expect(palette_input).to_be_focused()
    palette_input.fill("Open AutoML")
    expect(page.locator(".lm-CommandPalette-item", has_text="Open AutoML")).to_be_visible()
    page.keyboard.press("Enter")

    panel = page.locator(f"#{SIDEBAR_ID}")
    expect(panel).to_be_visible()
    refresh = panel.get_by_role("button", name="Refresh datasets and snapshots")
    expect(refresh).to_be_focused()
    datasets = panel.get_by_role("region", name="Datasets")
    expect(datasets.get_by_text(EMPTY_DATASETS)).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "sidebar-empty.png"))

    _upload_reviews(lab, tmp_path)
    page.keyboard.press("Enter")  # the refresh button has the focus
    expect(datasets.get_by_role("listitem").filter(has_text="reviews")).to_be_visible()
    expect(datasets.get_by_text(EMPTY_DATASETS)).to_have_count(0)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "sidebar-after-refresh.png"))
    assert_no_page_errors(page)


def test_server_error_message_is_shown(browser, start_lab, tmp_path):
    from playwright.sync_api import expect

    lab = start_lab()
    page, tab = open_lab(browser, lab, tmp_path)
    message = "store unavailable: database is locked"
    page.route(
        "**/automl/api/datasets*",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps({"message": message})
        ),
    )
    tab.click()
    panel = page.locator(f"#{SIDEBAR_ID}")
    datasets = panel.get_by_role("region", name="Datasets")
    expect(datasets.get_by_role("alert")).to_have_text(message, timeout=UI_TIMEOUT_MS)
    # The other section still loads from the real server.
    expect(panel.get_by_role("region", name="Snapshots").get_by_role("alert")).to_have_count(0)

    page.unroute("**/automl/api/datasets*")
    panel.get_by_role("button", name="Refresh datasets and snapshots").click()
    expect(datasets.get_by_role("alert")).to_have_count(0)
    expect(datasets.get_by_text(EMPTY_DATASETS)).to_be_visible()
    page.screenshot(path=str(screenshot_dir(tmp_path) / "sidebar-error-recovered.png"))
