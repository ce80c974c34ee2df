"""A deployment's workspace in the sidebar, in a real JupyterLab and Chromium: the tasks it
answered, opened in full; a batch file refused with its rows' places, then a valid one run with
progress and its results downloaded in input order; the usage chart."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.browser.conftest import SIDEBAR_ID, UI_TIMEOUT_MS, assert_no_page_errors, open_lab, screenshot_dir
from tests.serving import register_trained

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_the_workspace_shows_tasks_runs_a_batch_and_charts_usage(browser, start_lab, tmp_path,
                                                                 tiny_base_models, tiny_runs):
    from playwright.sync_api import expect

    lab = start_lab(settings={"jupyter-automl:plugin": {"refreshInterval": 1000}},
                    config={"AutoML": {"base_models": tiny_base_models}})
    automl = lab.automl()
    try:
        register_trained(automl, "reviews", "text_classification", tiny_runs["text_classification"],
                         tmp_path / "csv")
        automl.deploy("reviews", name="shop")
        automl.predict("shop", "The parcel came two days early")
    finally:
        automl.close()
    shots = screenshot_dir(tmp_path)
    page, tab = open_lab(browser, lab, tmp_path)
    page.set_viewport_size({"width": 1400, "height": 1000})
    tab.click()
    panel = page.locator(f"#{SIDEBAR_ID}")
    deployment = panel.get_by_role("region", name="Deployments").get_by_role("listitem", name="shop", exact=True)
    expect(deployment).to_contain_text("complete", timeout=UI_TIMEOUT_MS)
    deployment.get_by_role("button", name="Tasks and usage of shop").click()
    workspace = panel.get_by_role("region", name="Workspace of shop")

    # Recent tasks: the one asked above, its preview, then in full.
    tasks = workspace.get_by_role("list", name="Tasks")
    row = tasks.get_by_role("button").filter(has_text="The parcel came two days early")
    expect(row).to_contain_text("succeeded", timeout=UI_TIMEOUT_MS)
    expect(row).to_contain_text("sync")
    row.click()
    detail = workspace.locator(".jp-AutoML-task-detail")
    expect(detail.get_by_label("Output, head sentiment")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(detail.get_by_label("Input text")).to_have_text("The parcel came two days early")

    # A batch file with a bad row is refused with the row and column; nothing runs.
    workspace.get_by_role("tab", name="Batches").click()
    form = workspace.get_by_role("form", name="Upload a batch")
    bad = tmp_path / "bad.csv"
    bad.write_text("text_data,note\nfine,a\n,b\nalso fine,c\n", encoding="utf-8")
    form.locator("input[type=file]").first.set_input_files(str(bad))
    form.get_by_role("button", name="Run batch").click()
    report = workspace.get_by_role("region", name="Validation report")
    issue = report.locator("tr").filter(has_text="empty text")
    expect(issue).to_contain_text("text_data", timeout=UI_TIMEOUT_MS)
    expect(issue.locator("td").first).to_have_text("3")
    expect(workspace.get_by_role("group", name="Batch bad.csv")).to_have_count(0)
    page.screenshot(path=str(shots / "workspace-01-refused.png"))

    # A valid file runs with progress; the results download in input order.
    inputs = tmp_path / "inputs.csv"
    texts = [f"Order {i}: {'arrived broken' if i % 3 else 'lovely, thanks'}" for i in range(300)]
    with inputs.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text_data"], *([t] for t in texts)])
    form.locator("input[type=file]").first.set_input_files(str(inputs))
    form.get_by_label("Options for every row (JSON, optional)").fill('{"top_k": 1}')
    form.get_by_role("button", name="Run batch").click()
    batch = workspace.get_by_role("group", name="Batch inputs.csv")
    expect(batch.get_by_role("status")).to_contain_text("300", timeout=UI_TIMEOUT_MS)
    link = batch.get_by_role("link", name="Results of inputs.csv as CSV")
    expect(link).to_be_visible(timeout=60_000)
    workspace.screenshot(path=str(shots / "workspace-02-batch-done.png"))
    with page.expect_download() as download:
        link.click()
    saved = download.value.path()
    rows = list(csv.DictReader(io.StringIO(open(saved, encoding="utf-8").read())))
    assert [r["text_data"] for r in rows] == texts and {r["status"] for r in rows} == {"succeeded"}

    # Usage: one bar per day, the totals in its label (1 sync task + 300 batch rows).
    workspace.get_by_role("tab", name="Usage").click()
    chart = workspace.get_by_role("img").first
    expect(chart).to_have_attribute("aria-label", re.compile("301 requests"), timeout=UI_TIMEOUT_MS)
    workspace.screenshot(path=str(shots / "workspace-03-usage.png"))
    assert_no_page_errors(page)
