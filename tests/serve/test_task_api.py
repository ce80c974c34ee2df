"""The task API of a real jupyter server: key auth, sync and async tasks, callbacks, batching,
the bounded queue, and bad input."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from tornado import web
from tornado.httpserver import HTTPServer

TEXT = {"text_data": "The tent arrived fast and works well"}


async def wait_until(condition, timeout: float = 30.0):
    for _ in range(int(timeout / 0.1)):
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_sync_task_answers_with_every_class_of_every_head(deploy, task_api):
    created = deploy("reviews")
    code, task, _ = await task_api("POST", "sync", key=created.new_keys[0].key, body=TEXT)
    assert code == 200, task
    assert task["deployment_id"] == created.id and task["state"] == "succeeded"
    entry = task["status"][0]
    assert entry["status"]["code"] == "0"
    heads = {h["head"]: {c["class"] for c in h["classes"]} for h in entry["response"]["output"]}
    assert heads == {"sentiment": {"positive", "negative", "neutral"},
                     "topic": {"price", "quality", "shipping", "support"}}
    assert entry["response"]["input"]["text_data"] == TEXT["text_data"]
    assert len(entry["response"]["input"]["hash"]) == 64


async def test_requests_without_a_valid_key_are_401(deploy, task_api, server_automl):
    created = deploy("reviews")
    code, body, headers = await task_api("POST", "sync", body=TEXT)
    assert code == 401 and "missing API key" in body["message"]
    assert headers["WWW-Authenticate"].startswith("Token")
    code, body, _ = await task_api("POST", "sync", key="jam_not-a-key", body=TEXT)
    assert code == 401 and "invalid or revoked" in body["message"]
    code, _, _ = await task_api("POST", "sync", body=TEXT,
                                headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert code == 401
    server_automl.revoke_key(created.id, 1)
    code, _, _ = await task_api("POST", "sync", key=created.new_keys[0].key, body=TEXT)
    assert code == 401
    code, _, _ = await task_api("POST", "sync", key=created.new_keys[1].key, body=TEXT)
    assert code == 200


async def test_a_key_cannot_read_another_deployments_tasks(deploy, task_api):
    a, b = deploy("first"), deploy("second")
    code, task, _ = await task_api("POST", "async", key=b.new_keys[0].key, body=TEXT)
    assert code == 202
    code, body, _ = await task_api("GET", task["id"], key=a.new_keys[0].key)
    assert code == 401 and "has no task" in body["message"]
    code, _, _ = await task_api("GET", task["id"], key=b.new_keys[1].key)
    assert code == 200
    code, body, _ = await task_api("GET", "0" * 32, key=b.new_keys[0].key)
    assert code == 404


class _Recorder(web.RequestHandler):
    def initialize(self, seen):
        self.seen = seen

    def post(self):
        self.seen.append(json.loads(self.request.body))


async def test_async_task_is_stored_answered_and_posted_to_its_callback(deploy, task_api):
    created = deploy("reviews")
    key = created.new_keys[0].key
    seen: list = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    receiver = HTTPServer(web.Application([(r"/hook", _Recorder, {"seen": seen})]))
    receiver.listen(port, "127.0.0.1")
    try:
        code, task, _ = await task_api("POST", "async", key=key,
                                       body={**TEXT, "callback_url": f"http://127.0.0.1:{port}/hook"})
        assert code == 202 and task["status"][0]["status"]["code"] == "2"

        async def finished():
            code, body, _ = await task_api("GET", task["id"], key=key)
            return body if body["state"] != "queued" else None

        done = await wait_until(finished)
        assert done["state"] == "succeeded" and done["status"][0]["response"]["output"]
        await wait_until(lambda: asyncio.sleep(0, result=bool(seen)))
        assert seen[0]["id"] == task["id"] and seen[0]["state"] == "succeeded"
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "body, headers, message",
    [
        ("not json", {}, "not JSON"),
        ("[1, 2]", {}, "JSON object"),
        ({}, {}, "exactly one input"),
        ({"text_data": "a", "url": "https://example.com/x.png"}, {}, "exactly one input"),
        ({"text_data": 5}, {}, "non-empty string"),
        ({"text_data": "a", "color": "red"}, {}, "unknown field"),
        ({"text_data": "a", "options": "[1"}, {}, "options is not JSON"),
        ({"text_data": "a", "options": [1]}, {}, "options must be a JSON object"),
        ({"url": "ftp://example.com/x.png"}, {}, "http(s) URL"),
        ({"url": "https://example.com/x.png"}, {}, "classifies text"),
        ({"text_data": "a", "callback_url": "http://example.com/hook"}, {}, "callback_url is for async"),
    ],
)
async def test_bad_sync_requests_are_400_with_the_reason(deploy, task_api, body, headers, message):
    created = deploy("reviews")
    code, answer, _ = await task_api("POST", "sync", key=created.new_keys[0].key, body=body, headers=headers)
    assert code == 400 and message in answer["message"], answer


async def test_media_upload_to_a_text_model_is_refused(deploy, task_api):
    created = deploy("reviews")
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\nPNGDATA\r\n--{boundary}--\r\n")
    code, answer, _ = await task_api(
        "POST", "sync", key=created.new_keys[0].key, body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 400 and "classifies text" in answer["message"]


async def test_concurrent_requests_share_model_calls(deploy, task_api, server_automl):
    created = deploy("reviews")
    key = created.new_keys[0].key
    answers = await asyncio.gather(*[
        task_api("POST", "sync", key=key, body={"text_data": f"review number {i}"}) for i in range(24)
    ])
    assert [code for code, _, _ in answers] == [200] * 24
    texts = [a[1]["status"][0]["response"]["input"]["text_data"] for a in answers]
    assert texts == [f"review number {i}" for i in range(24)]
    batcher = server_automl.serving._batchers[created.version_id]
    assert batcher.items == 24 and batcher.batches < 24
    assert server_automl.get_deployment(created.id).requests == 24


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models, request):
    from tests.serve.conftest import server_config

    runtime = getattr(request, "param", {})
    return server_config(tmp_path, tiny_base_models, **runtime)


@pytest.mark.parametrize("jp_server_config", [{"max_queue": 2, "batch_window_ms": 200.0}], indirect=True)
async def test_a_full_queue_answers_503_with_retry_after(deploy, task_api):
    created = deploy("reviews")
    key = created.new_keys[0].key
    answers = await asyncio.gather(*[task_api("POST", "sync", key=key, body=TEXT) for _ in range(8)])
    codes = sorted(code for code, _, _ in answers)
    assert codes.count(200) >= 2 and 503 in codes
    refused = next(a for a in answers if a[0] == 503)
    assert int(refused[2]["Retry-After"]) >= 1 and "try again later" in refused[1]["message"]
