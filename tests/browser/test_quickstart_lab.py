"""The quickstart notebook run in a real JupyterLab from a real Chromium: its widgets render and
work in the page (forms, live job view, dashboard, chat), a file picked in the browser reaches
the kernel in slices, and screenshots of each part are saved for a person to look at. Then, in
the same JupyterLab, the sidebar shows the notebook's jobs, and its New model form places the
errors of its own checks and of the server beside their fields.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import SIDEBAR_ID, UI_TIMEOUT_MS, assert_no_page_errors, screenshot_dir
from tests.data import write_reviews_csv

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "jupyter_automl" / "notebooks" / "quickstart.ipynb"
RUN_ALL_TIMEOUT_MS = 420_000


def _prepare(lab, tiny_base_models: list[dict]) -> Path:
    """The quickstart with the tiny models' parameters injected (papermill --prepare-only),
    in the server's root folder."""
    target = lab.root_dir / "quickstart.ipynb"
    parameters = {
        "data_dir": str(lab.data_dir), "store_url": lab.store_url,
        "base_models": json.dumps(tiny_base_models), "text_base_model": "tiny-encoder",
        "chat_base_model": "tiny-llm",
    }
    args = [sys.executable, "-m", "papermill", str(QUICKSTART), str(target), "--prepare-only"]
    for name, value in parameters.items():
        args += ["-p", name, value]
    args += ["-y", "text_rows: 240\nchat_rows: 150\nmax_epochs: 1\nchat_steps: 4"]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return target


def test_quickstart_runs_in_jupyterlab_then_the_sidebar_shows_its_jobs(
    browser, start_lab, tmp_path, tiny_base_models
):
    from playwright.sync_api import expect

    lab = start_lab(
        settings={
            # Every cell stays in the page, so each one can be found and photographed.
            "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
            "jupyter-automl:plugin": {"refreshInterval": 1000},
        },
        config={"AutoML": {"base_models": tiny_base_models}},
    )
    _prepare(lab, tiny_base_models)
    shots = screenshot_dir(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    page.console = console
    page.goto(f"{lab.url}lab/tree/quickstart.ipynb?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel").first
    expect(notebook).to_be_visible(timeout=UI_TIMEOUT_MS)
    choose = page.locator(".jp-Dialog").get_by_role("button", name="Select")
    try:  # JupyterLab may ask which kernel to start for a notebook it has not seen
        choose.wait_for(state="visible", timeout=10_000)
        choose.click()
    except Exception:
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_attached(
        timeout=UI_TIMEOUT_MS)

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    cells = notebook.locator(".jp-CodeCell")
    last = cells.last
    try:
        expect(last.locator(".jp-OutputArea-output")).to_contain_text("undeployed",
                                                                       timeout=RUN_ALL_TIMEOUT_MS)
    except AssertionError:
        page.screenshot(path=str(shots / "quickstart-did-not-finish.png"), full_page=True)
        raise
    errors = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()

    # Tall enough that each output fits: a photo of an element taller than the page is stitched
    # from scrolled views, with JupyterLab's sticky toolbar painted over it.
    page.set_viewport_size({"width": 1400, "height": 4000})

    def cell_with(text: str):
        return cells.filter(has=page.locator(".jp-InputArea", has_text=text)).first

    def photograph(cell, name: str) -> None:
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-OutputArea").first.screenshot(path=str(shots / f"quickstart-{name}.png"))

    upload = cell_with('path=str(work / "reviews.csv")')
    expect(upload.get_by_role("button", name="Upload and validate")).to_be_visible()
    expect(upload.locator(".jam-upload-input")).to_be_attached()  # the slicing file picker
    expect(upload).to_contain_text("Rows per class")
    photograph(upload, "1-upload-report")

    broken = cell_with('path=str(work / "broken.csv")')
    expect(broken).to_contain_text("cannot be used for training")
    problems = broken.locator("table").first
    expect(problems).to_contain_text("reason")
    expect(problems).to_contain_text("text_data")  # row 3 has no text
    photograph(broken, "2-upload-broken")

    form = cell_with('form = ModelForm(')
    expect(form.get_by_role("button", name="Update Model")).to_be_visible()
    expect(form).to_contain_text("succeeded")
    curve = form.locator("img").first  # the loss curve of the job
    curve.scroll_into_view_if_needed()
    # A busy browser may take a while to decode the picture (CI once saw it unsized for 5 s).
    expect(curve).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert curve.evaluate("img => img.naturalWidth") > 0
    photograph(form, "3-model-form-and-job")

    board = cell_with('board = MetricsDashboard(')
    expect(board).to_contain_text("Confusion matrix")
    expect(board).to_contain_text("test rows")  # the cell the code "clicked"
    photograph(board, "4-dashboard")

    compare = cell_with("compare_with=1")
    expect(compare.locator(".widget-html-content table").last).to_contain_text("v2")
    photograph(compare, "5-update-and-compare")

    chat = cell_with("chat = ChatPlayground(")
    expect(chat).to_contain_text("My lamp does not turn on")
    expect(chat).to_contain_text("base model")
    photograph(chat, "6-chat")

    # A click in the page: a confusion-matrix cell shows its rows.
    grid = board.locator(".widget-gridbox").first
    grid.locator("button").first.click()
    expect(board).to_contain_text("test rows")

    # A file picked in the browser reaches the kernel in slices, and the form uploads it.
    upload.scroll_into_view_if_needed()
    picked = write_reviews_csv(tmp_path / "picked-in-browser.csv", rows=24_000)
    assert picked.stat().st_size > 1024 * 1024  # more than one slice
    upload.locator(".jam-upload-input").set_input_files(str(picked))
    expect(upload.locator(".jam-upload-status")).to_have_text("picked-in-browser.csv: received",
                                                              timeout=UI_TIMEOUT_MS)
    upload.get_by_role("button", name="Upload and validate").click()
    expect(upload).to_contain_text("picked-in-browser.csv", timeout=UI_TIMEOUT_MS)
    expect(upload).to_contain_text("24,000 rows, 24,000 valid")
    automl = lab.automl()
    try:
        stored = [d for d in automl.list_datasets() if d.filename == "picked-in-browser.csv"]
        assert len(stored) == 1 and stored[0].size_bytes == picked.stat().st_size
    finally:
        automl.close()
    photograph(upload, "7-upload-from-browser")

    _sidebar_shows_jobs_and_places_form_errors(page, lab, shots)
    assert_no_page_errors(page)


def _sidebar_shows_jobs_and_places_form_errors(page, lab, shots: Path) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{SIDEBAR_ID}"]').click()
    panel = page.locator(f"#{SIDEBAR_ID}")
    jobs = panel.get_by_role("region", name="Jobs")
    expect(jobs.get_by_role("listitem", name="reviews v2", exact=True)).to_contain_text("succeeded")
    expect(jobs.get_by_role("listitem", name="support-bot v1", exact=True)).to_contain_text("succeeded")

    automl = lab.automl()
    try:
        [reviews] = [s for s in automl.list_snapshots("text_classification", role="train")
                     if s.name.startswith("reviews (train")]
    finally:
        automl.close()
    panel.get_by_role("button", name="New model").click()
    form = panel.get_by_role("form", name="New model")
    form.get_by_label("Training snapshot").select_option(reviews.id)
    form.get_by_label("Base model").select_option("tiny-encoder")
    expect(form.get_by_label("Selection Label")).to_contain_text("topic")  # the snapshot's heads
    form.get_by_label("Name").fill("reviews")
    form.get_by_label("Max Epochs").fill("2")
    form.get_by_label("Early Stopping").fill("5")
    form.get_by_role("button", name="Train").click()
    patience = form.locator('[data-field="early_stopping"] [role="alert"]')
    expect(patience).to_have_text("Early Stopping must be from 1 to max epochs (2)")
    form.get_by_label("Early Stopping").fill("")
    form.get_by_role("button", name="Train").click()  # the server refuses the taken name
    name_error = form.locator('[data-field="name"] [role="alert"]')
    expect(name_error).to_contain_text("a model named 'reviews' exists already")
    panel.screenshot(path=str(shots / "sidebar-1-form-errors.png"))
    # Training from the form, the report, deploying and the task API: test_sidebar_flow.py.
