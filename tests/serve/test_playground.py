"""The playground through the management REST API: exact limits under concurrency, the time
limit, and no limit once the version is deployed."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from jupyter_automl.store import orm
from tests.serve.conftest import management
from tests.serving import register_trained


@pytest.fixture
def register(server_automl, tiny_runs, tmp_path):
    def make(name: str, kind: str = "text_classification"):
        return register_trained(server_automl, name, kind, tiny_runs[kind], tmp_path / "csv" / name)

    return make


async def _ask(jp_fetch, model: str, version: int, body: dict):
    # The test client sends 10 requests at a time and times out requests that wait in its queue:
    # 600 at once may wait longer than its default 20 s on a loaded machine.
    return await management(jp_fetch, "POST", "models", model, "versions", str(version), "playground",
                            body=body, connect_timeout=300, request_timeout=300)


async def test_exactly_500_of_600_concurrent_requests_are_answered(jp_fetch, register, server_automl):
    version = register("reviews")
    answers = await asyncio.gather(*[
        _ask(jp_fetch, "reviews", version.version, {"text_data": f"review {i}"}) for i in range(600)
    ])
    codes = [code for code, _ in answers]
    assert codes.count(200) == 500 and codes.count(403) == 100
    refused = next(body for code, body in answers if code == 403)
    assert "answered its 500 requests" in refused["message"] and "deploy" in refused["message"]
    usage = json.loads((await jp_fetch("automl", "api", "models", "reviews", "versions",
                                       str(version.version), "playground")).body)
    assert usage["requests"] == 500 and usage["remaining"] == 0
    with server_automl.store.session() as session:
        assert session.query(orm.Task).filter_by(kind="playground").count() == 500


async def test_the_playground_ends_after_15_days(jp_fetch, register, server_automl):
    version = register("reviews")
    code, _ = await _ask(jp_fetch, "reviews", version.version, {"text_data": "fine"})
    assert code == 200
    with server_automl.store.session() as session:
        session.execute(update(orm.ModelVersion).where(orm.ModelVersion.id == version.id)
                        .values(trained_at=datetime.now(timezone.utc) - timedelta(days=15, minutes=1)))
    code, body = await _ask(jp_fetch, "reviews", version.version, {"text_data": "fine"})
    assert code == 403 and "15 days after training" in body["message"] and "deploy" in body["message"]


async def test_a_deployed_version_is_not_limited_and_counts_as_usage(jp_fetch, register, server_automl):
    server_automl.serving.playground_max_requests = 1
    version = register("reviews")
    assert (await _ask(jp_fetch, "reviews", version.version, {"text_data": "one"}))[0] == 200
    assert (await _ask(jp_fetch, "reviews", version.version, {"text_data": "two"}))[0] == 403
    deployment = server_automl.deploy("reviews")
    for text in ("three", "four"):
        code, task = await _ask(jp_fetch, "reviews", version.version, {"text_data": text})
        assert code == 200 and task["deployment_id"] == deployment.id
    assert server_automl.get_deployment(deployment.id).requests == 2


async def test_playground_refuses_bad_requests_without_counting_them(jp_fetch, register, server_automl):
    version = register("bot", "llm_chat")
    code, body = await _ask(jp_fetch, "bot", version.version, {"text_data": "hi", "options": {"max_tokens": -1}})
    assert code == 400 and "max_tokens" in body["message"]
    code, body = await _ask(jp_fetch, "bot", version.version, {"text_data": "hi", "options": {"max_tokens": 4}})
    assert code == 200 and body["status"][0]["response"]["output"][0]["completion_tokens"] <= 4
    assert server_automl.playground_usage("bot", version.version).requests == 1
    code, body = await _ask(jp_fetch, "bot", 7, {"text_data": "hi"})
    assert code == 404 and "no version 7" in body["message"]
    server_automl.train("bot")
    code, body = await _ask(jp_fetch, "bot", version.version + 1, {"text_data": "hi"})
    assert code == 409 and "trained versions only" in body["message"]
