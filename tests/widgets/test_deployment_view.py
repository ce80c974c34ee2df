"""The deployment view on a deployed tiny classifier in a real store: the task table and its
pages, one task in full, a batch run from an uploaded CSV to its results files, a refused file,
the metadata-only mode and the usage tab."""

from __future__ import annotations

import csv
import json
import re

import pytest

from jupyter_automl.widgets import DeploymentView, UsageChart
from tests.widgets.test_forms import _send_file

pytestmark = pytest.mark.timeout(120)

TEXTS = ["Fast delivery, thanks", "Broken on arrival", "<b>Refund</b> please", "Late again",
         "Great value"]


@pytest.fixture
def shop(trained):
    """An AutoML with the trained classifier ``reviews`` deployed as ``shop``."""
    automl, register = trained
    register("reviews")
    automl.deploy("reviews", name="shop")
    return automl


def _top(answer: dict) -> str:
    head = answer["status"][0]["response"]["output"][0]
    best = max(head["classes"], key=lambda c: c["score"])
    return f"{head['head']}: {best['class']} {best['score']:.2f}"


def test_tasks_are_listed_newest_first_in_pages_and_open_in_full(shop):
    answers = [shop.predict("shop", text) for text in TEXTS]
    view = DeploymentView(shop, "shop", page_size=2)
    tasks = view.tasks
    assert view.tabs.titles == ("Tasks", "Batch", "Usage")
    assert [t.id for t in tasks.tasks] == [answers[4]["id"], answers[3]["id"]]
    assert "Great value" in tasks.table.value and "Late again" in tasks.table.value
    assert tasks.table.value.index("Great value") < tasks.table.value.index("Late again")
    assert _top(answers[4]) in tasks.table.value and "no key" in tasks.table.value
    assert not tasks.more_button.disabled

    tasks.more_button.click()
    assert [t.id for t in tasks.tasks] == [a["id"] for a in reversed(answers[1:])]
    assert "&lt;b&gt;Refund&lt;/b&gt; please" in tasks.table.value and "<b>Refund" not in tasks.table.value
    tasks.more_button.click()
    assert [t.id for t in tasks.tasks] == [a["id"] for a in reversed(answers)]
    assert tasks.more_button.disabled and tasks.error is None

    tasks.picker.value = answers[2]["id"]
    assert tasks.opened.id == answers[2]["id"]
    assert "&lt;b&gt;Refund&lt;/b&gt; please" in tasks.detail.value
    classes = answers[2]["status"][0]["response"]["output"][0]["classes"]
    assert all(f'&quot;{c["class"]}&quot;' in tasks.detail.value for c in classes)
    assert f"{tasks.opened.prompt_tokens} prompt + 0 completion" in tasks.detail.value

    tasks.status.value = "failed"
    assert tasks.tasks == [] and "no tasks" in tasks.table.value and tasks.picker.options == ()
    assert tasks.opened is None and tasks.detail.value == ""
    tasks.status.value = ""
    assert len(tasks.tasks) == 2

    assert isinstance(view.usage, UsageChart) and view.tabs.children[2] is view.usage
    assert view.usage.report.total.requests == len(TEXTS)


def test_an_uploaded_csv_runs_as_a_batch_and_its_results_are_linked(shop, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    view = DeploymentView(shop, "shop", results_dir="out")
    batch = view.batch
    assert "no batches yet" in batch.history.value
    inputs = [f"parcel {i} came late" for i in range(12)]
    data = ("text_data\n" + "".join(f"{text}\n" for text in inputs)).encode()
    _send_file(batch.picker, "orders.csv", data, chunk=64)
    batch.options.value = '{"top_k": 1}'
    batch.run_button.click()
    batch.wait(60)
    assert batch.error is None, batch.error
    assert (batch.bar.value, batch.bar.max) == (12, 12) and batch.bar.bar_style == "success"
    assert "12 of 12 rows done, 0 failed" in batch.progress.value

    with open(tmp_path / "out" / "orders-results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["text_data"] for r in rows] == inputs
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 14)]
    assert {r["status"] for r in rows} == {"succeeded"}
    lines = (tmp_path / "out" / "orders-results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["input"]["text_data"] for line in lines] == inputs
    shown = batch.links.outputs[0]["data"]["text/html"]
    assert '<a href="out/orders-results.csv">' in shown and '<a href="out/orders-results.jsonl">' in shown

    (made,) = shop.list_batches("shop")
    assert made.state == "completed" and made.succeeded == 12
    assert made.id in batch.history.value and "orders.csv" in batch.history.value
    assert not batch.picker.complete  # the staged upload is gone

    # A second batch of a file with the same name keeps the first one's results.
    _send_file(batch.picker, "orders.csv", b"text_data\none more parcel\n", chunk=64)
    batch.run_button.click()
    batch.wait(60)
    assert batch.error is None, batch.error
    assert [path.name for path in batch.results] == ["orders-results-2.csv", "orders-results-2.jsonl"]
    assert len((tmp_path / "out" / "orders-results.jsonl").read_text(encoding="utf-8").splitlines()) == 12
    assert len((tmp_path / "out" / "orders-results-2.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_a_refused_file_lists_its_rows_and_queues_nothing(shop):
    batch = DeploymentView(shop, "shop").batch
    _send_file(batch.picker, "inputs.csv", b"text_data\nfine\nalso fine\n", chunk=1000)
    batch.options.value = "{top_k: 1}"
    batch.run()
    batch.wait(30)
    assert batch.error == ("options are not valid JSON: Expecting property name enclosed in double "
                           "quotes at line 1, column 2")
    assert batch.picker.complete  # a typo in the options keeps the file for the next try

    lines = ["fine,a"] + [",b"] * 60 + ["also fine,c"]  # rows 3 to 62 have no text
    data = ("text_data,note\n" + "\n".join(lines) + "\n").encode()
    _send_file(batch.picker, "broken.csv", data, chunk=1000)
    batch.options.value = ""
    batch.run_button.click()
    batch.wait(30)
    assert batch.error.startswith("broken.csv is refused, nothing was queued: ")
    shown = batch.problems.value
    # Whole-file problems come first, then the rows with row, column and reason: 50 in all.
    assert re.search(r"<td>3</td>\s*<td>text_data</td>\s*<td>error</td>\s*<td>[^<]*empty", shown)
    rows = [int(n) for n in re.findall(r"<td>(\d+)</td>", shown)]
    whole_file = shown.count("<td>file</td>")
    assert whole_file >= 1 and rows == list(range(3, 3 + 50 - whole_file))
    assert f"and {60 + whole_file - 50} more" in shown
    assert shop.list_batches("shop") == [] and batch.links.outputs == ()


def test_a_metadata_only_deployment_shows_that_no_text_is_kept(trained):
    automl, register = trained
    register("private")
    automl.deploy("private", name="vault", metadata_only=True)
    answer = automl.predict("vault", "the patient's name is Ada")
    view = DeploymentView(automl, "vault")
    tasks = view.tasks
    assert [t.id for t in tasks.tasks] == [answer["id"]]
    assert "no input or output text is kept" in tasks.children[0].value
    assert "(not kept)" in tasks.table.value and "Ada" not in tasks.table.value
    tasks.show_task(answer["id"])
    assert "no input or output text is kept" in tasks.detail.value and "Ada" not in tasks.detail.value
    assert view.batch.run_button.disabled
