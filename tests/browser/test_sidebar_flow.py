"""The whole workflow from the AutoML sidebar alone, in a real JupyterLab from a real Chromium,
as a user who never opens a notebook would do it: the launcher card opens the upload form; a
broken chat CSV shows each problem at its row and column; the example chat CSV uploads with a
progress bar, its report shows the token lengths, and it is frozen with a test split; the
palette's "New model" opens the form; the model trains while its progress moves; the training
report opens; the version view shows the base-vs-tuned table and the plots; the playground
answers a message and counts it; "Update Model" queues version 2; the chat playground notebook
opens and its widget runs in a kernel; the version is deployed, a key copied with its button
works on the task API, and stops working after undeploy. The panel follows the dark theme.
Each step is photographed (see ``screenshot_dir``).
"""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import SIDEBAR_ID, UI_TIMEOUT_MS, assert_no_page_errors, open_lab, screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
CHAT_CSV = REPO / "jupyter_automl" / "datasets" / "examples" / "chat.csv"
TRAIN_TIMEOUT_MS = 300_000


def _broken_chat_csv(path: Path) -> Path:
    """A chat file with a row without a prompt and a row whose history is not JSON."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "completion", "prompt_history"])
        writer.writerow(["Is shipping free?", "Yes, from €50.", "[]"])
        writer.writerow(["", "An answer without a question.", "[]"])
        writer.writerow(["And returns?", "Within 30 days.", "[{'role': 'user'"])
        for i in range(20):
            writer.writerow([f"Question {i}?", f"Answer {i}.", "[]"])
    return path


def _task(lab, key: str, body: dict) -> tuple[int, dict]:
    """Ask the task API as an application would: the key, no Jupyter token."""
    request = urllib.request.Request(
        f"{lab.url}automl/api/v2/task/sync", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_sidebar_alone_takes_a_chat_model_from_csv_to_deployment(
    browser, start_lab, tmp_path, tiny_base_models
):
    from playwright.sync_api import expect

    lab = start_lab(
        settings={"jupyter-automl:plugin": {"refreshInterval": 1000, "defaultModelType": "llm_chat"}},
        config={"AutoML": {"base_models": tiny_base_models}},
    )
    shots = screenshot_dir(tmp_path)
    page, _ = open_lab(browser, lab, tmp_path)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url.rstrip("/"))
    panel = page.locator(f"#{SIDEBAR_ID}")

    # The launcher's AutoML card opens the sidebar's upload form.
    card = page.locator(".jp-LauncherCard", has_text="Upload dataset")
    expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(shots / "flow-01-launcher.png"))
    card.click()
    upload = panel.get_by_role("form", name="Upload a dataset")
    expect(upload).to_be_visible()
    expect(upload.get_by_label("Model type")).to_have_value("llm_chat")  # the setting
    expect(upload.get_by_label("Base model")).to_have_value("smollm2-135m-instruct")  # the type's default
    upload.get_by_label("Base model").select_option("tiny-llm")

    # A broken file: every problem the core finds is shown at its row and column.
    broken = _broken_chat_csv(tmp_path / "broken-chat.csv")
    automl = lab.automl()
    try:
        expected = automl.validate(broken, model_type="llm_chat", base_model="tiny-llm")
    finally:
        automl.close()
    assert not expected.valid and len(expected.errors) >= 2
    upload.locator("input[type=file]").first.set_input_files(str(broken))
    upload.get_by_role("button", name="Upload", exact=True).click()
    report = panel.get_by_role("region", name="Validation report")
    errors = report.get_by_role("table", name="Errors")
    expect(errors).to_be_visible(timeout=UI_TIMEOUT_MS)
    for issue in expected.errors:
        row = errors.locator("tr").filter(has_text=issue.reason).first
        expect(row.locator("td").nth(0)).to_have_text("file" if issue.row is None else str(issue.row))
        expect(row.locator("td").nth(1)).to_have_text(issue.column or "—")
    expect(panel.get_by_text("This dataset cannot be frozen into a snapshot")).to_be_visible()
    expect(panel.get_by_role("button", name="Freeze snapshot")).to_have_count(0)
    panel.screenshot(path=str(shots / "flow-02-broken-csv.png"))

    # The example chat CSV: uploaded with a progress bar, valid, frozen with a 10% test split.
    upload.locator("input[type=file]").first.set_input_files(str(CHAT_CSV))
    upload.get_by_label("Dataset name (optional)").fill("support-chat")
    upload.get_by_role("button", name="Upload", exact=True).click()
    expect(report.get_by_role("status")).to_contain_text("valid", timeout=UI_TIMEOUT_MS)
    expect(report.get_by_role("table", name="Token lengths")).to_contain_text("tiny-llm")
    expect(report.get_by_role("table", name="Errors")).to_have_count(0)
    panel.screenshot(path=str(shots / "flow-03-chat-report.png"))
    freeze = panel.get_by_role("form", name="Freeze snapshot")
    freeze.get_by_label("Split off a test set % (optional)").fill("10")
    freeze.get_by_role("button", name="Freeze snapshot").click()
    snapshots = panel.get_by_role("region", name="Snapshots")
    expect(snapshots.get_by_role("listitem")).to_have_count(3, timeout=UI_TIMEOUT_MS)
    automl = lab.automl()
    try:
        [dataset] = [d for d in automl.list_datasets() if d.name == "support-chat"]
        assert dataset.filename == "chat.csv" and dataset.size_bytes == CHAT_CSV.stat().st_size
        [train] = [s for s in automl.list_snapshots("llm_chat", role="train")
                   if s.name == "support-chat (train 90%)"]
    finally:
        automl.close()
    upload.get_by_role("button", name="Close").click()

    # The palette's "AutoML: New model" opens the form; the model trains from it.
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette")
    palette.locator("input").fill("AutoML: New model")
    palette.locator(".lm-CommandPalette-item", has_text="AutoML: New model").first.click()
    form = panel.get_by_role("form", name="New model")
    expect(form).to_be_visible()
    form.get_by_label("Name").fill("support-bot")
    form.get_by_label("Training snapshot").select_option(train.id)
    form.get_by_label("Base model").select_option("tiny-llm")
    expect(form.get_by_label("Max Epochs")).to_be_visible()
    form.get_by_label("Max Epochs").fill("1")
    form.get_by_text("Advanced options").click()
    form.get_by_label("Max Steps").fill("30")
    form.get_by_role("button", name="Train").click()
    expect(form).to_have_count(0)

    job = panel.get_by_role("region", name="Jobs").get_by_role("listitem", name="support-bot v1",
                                                                exact=True)
    expect(job).to_be_visible()
    seen: set[str] = set()
    deadline = time.monotonic() + TRAIN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        status = job.locator(".jp-AutoML-badge").inner_text()
        seen.add(f"{status} {job.locator('progress').get_attribute('aria-valuetext')}")
        if status == "running" and "step" in job.locator(".jp-AutoML-jobProgress").inner_text():
            if not (shots / "flow-04-training.png").exists():
                panel.screenshot(path=str(shots / "flow-04-training.png"))
        if status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.25)
    expect(job.locator(".jp-AutoML-badge")).to_have_text("succeeded")
    moving = {s for s in seen if s.startswith("running") and not s.endswith((" 0%", " 100%"))}
    assert moving, f"no progress between 0 and 100% was shown: {sorted(seen)}"
    expect(job).to_contain_text("step 30 of 30")

    job.get_by_role("button", name="Open training report").click()
    report_tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="support-bot-v1-report.ipynb")
    expect(report_tab).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".jp-NotebookPanel:visible .jp-Cell").first).to_be_visible()

    # The version view: base vs tuned, and the plots, as images from the API.
    models = panel.get_by_role("region", name="Models")
    models.get_by_role("button", name="Versions of support-bot").click()
    versions = models.get_by_role("region", name="Versions of support-bot")
    comparison = versions.get_by_role("table", name="Base model vs fine-tuned, test rows")
    expect(comparison).to_contain_text("loss", timeout=UI_TIMEOUT_MS)
    expect(comparison).to_contain_text("token_accuracy")
    plots = versions.get_by_role("region", name="Plots").locator("img")
    expect(plots.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert plots.count() >= 2
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
        assert plots.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), i
    versions.scroll_into_view_if_needed()
    panel.screenshot(path=str(shots / "flow-05-version-view.png"))

    # The playground answers and counts the request.
    tryit = versions.get_by_role("region", name="Try support-bot v1")
    expect(tryit.get_by_role("status").first).to_contain_text("500 of 500 playground requests left", timeout=UI_TIMEOUT_MS)
    tryit.get_by_label("Message").fill("My lamp does not turn on")
    tryit.get_by_label("Message").press("Enter")
    conversation = tryit.get_by_role("log", name="Conversation")
    expect(conversation.locator(".jp-AutoML-tryItTurn-model")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(tryit.get_by_role("status").first).to_contain_text("499 of 500 playground requests left")
    tryit.scroll_into_view_if_needed()
    panel.screenshot(path=str(shots / "flow-06-playground.png"))

    # Update Model: the form starts from the model's settings and queues version 2.
    versions.get_by_role("button", name="Update Model").click()
    update = models.get_by_role("form", name="Update support-bot")
    expect(update.get_by_label("Max Steps")).to_have_value("30")  # the model's own option
    expect(update.get_by_label("Training snapshot")).to_have_value(train.id)
    update.get_by_label("Max Steps").fill("20")
    update.get_by_role("button", name="Update Model").click()
    job2 = panel.get_by_role("region", name="Jobs").get_by_role("listitem", name="support-bot v2",
                                                                 exact=True)
    expect(job2).to_be_visible(timeout=UI_TIMEOUT_MS)
    automl = lab.automl()
    try:
        assert automl.get_model("support-bot").options["max_steps"] == 20
    finally:
        automl.close()

    # The chat playground notebook: created, opened, and its widget runs in this server's store.
    versions.get_by_role("button", name="Open chat playground notebook").click()
    chat_tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="support-bot-v1-playground.ipynb")
    expect(chat_tab).to_be_visible(timeout=UI_TIMEOUT_MS)
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_attached(
        timeout=UI_TIMEOUT_MS)
    code = notebook.locator(".jp-CodeCell").first
    output = code.locator(".jp-OutputArea-output")
    # A notebook opened a moment ago may drop a run asked before its kernel connection
    # settles (the prompt stays "[ ]"); ask again then, as a user would.
    for _ in range(3):
        code.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            expect(code.locator(".jp-InputPrompt")).not_to_have_text("[ ]:", timeout=15_000)
            break
        except AssertionError:
            continue
    try:
        expect(output).to_contain_text("499 of 500", timeout=UI_TIMEOUT_MS)
    except AssertionError:
        page.screenshot(path=str(shots / "flow-07-playground-notebook-failed.png"))
        raise
    page.screenshot(path=str(shots / "flow-07-playground-notebook.png"))

    # Deploy v1, copy a key with its button, use it, undeploy.
    expect(job2.locator(".jp-AutoML-badge")).to_have_text("succeeded", timeout=TRAIN_TIMEOUT_MS)
    # The open version view follows: v2 appears trained, and the two compare side by side.
    expect(versions.get_by_label("Version").locator("option", has_text="v2 (trained)")).to_have_count(
        1, timeout=UI_TIMEOUT_MS)
    versions.get_by_label("Compare with").select_option(label="v2")
    side_by_side = versions.get_by_role("table", name="Versions v1 and v2 side by side")
    expect(side_by_side).to_contain_text("token_accuracy")
    job.get_by_role("button", name="Deploy").click()
    keys = panel.get_by_role("group", name="API keys of support-bot-v1")
    expect(keys).to_be_visible(timeout=UI_TIMEOUT_MS)
    keys.get_by_role("button", name="Copy key 1").click()
    key = page.evaluate("navigator.clipboard.readText()")
    assert key == keys.locator(".jp-AutoML-keyValue").first.inner_text() and key.startswith("jam_")
    deployment = panel.get_by_role("region", name="Deployments").get_by_role(
        "listitem", name="support-bot-v1", exact=True)
    expect(deployment).to_contain_text("complete", timeout=UI_TIMEOUT_MS)
    keys.scroll_into_view_if_needed()
    panel.screenshot(path=str(shots / "flow-08-deployed.png"))
    status, answer = _task(lab, key, {"text_data": "Is shipping to Italy free?",
                                      "options": {"max_tokens": 8}})
    assert status == 200 and answer["state"] == "succeeded", answer
    assert answer["status"][0]["response"]["output"][0]["completion_tokens"] >= 1
    keys.get_by_role("button", name="Done").click()
    deployment.get_by_role("button", name="Undeploy").click()
    expect(deployment).to_contain_text("undeployed", timeout=UI_TIMEOUT_MS)
    assert _task(lab, key, {"text_data": "still there?"})[0] == 404

    # Dark theme: the panel takes its colours from the theme's variables.
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    expect(page.locator("body[data-jp-theme-light='false']")).to_be_attached(timeout=UI_TIMEOUT_MS)
    colours = panel.evaluate(
        """node => {
            const probe = document.createElement('div');
            probe.style.color = 'var(--jp-ui-font-color1)';
            probe.style.backgroundColor = 'var(--jp-layout-color1)';
            node.appendChild(probe);
            const want = getComputedStyle(probe);
            const got = getComputedStyle(node.querySelector('.jp-AutoML-content') || node);
            const answer = {bg: getComputedStyle(node).backgroundColor, text: got.color,
                            wantBg: want.backgroundColor, wantText: want.color};
            probe.remove();
            return answer;
        }"""
    )
    assert colours["bg"] == colours["wantBg"] and colours["text"] == colours["wantText"], colours
    red, green, blue = (int(x) for x in colours["bg"].split("(")[1].split(")")[0].split(",")[:3])
    assert red + green + blue < 3 * 96, colours  # dark
    panel.screenshot(path=str(shots / "flow-09-dark-theme.png"))
    assert_no_page_errors(page)
