"""Task history through the management REST API of a real jupyter server: every kind (sync,
async, playground) with its key and tokens, cursor pages, bad arguments, retention by the
server's own sweep, and a metadata-only deployment that stores no text."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from tornado import web
from tornado.httpserver import HTTPServer

from jupyter_automl.store import orm
from jupyter_automl.store.orm import utcnow
from tests.serve.conftest import management, server_config
from tests.serve.test_task_api import _Recorder, wait_until
from tests.serving import register_trained

SECRET = "the patient's name is Ada Lovelace"


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models):
    return server_config(tmp_path, tiny_base_models, task_cleanup_seconds=0.2)


async def _tasks(jp_fetch, deployment: str, **params):
    return await management(jp_fetch, "GET", "deployments", deployment, "tasks",
                            params={k: str(v) for k, v in params.items()})


async def _finished(task_api, key: str, task_id: str) -> dict:
    async def done():
        _, body, _ = await task_api("GET", task_id, key=key)
        return body if body["state"] != "queued" else None

    return await wait_until(done)


async def test_history_of_every_kind_pages_and_retention(jp_fetch, deploy, task_api, server_automl):
    reviews, bot = deploy("reviews"), deploy("bot", "llm_chat")
    key1, key2 = (k.key for k in reviews.new_keys)
    ids = {}
    ids["sync1"] = (await task_api("POST", "sync", key=key1, body={"text_data": "Fast delivery"}))[1]["id"]
    ids["sync2"] = (await task_api("POST", "sync", key=key2, body={"text_data": "Arrived broken"}))[1]["id"]
    code, queued, _ = await task_api("POST", "async", key=key1, body={"text_data": "Later, please"})
    assert code == 202
    ids["async"] = queued["id"]
    await _finished(task_api, key1, ids["async"])
    code, played = await management(jp_fetch, "POST", "models", "reviews", "versions", "1", "playground",
                                    body={"text_data": "From the playground"})
    assert code == 200
    ids["playground"] = played["id"]
    code, chat, _ = await task_api("POST", "sync", key=bot.new_keys[1].key,
                                   body={"text_data": "Hello", "options": {"max_tokens": 4}})
    assert code == 200

    seen, cursor, pages = [], None, 0
    for page in range(3):
        pages += 1
        code, body = await _tasks(jp_fetch, reviews.name, limit=2, **({"cursor": cursor} if cursor else {}))
        assert code == 200
        seen += body["tasks"]
        cursor = body["next_cursor"]
        await task_api("POST", "sync", key=key1, body={"text_data": f"after page {page}"})
        if cursor is None:
            break
    assert [t["id"] for t in seen] == [ids["playground"], ids["async"], ids["sync2"], ids["sync1"]]
    slot_ids = {1: reviews.new_keys[0].id, 2: reviews.new_keys[1].id}
    by_id = {t["id"]: t for t in seen}
    assert [by_id[ids[k]]["kind"] for k in ("sync1", "async", "playground")] == ["sync", "async", "playground"]
    assert by_id[ids["sync1"]]["api_key_id"] == slot_ids[1] and by_id[ids["sync1"]]["api_key_slot"] == 1
    assert by_id[ids["sync2"]]["api_key_id"] == slot_ids[2] and by_id[ids["sync2"]]["api_key_slot"] == 2
    assert by_id[ids["async"]]["api_key_id"] == slot_ids[1] and by_id[ids["async"]]["attempts"] == 1
    assert by_id[ids["playground"]]["api_key_id"] is None
    for task in seen:
        assert task["status"] == "succeeded" and task["latency_ms"] >= 0 and task["started_at"]
    assert key1 not in json.dumps(seen) and key2 not in json.dumps(seen)

    code, chats = await _tasks(jp_fetch, bot.id)
    (entry,) = chats["tasks"]
    assert entry["prompt_tokens"] > 0 and 0 < entry["completion_tokens"] <= 4
    assert entry["prompt_tokens"] == chat["usage"]["prompt_tokens"] and entry["api_key_slot"] == 2
    assert entry["output"][0]["completion"] == chat["status"][0]["response"]["output"][0]["completion"]

    code, one = await management(jp_fetch, "GET", "deployments", reviews.name, "tasks", ids["async"])
    assert code == 200 and one["input"]["text_data"] == "Later, please" and one["output"]
    assert (await management(jp_fetch, "GET", "deployments", bot.name, "tasks", ids["async"]))[0] == 404
    assert (await management(jp_fetch, "GET", "deployments", reviews.name, "tasks", "nope"))[0] == 404
    code, body = await _tasks(jp_fetch, reviews.name, status="failed")
    assert code == 200 and body == {"tasks": [], "next_cursor": None}
    code, body = await _tasks(jp_fetch, reviews.name, since="1h", until="2099-01-01T00:00:00Z", limit=500)
    assert pages == 2 and code == 200 and len(body["tasks"]) == 4 + pages
    for params, message in (({"cursor": "Zm9v"}, "is not one this API gave"),
                            ({"status": "done"}, "status must be one of"),
                            ({"since": "last week"}, "since"),
                            ({"limit": "many"}, "whole number"),
                            ({"limit": "501"}, "limit must be")):
        code, body = await _tasks(jp_fetch, reviews.name, **params)
        assert code == 400 and message in body["message"], params

    # Retention: the server's sweep deletes what finished more than 30 days ago.
    with server_automl.store.session() as session:
        session.execute(update(orm.Task).where(orm.Task.id == ids["sync1"])
                        .values(finished_at=utcnow() - timedelta(days=31)))

    async def gone():
        return (await management(jp_fetch, "GET", "deployments", reviews.name, "tasks", ids["sync1"]))[0] == 404

    await wait_until(gone, timeout=15)
    assert (await management(jp_fetch, "GET", "deployments", reviews.name, "tasks", ids["sync2"]))[0] == 200


async def test_metadata_only_deployment_stores_no_text(jp_fetch, server_automl, tiny_runs, tmp_path, task_api):
    register_trained(server_automl, "private", "text_classification", tiny_runs["text_classification"],
                     tmp_path / "csv")
    code, created = await management(jp_fetch, "POST", "deployments",
                                     body={"model": "private", "metadata_only": True})
    assert code == 202
    with server_automl.store.session() as session:
        assert session.get(orm.Deployment, created["id"]).options == {"metadata_only": True}
    await wait_until(lambda: asyncio.to_thread(
        lambda: server_automl.get_deployment(created["id"]).status == "complete"))
    key = created["new_keys"][0]["key"]
    code, task, _ = await task_api("POST", "sync", key=key, body={"text_data": SECRET})
    assert code == 200 and task["status"][0]["response"]["output"]  # the caller gets it all
    code, body, _ = await task_api("POST", "async", key=key, body={"text_data": SECRET})
    assert code == 400 and "callback_url" in body["message"]

    seen: list = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    receiver = HTTPServer(web.Application([(r"/hook", _Recorder, {"seen": seen})]))
    receiver.listen(port, "127.0.0.1")
    try:
        code, queued, _ = await task_api("POST", "async", key=key, body={
            "text_data": SECRET, "callback_url": f"http://127.0.0.1:{port}/hook"})
        assert code == 202
        done = await _finished(task_api, key, queued["id"])
        assert done["state"] == "succeeded" and done["status"][0]["response"]["output"] == []
        await wait_until(lambda: asyncio.sleep(0, result=bool(seen)))
        assert seen[0]["status"][0]["response"]["output"]  # the result went to the callback
    finally:
        receiver.stop()

    with server_automl.store.session() as session:
        rows = session.execute(select(orm.Task.input, orm.Task.output, orm.Task.status)
                               .where(orm.Task.deployment_id == created["id"])).all()
    assert len(rows) == 2 and {status for _, _, status in rows} == {"succeeded"}
    for task_input, output, _ in rows:
        assert output is None and SECRET not in json.dumps(task_input)
        assert task_input["metadata_only"] is True and len(task_input["hash"]) == 64
    code, body = await _tasks(jp_fetch, created["name"])
    assert code == 200 and len(body["tasks"]) == 2
    for entry in body["tasks"]:
        assert entry["metadata_only"] and entry["input"] is None and entry["output"] is None
        assert entry["input_preview"] is None and entry["input_type"] == "text_data"
