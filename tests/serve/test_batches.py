"""Batches without the Jupyter server: the Python API and CLI (an LLM batch checked against the
deployment's own answers), image batches from a zip, and a `jupyter automl serve` killed with
SIGKILL mid-batch (the file sent with the deployment's key) that finishes it after the restart
with every row recorded exactly once."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
import urllib.request
import zipfile

import pytest
from PIL import Image
from sqlalchemy import func, select

from jupyter_automl.errors import Conflict, DataValidationError
from jupyter_automl.store import orm
from tests.data import cli_runner
from tests.rest.forms import form_body
from tests.serve.test_serve_command import _free_port, _start


def test_an_llm_batch_answers_each_row_as_the_deployment_answers_it_alone(trained, tmp_path):
    automl, register = trained
    register("bot", "llm_chat")
    automl.deploy("bot", name="bot")
    history = json.dumps([{"role": "customer", "content": "hello"}, {"role": "agent", "content": "hi"}])
    roles = json.dumps({"user": "customer", "model": "agent"})
    path = tmp_path / "prompts.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["prompt", "system_prompt", "prompt_history", "roles", "completion"])
        writer.writerow(["Where is my invoice?", "", "", "", "ignored"])
        writer.writerow(["Wo ist meine Rechnung?", "Antworte kurz.", history, roles, ""])
        writer.writerow(["送货到挪威吗？", "", "", "", ""])
    info = automl.submit_batch("bot", path, options={"max_tokens": 6}, wait=True)
    assert (info.rows, info.succeeded, info.state) == (3, 3, "completed")
    assert any(w["column"] == "completion" for w in info.warnings)
    lines = [json.loads(line) for line in "".join(automl.batch_results("bot", info.id, "jsonl")).splitlines()]
    assert [line["row"] for line in lines] == [2, 3, 4]
    assert lines[1]["input"]["prompt_history"] == history and lines[1]["input"]["roles"] == roles
    alone = automl.predict("bot", "Wo ist meine Rechnung?", options={
        "max_tokens": 6, "system_prompt": "Antworte kurz.", "prompt_history": json.loads(history),
        "roles": json.loads(roles)})
    assert lines[1]["output"] == alone["status"][0]["response"]["output"]
    assert lines[1]["usage"] == alone["usage"]
    table = list(csv.DictReader(io.StringIO("".join(automl.batch_results("bot", info.id, "csv")))))
    assert list(table[0]) == ["row", "prompt", "system_prompt", "prompt_history", "roles", "status", "error",
                              "completion", "prompt_tokens", "completion_tokens"]
    assert table[2]["prompt"] == "送货到挪威吗？" and table[1]["completion"] == lines[1]["output"][0]["completion"]


def test_image_rows_come_from_the_zip_and_a_missing_image_refuses_the_file(make_automl, tiny_base_models,
                                                                          tmp_path):
    from tests.serving import register_run

    automl = make_automl()
    from jupyter_automl.training import train

    images = tmp_path / "train.zip"
    rows = ["image,animal"]
    with zipfile.ZipFile(images, "w") as archive:
        for i in range(120):
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), (255, 0, 0) if i % 2 else (0, 0, 255)).save(buffer, "PNG")
            archive.writestr(f"img/{i}.png", buffer.getvalue())
            rows.append(f"img/{i}.png,{'red' if i % 2 else 'blue'}")
        archive.writestr("labels.csv", "\n".join(rows) + "\n")
    dataset = automl.upload_dataset(images, "image_classification", base_model="tiny-vit")
    snapshot = automl.create_snapshot(dataset.id)
    automl.create_model("colours", snapshot.id, base_model="tiny-vit")
    run = train(automl.get_snapshot(snapshot.id).path, automl.registry.get("tiny-vit"), {"max_epochs": 1},
                out_dir=tmp_path / "run", test=20).version_dir
    register_run(automl, automl.train("colours").info().id, run)
    automl.deploy("colours", name="colours")

    batch = tmp_path / "batch.zip"
    with zipfile.ZipFile(images) as source, zipfile.ZipFile(batch, "w") as archive:
        for i in range(6):
            archive.writestr(f"pics/{i}.png", source.read(f"img/{i}.png"))
        archive.writestr("inputs.csv", "image\n" + "".join(f"pics/{i}.png\n" for i in range(6)))
    info = automl.submit_batch("colours", batch, wait=True)
    assert (info.rows, info.succeeded) == (6, 6)
    table = list(csv.DictReader(io.StringIO("".join(automl.batch_results("colours", info.id)))))
    assert [r["image"] for r in table] == [f"{i}.png" for i in range(6)]
    with open(tmp_path / "one.png", "wb") as f:
        f.write(zipfile.ZipFile(images).read("img/3.png"))
    alone = automl.predict("colours", media=tmp_path / "one.png")
    assert table[3]["animal"] == alone["status"][0]["response"]["output"][0]["classes"][0]["class"]

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("inputs.csv", "image\npics/0.png\npics/nope.png\n")
        archive.writestr("pics/0.png", zipfile.ZipFile(images).read("img/0.png"))
    with pytest.raises(DataValidationError) as refused:
        automl.submit_batch("colours", broken)
    errors = refused.value.details["errors"]
    assert any(e["row"] == 3 and e["column"] == "image" and "'pics/nope.png' is not in broken.zip" in e["reason"]
               for e in errors)
    assert len(automl.list_batches("colours")) == 1


def test_the_cli_submits_waits_and_saves_results_and_refuses_bad_files(trained, tmp_path, monkeypatch, capsys,
                                                                         tiny_base_models):
    automl, register = trained
    register("reviews")
    automl.deploy("reviews", name="shop")
    run = cli_runner(tmp_path, monkeypatch, capsys, {"AutoML": {"base_models": tiny_base_models}})
    store = ["--store-url", automl.store_url, "--data-dir", str(automl.root)]
    inputs = tmp_path / "in.csv"
    inputs.write_text("text_data\n" + "".join(f"parcel {i} came late\n" for i in range(40)), encoding="utf-8")
    out = tmp_path / "results" / "out.jsonl"
    code, printed, err = run(*store, "tasks", "submit", "shop", str(inputs), "--out", str(out))
    assert code == 0, err
    assert "40 rows, completed (40 succeeded, 0 failed)" in printed and "40/40 rows done" in err
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == list(range(2, 42))

    bad = tmp_path / "bad.csv"
    bad.write_text("text_data,note\nfine,a\n,b\n", encoding="utf-8")
    code, _, err = run(*store, "tasks", "submit", "shop", str(bad))
    assert code == 1 and "row 3, column 'text_data': empty text" in err and "nothing was queued" in err

    code, printed, _ = run(*store, "tasks", "submit", "shop", str(inputs), "--json")  # queued, not run
    queued = json.loads(printed)
    assert code == 0 and queued["state"] == "running" and queued["queued"] == 40
    with pytest.raises(Conflict, match="0 of 40 rows done"):
        automl.save_batch_results("shop", queued["id"], tmp_path / "early.csv")


def test_a_batch_survives_sigkill_mid_way_and_every_row_is_recorded_exactly_once(trained, tmp_path):
    automl, register = trained
    register("reviews")
    key = automl.deploy("reviews", name="shop").new_keys[0].key
    rows = 1000
    inputs = tmp_path / "in.csv"
    inputs.write_text("text_data\n" + "".join(f"review {i}: it arrived\n" for i in range(rows)), encoding="utf-8")
    runtime = {"task_lease_seconds": 2.0, "sweep_seconds": 0.2, "max_batch_size": 4}
    port = _free_port()
    first = _start(tmp_path, automl, port, runtime)
    form, headers = form_body({}, {"file": ("in.csv", inputs)})  # sent with the key, as an application does
    request = urllib.request.Request(f"http://127.0.0.1:{port}/automl/api/v2/task/batch", data=form, method="POST",
                                     headers={**headers, "Authorization": f"Token {key}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        batch = automl.get_batch("shop", json.loads(answer.read())["id"])
    deadline = time.monotonic() + 120
    while automl.get_batch("shop", batch.id).done < 100:
        assert time.monotonic() < deadline, "the server did not start the batch"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    with automl.store.session() as session:
        held = set(session.scalars(select(orm.Task.id).where(
            orm.Task.batch_id == batch.id, orm.Task.status == "queued", orm.Task.claimed_by.is_not(None))).all())
    at_kill = automl.get_batch("shop", batch.id)
    assert held and at_kill.done < rows, "the batch was not mid-way at the kill; the test proves nothing"

    second = _start(tmp_path, automl, port, runtime, "--processes", "2")
    try:
        finished = automl.wait_batch("shop", batch.id, timeout=300, poll=0.3)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert (finished.succeeded, finished.failed) == (rows, 0)
    with automl.store.session() as session:
        tasks = session.scalars(select(orm.Task).where(orm.Task.batch_id == batch.id)).all()
        assert sorted(t.batch_row for t in tasks) == list(range(2, rows + 2))  # one task per row
        assert all(t.claimed_by is None and t.status == "succeeded" for t in tasks)
        assert {t.id for t in tasks if t.attempts == 2} == held  # only the rows held at the kill ran again
        assert session.scalar(select(func.count()).select_from(orm.Task)) == rows
    assert automl.get_deployment("shop").requests == rows  # each row recorded once
    table = list(csv.DictReader(io.StringIO("".join(automl.batch_results("shop", batch.id)))))
    assert [r["text_data"] for r in table] == [f"review {i}: it arrived" for i in range(rows)]


def test_results_of_a_classifier_batch_whose_every_row_failed_keep_the_classifier_columns(trained, tmp_path):
    automl, register = trained
    register("reviews")
    automl.deploy("reviews", name="shop")
    inputs = tmp_path / "in.csv"
    inputs.write_text("text_data\nfirst\nsecond\n", encoding="utf-8")
    info = automl.submit_batch("shop", inputs, wait=True)
    with automl.store.session() as session:  # as when the model failed on every row
        for task in session.scalars(select(orm.Task).where(orm.Task.batch_id == info.id)):
            task.status, task.output, task.error = "failed", None, f"the model failed on row {task.batch_row}"
    table = list(csv.reader(io.StringIO("".join(automl.batch_results("shop", info.id)))))
    assert table == [["row", "text_data", "status", "error"],
                     ["2", "first", "failed", "the model failed on row 2"],
                     ["3", "second", "failed", "the model failed on row 3"]]
