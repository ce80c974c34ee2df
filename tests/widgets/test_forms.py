"""The upload form and the model form, driven as a user would (set values, click buttons)
against a real store and tiny base models; the store is checked for what the clicks made."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pytest

from jupyter_automl.kernel_jobs.progress import KEEP_LOSSES, ProgressFile
from jupyter_automl.training.callbacks import TrainingState
from jupyter_automl.widgets import ChunkedUpload, JobView, ModelForm, OptionsForm, UploadForm
from jupyter_automl.widgets.job_view import curve_png
from tests.data import write_reviews_csv
from tests.serving import register_run, snapshot_for

pytestmark = pytest.mark.timeout(120)


def shown_html(box: w.Box) -> str:
    return "".join(c.value for c in box.children if isinstance(c, w.HTML))


def test_upload_form_shows_the_report_and_freezes_a_split(make_automl, tmp_path):
    automl = make_automl()
    form = UploadForm(automl, model_type="text_classification", base_model="tiny-encoder",
                      path=str(write_reviews_csv(tmp_path / "reviews.csv", rows=120)))
    assert "tiny-encoder" in [name for _, name in form.base_model.options]
    assert "tiny-llm" not in [name for _, name in form.base_model.options]
    form.name.value = "reviews"
    form.upload_button.click()
    form.wait(60)
    assert form.error is None, form.error
    assert form.dataset.name == "reviews" and form.dataset.valid_rows == 120
    assert [d.id for d in automl.list_datasets()] == [form.dataset.id]
    report_html = shown_html(form.report)
    assert "Rows per class" in report_html and "shipping" in report_html
    assert "Tokens</b>: min" in report_html
    pictures = [c for c in form.report.children if isinstance(c, w.Image)]
    assert len(pictures) == 1 and bytes(pictures[0].value).startswith(b"\x89PNG")
    assert not form.freeze_button.disabled

    form.test_percent.value = 25
    form.freeze_button.click()
    assert form.error is None, form.error
    made = sorted((s.role, s.rows) for s in automl.list_snapshots("text_classification"))
    assert made == [("test", 30), ("train", 90), ("train", 120)]  # the frozen whole, then its split
    assert form.snapshot.role == "train" and form.test_snapshot.role == "test"
    assert form.test_snapshot.rows == 30


def test_upload_form_lists_invalid_rows_and_refuses_to_freeze(make_automl, tmp_path):
    automl = make_automl()
    path = tmp_path / "broken.csv"
    path.write_text("text_data,sentiment\nfine text,positive\n,negative\nmore,\n", encoding="utf-8")
    form = UploadForm(automl, base_model="tiny-encoder", path=str(path))
    form.upload()
    form.wait(60)
    report = form.dataset.validation
    assert not report.valid
    assert form.freeze_button.disabled
    assert "cannot be used for training" in form.message.value
    table = shown_html(form.report)
    for issue in report.errors:  # each error shows with its row, column and reason
        if issue.row is not None:
            assert f"<td>{issue.row}</td>" in table and issue.reason.split(":")[0] in table
    form.freeze()  # a click that got through anyway: the core's refusal, as a message
    assert form.error is not None and "cannot be frozen" in form.error
    assert automl.list_snapshots() == []


def test_upload_form_without_a_file_says_so(make_automl):
    form = UploadForm(make_automl())
    form.upload()
    form.wait(10)
    assert form.error == "choose a file, or give the path of a file on the server"
    assert "Traceback" not in form.message.value


def _send_file(widget: ChunkedUpload, name: str, data: bytes, chunk: int) -> list[dict]:
    """Play the page's side: begin, then each slice once the previous one is acknowledged."""
    replies: list[dict] = []
    widget.send = lambda content, buffers=None: replies.append(content)
    widget._on_message(widget, {"type": "begin", "name": name, "size": len(data)}, [])
    while replies[-1]["type"] == "ack" and replies[-1]["received"] < len(data):
        offset = replies[-1]["received"]
        widget._on_message(widget, {"type": "chunk", "offset": offset},
                           [memoryview(data[offset:offset + chunk])])
    return replies


def test_chunked_upload_reassembles_the_file_and_the_form_uploads_it(make_automl, tmp_path):
    automl = make_automl()
    data = write_reviews_csv(tmp_path / "r.csv", rows=120).read_bytes()
    form = UploadForm(automl, base_model="tiny-encoder")
    replies = _send_file(form.picker, "réseñas.csv", data, chunk=2000)
    assert [r["received"] for r in replies] == list(range(0, len(data), 2000)) + [len(data)]
    assert form.picker.complete
    received = form.picker.path
    assert open(received, "rb").read() == data
    form.upload()
    form.wait(60)
    assert form.error is None and form.dataset.filename == "réseñas.csv"
    assert form.dataset.valid_rows == 120
    assert not form.picker.complete and not Path(received).exists()  # staging emptied


def test_chunked_upload_stops_at_the_upload_limit(make_automl, tmp_path):
    automl = make_automl(max_upload_bytes=1000)
    widget = ChunkedUpload(automl.root / "staging", automl.check_upload_size)
    replies = _send_file(widget, "big.csv", b"x" * 1001, chunk=400)
    assert replies == [{"type": "error", "message": replies[0]["message"]}]
    assert "larger than the upload limit of 1,000 bytes" in replies[0]["message"]
    # A size announced too small is caught as the bytes arrive, and nothing is left behind.
    replies = []
    widget.send = lambda content, buffers=None: replies.append(content)
    widget._on_message(widget, {"type": "begin", "name": "lie.csv", "size": 10}, [])
    widget._on_message(widget, {"type": "chunk", "offset": 0}, [b"y" * 1200])
    assert replies[-1]["type"] == "error" and not widget.complete
    assert list((automl.root / "staging").iterdir()) == []
    # A slice out of order is refused rather than written in the wrong place.
    widget._on_message(widget, {"type": "begin", "name": "a.csv", "size": 20}, [])
    widget._on_message(widget, {"type": "chunk", "offset": 10}, [b"z" * 10])
    assert replies[-1] == {"type": "error", "message": "slice at byte 10 arrived, 0 expected; upload again"}


def test_options_form_follows_the_schema(make_automl, tmp_path):
    automl = make_automl()
    snapshot = snapshot_for(automl, "text_classification", tmp_path)
    form = OptionsForm(automl.options_schema(snapshot_id=snapshot, base_model="tiny-encoder"))
    assert form.fields["selection_label"].control.options == ("sentiment", "topic")
    assert form.fields["selection_rule"].control.options == ("balanced_accuracy", "f1", "loss")
    assert "max_tokens" not in form.fields  # an LLM option
    epochs, patience = form.fields["max_epochs"].control, form.fields["early_stopping"]
    assert (epochs.min, epochs.max) == (1, 1000)
    epochs.value = 3
    assert patience.control.max == 3
    patience.set.value = True
    patience.control.value = 7  # beyond max_epochs: the widget keeps it in range
    assert patience.control.value == 3
    assert form.value == {"max_epochs": 3, "early_stopping": 3}

    # Values carried over from another schema keep only what the new one allows.
    carried = OptionsForm(automl.options_schema(snapshot_id=snapshot, base_model="tiny-encoder"),
                          {"selection_label": "colour", "max_epochs": 4})
    assert carried.value == {"max_epochs": 4}

    chat = OptionsForm(automl.options_schema("llm_chat", base_model="tiny-llm"))
    assert chat.fields["selection_rule"].control.options == ("loss",)
    assert chat.fields["max_tokens"].control.max >= 2048
    assert chat.value == {}


def test_model_form_trains_and_the_job_view_follows_the_job(make_automl, tiny_runs, tmp_path):
    automl = make_automl()
    snapshot = snapshot_for(automl, "text_classification", tmp_path / "csv")
    form = ModelForm(automl, model_type="text_classification", snapshot_id=snapshot,
                     base_model="tiny-encoder")
    assert form.snapshot.value == snapshot
    assert form.options.fields["selection_label"].control.options == ("sentiment", "topic")

    form.name.value = "bad/name"
    form.train_button.click()
    assert "model name 'bad/name'" in form.error and automl.list_models() == []

    form.name.value = "reviews"
    form.options.fields["max_epochs"].control.value = 2
    form.options.fields["selection_label"].control.value = "topic"
    form.test_percent.value = 30
    form.train_button.click()
    assert form.error is None, form.error
    model = automl.get_model("reviews")
    assert model.options == {"max_epochs": 2, "selection_label": "topic"}
    assert model.test_split_percent == 30
    assert form.job.status() == "queued" and form.train_button.description == "Update Model"

    view: JobView = form.job_view
    assert "queued" in view.status.value and not view.cancel_button.disabled
    register_run(automl, form.job.id, tiny_runs["text_classification"])
    view.wait(30)
    assert view.info.status == "succeeded" and view.bar.value == 1.0
    assert "balanced accuracy" in view.summary.value and view.cancel_button.disabled
    here = tmp_path / "notebook-folder"
    here.mkdir()
    link = view.open_report(here=here)
    assert (here / link).is_file() and link.parts[0] == "automl-reports"
    assert link.as_posix() in view.link.outputs[0]["data"]["text/html"]

    # Update Model: the same form queues version 2 with the changed options.
    form.options.fields["max_epochs"].control.value = 4
    form.train_button.click()
    assert form.error is None, form.error
    assert form.job.info().version == 2
    assert automl.get_version("reviews", 2).options["max_epochs"] == 4
    assert automl.get_version("reviews", 1).options["max_epochs"] == 2


def test_update_form_starts_from_the_model_and_cancel_ends_the_job(make_automl, tmp_path):
    automl = make_automl()
    snapshot = snapshot_for(automl, "llm_chat", tmp_path / "csv")
    automl.create_model("helper", snapshot, base_model="tiny-llm", options={"max_epochs": 3},
                        test_percent=15)
    form = ModelForm(automl, model="helper")
    assert form.name.disabled and form.model_type.value == "llm_chat"
    assert form.options.fields["max_epochs"].control.value == 3
    assert form.test_percent.value == 15 and form.train_button.description == "Update Model"
    form.options.fields["early_stopping"].set.value = True
    form.options.fields["early_stopping"].control.value = 2
    form.train_button.click()
    assert form.error is None, form.error
    assert automl.get_version("helper", 1).options == {"max_epochs": 3, "early_stopping": 2}
    form.job_view.cancel_button.click()
    form.job_view.wait(10)
    assert form.job_view.info.status == "cancelled"


def test_model_form_without_a_snapshot_says_what_to_do(make_automl):
    form = ModelForm(make_automl(), model_type="image_classification", name="photos")
    form.train()
    assert form.error == ("no image_classification training snapshot: upload a dataset and "
                          "freeze it first")


def test_progress_keeps_a_thinned_loss_curve_for_the_live_view(tmp_path):
    progress = ProgressFile(tmp_path / "progress.json", every_seconds=0)
    state = TrainingState(total_steps=2000)
    for step in range(1, 1001):
        state.step, state.loss = step, 1.0 / step
        progress.on_step_end(state)
    steps = [s for s, _ in progress.losses]
    assert len(steps) <= KEEP_LOSSES and steps[0] == 1 and steps[-1] == 1000
    assert steps == sorted(steps)
    assert curve_png({"losses": progress.losses}).startswith(b"\x89PNG")
    assert curve_png({}) is None
