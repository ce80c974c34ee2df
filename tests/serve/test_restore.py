"""A jupyter server that starts on a store with a complete deployment and a waiting async task
loads the deployment and answers the task without being asked."""

from __future__ import annotations

import asyncio
import json

import pytest

from jupyter_automl import AutoML
from tests.serve.conftest import server_config
from tests.serving import register_trained


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models, tiny_runs):
    config = server_config(tmp_path, tiny_base_models)
    automl = AutoML(**config["AutoML"])
    try:
        register_trained(automl, "reviews", "text_classification", tiny_runs["text_classification"],
                         tmp_path / "csv")
        created = automl.deploy("reviews")
        task = automl.submit_task(created.id, "stored while no server ran")
    finally:
        automl.close()
    (tmp_path / "before.json").write_text(json.dumps(
        {"version_id": created.version_id, "task_id": task["id"], "key": created.new_keys[0].key}))
    return config


async def test_restart_restores_deployments_and_answers_stored_tasks(server_automl, tmp_path, task_api):
    before = json.loads((tmp_path / "before.json").read_text())
    runtime = server_automl.serving
    for _ in range(300):
        if before["version_id"] in runtime._served:
            break
        await asyncio.sleep(0.1)
    assert before["version_id"] in runtime._served  # loaded at start, before any request
    for _ in range(300):
        code, task, _ = await task_api("GET", before["task_id"], key=before["key"])
        if task["state"] != "queued":
            break
        await asyncio.sleep(0.1)
    assert code == 200 and task["state"] == "succeeded"
    assert task["status"][0]["response"]["input"]["text_data"] == "stored while no server ran"
