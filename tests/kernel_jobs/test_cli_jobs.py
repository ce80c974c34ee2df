"""`jupyter automl models|train|jobs`: a user's whole training session from a terminal, with
the worker started on demand as its own process."""

from __future__ import annotations

import json

import pytest

from tests.data import cli_runner, write_chat_csv

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(tmp_path, tiny_base_models, monkeypatch, capsys):
    return cli_runner(tmp_path, monkeypatch, capsys, {
        "AutoML": {"base_models": tiny_base_models, "spawned_worker_idle_seconds": 2},
        "JobWorker": {"heartbeat_seconds": 0.5, "poll_seconds": 0.2},
    })


def test_create_train_and_inspect_a_model_from_the_command_line(cli, tmp_path):
    code, out, _ = cli("datasets", "upload", str(write_chat_csv(tmp_path / "c.csv", rows=120)),
                       "--type", "llm_chat", "--base-model", "tiny-llm", "--json")
    snapshot = json.loads(cli("snapshots", "create", json.loads(out)["id"], "--json")[1])["id"]

    code, out, err = cli("models", "create", "bot", "--snapshot", snapshot, "--base-model", "tiny-llm",
                         "--option", "max_epochs=1", "--option", "batch_size=16")
    assert code == 0, err
    assert "llm_chat" in out and '"max_epochs": 1' in out
    code, _, err = cli("models", "create", "bot2", "--snapshot", snapshot, "--options", "{oops")
    assert code == 2 and "--options is not JSON" in err

    code, out, err = cli("train", "bot", "--wait")
    assert code == 0, out + err
    assert "succeeded" in out and "vs base" in out and "loss" in out
    assert "report: " in out and "report.ipynb" in out

    code, out, _ = cli("models", "show", "bot")
    assert code == 0 and "v1  trained" in out and "report.ipynb" in out

    jobs = json.loads(cli("jobs", "list", "--json")[1])
    assert [(j["model"], j["status"]) for j in jobs] == [("bot v1", "succeeded")]
    job_id = jobs[0]["id"]
    code, out, _ = cli("jobs", "show", job_id)
    assert code == 0 and "succeeded" in out and "notebook:" in out
    code, out, _ = cli("jobs", "logs", job_id)
    assert code == 0 and "attempt 1 on" in out and "base model on the test rows" in out
    code, _, err = cli("jobs", "cancel", job_id)
    assert code == 1 and "already succeeded" in err
    code, _, err = cli("jobs", "show", "no-such-job")
    assert code == 2 and "no job" in err
