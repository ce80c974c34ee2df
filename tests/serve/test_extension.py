"""The server extension runs a job worker: a model trained over REST is trained by the server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.serve.conftest import server_config
from tests.serving import snapshot_for


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models):
    config = server_config(tmp_path, tiny_base_models)
    config["AutoMLExtension"]["run_worker"] = True
    config["JobWorker"] = {"poll_seconds": 0.2, "heartbeat_seconds": 0.5}
    return config


async def test_the_server_trains_queued_jobs_itself(jp_fetch, server_automl, tmp_path):
    snapshot = snapshot_for(server_automl, "llm_chat", tmp_path / "csv")
    server_automl.create_model("bot", snapshot, base_model="tiny-llm",
                               options={"max_epochs": 1, "batch_size": 16})
    job = server_automl.train("bot")
    workers = json.loads((await jp_fetch("automl", "api", "workers")).body)["workers"]
    assert len(workers) == 1 and workers[0]["executor"] == "local"
    for _ in range(1200):
        info = job.info()
        if info.done:
            break
        await asyncio.sleep(0.25)
    assert info.status == "succeeded", info.error
    assert server_automl.get_version("bot").status == "trained"
