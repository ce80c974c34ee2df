"""LLM deployments batch continuously (serve/continuous.py): a request joins the generation in
progress instead of waiting for it, an answer is handed back as soon as it ends, and one
failing model call fails only the rows then in flight."""

from __future__ import annotations

import asyncio
import time

import pytest

from jupyter_automl.serve.continuous import ContinuousBatcher


@pytest.fixture
def bot(deploy):
    created = deploy("bot", "llm_chat")
    return created, created.new_keys[0].key


def ask(prompt: str, max_tokens: int) -> dict:
    # A high temperature keeps the tiny model from ending early (mostly).
    return {"text_data": prompt, "options": {"max_tokens": max_tokens, "temperature": 5.0, "seed": 1}}


async def test_a_short_request_is_answered_while_a_long_one_generates(bot, task_api, server_automl):
    created, key = bot
    await task_api("POST", "sync", key=key, body=ask("warm up", 2))
    finished: dict[str, float] = {}

    generator = server_automl.serving._generators[created.version_id]

    async def send(name: str, max_tokens: int) -> dict:
        code, answer, _ = await task_api("POST", "sync", key=key, body=ask(name, max_tokens))
        finished[name] = time.perf_counter()
        assert code == 200, answer
        return answer

    async def send_once_the_long_one_generates() -> dict:
        while generator.pending == 0:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        return await send("short", 3)

    long, short = await asyncio.gather(send("long", 1500), send_once_the_long_one_generates())
    assert long["usage"]["completion_tokens"] > 100 and short["usage"]["completion_tokens"] <= 3
    # Sent while the long one generated, the short one did not wait for it.
    assert finished["short"] < finished["long"]
    assert isinstance(generator, ContinuousBatcher) and generator.items == 3


async def test_concurrent_answers_equal_the_answers_one_at_a_time(bot, task_api):
    _, key = bot
    bodies = [{"text_data": f"question {n}" + " and more" * n, "options": {"max_tokens": 3 + n}}
              for n in range(6)]
    alone = [(await task_api("POST", "sync", key=key, body=body))[1] for body in bodies]
    together = await asyncio.gather(*(task_api("POST", "sync", key=key, body=body) for body in bodies))
    assert [a[1]["status"][0]["response"]["output"] for a in together] == \
        [a["status"][0]["response"]["output"] for a in alone]


async def test_a_failed_model_call_fails_the_rows_in_flight_and_the_next_request_is_answered(
        bot, task_api, server_automl, monkeypatch):
    created, key = bot
    code, _, _ = await task_api("POST", "sync", key=key, body=ask("first", 2))
    assert code == 200
    head = server_automl.serving._served[created.version_id].predictor.model.lm_head  # every pass ends in it
    forward = head.forward
    calls = {"n": 0}

    def breaks_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("out of memory")
        return forward(*args, **kwargs)

    monkeypatch.setattr(head, "forward", breaks_once)
    code, answer, _ = await task_api("POST", "sync", key=key, body=ask("second", 10))
    assert code == 500 and "failed" in answer["message"]
    code, answer, _ = await task_api("POST", "sync", key=key, body=ask("third", 4))
    assert code == 200 and answer["state"] == "succeeded"


@pytest.mark.parametrize("jp_server_config", [{"batching": False}], indirect=True)
async def test_with_batching_off_requests_are_answered_one_at_a_time(bot, task_api, server_automl):
    created, key = bot
    codes = await asyncio.gather(*(task_api("POST", "sync", key=key, body=ask(f"q{n}", 3)) for n in range(3)))
    assert [c for c, _, _ in codes] == [200] * 3
    assert created.version_id not in server_automl.serving._generators
    batcher = server_automl.serving._batchers[created.version_id]
    assert batcher.batches == batcher.items == 3


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models, request):
    from tests.serve.conftest import server_config

    return server_config(tmp_path, tiny_base_models, **getattr(request, "param", {}))


async def test_unloading_the_model_answers_the_rows_in_flight_with_503(bot, task_api, server_automl):
    created, key = bot
    await task_api("POST", "sync", key=key, body=ask("warm up", 2))

    async def unload_once_it_generates():
        generator = server_automl.serving._generators[created.version_id]
        while generator.pending == 0:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        server_automl.serving.unload(created.version_id)

    (code, answer, headers), _ = await asyncio.gather(
        task_api("POST", "sync", key=key, body=ask("long", 4000)), unload_once_it_generates())
    assert code == 503 and "unloaded" in answer["message"] and int(headers["Retry-After"]) >= 1
    # The next request loads the version again and is answered.
    code, _, _ = await task_api("POST", "sync", key=key, body=ask("again", 3))
    assert code == 200


@pytest.mark.parametrize("jp_server_config", [{"max_queue": 2}], indirect=True)
async def test_more_requests_than_the_queue_holds_get_503_with_retry_after(bot, task_api):
    _, key = bot
    await task_api("POST", "sync", key=key, body=ask("warm up", 2))
    answers = await asyncio.gather(*(task_api("POST", "sync", key=key, body=ask(f"q{n}", 200)) for n in range(5)))
    codes = sorted(code for code, _, _ in answers)
    assert codes.count(200) >= 2 and 503 in codes
    refused = next(a for a in answers if a[0] == 503)
    assert "limit" in refused[1]["message"] and int(refused[2]["Retry-After"]) >= 1


async def test_an_async_task_in_flight_when_the_model_is_unloaded_stays_queued_and_is_answered_later(
        bot, task_api, server_automl):
    created, key = bot
    await task_api("POST", "sync", key=key, body=ask("warm up", 2))
    code, task, _ = await task_api("POST", "async", key=key, body=ask("a long story", 3000))
    assert code == 202
    runtime = server_automl.serving
    for _ in range(100):
        generator = runtime._generators.get(created.version_id)
        if generator is not None and generator.pending:
            break
        await asyncio.sleep(0.02)
    assert generator.pending == 1  # generating
    runtime.unload(created.version_id)  # as when the server stops
    await asyncio.sleep(0.3)
    code, seen, _ = await task_api("GET", task["id"], key=key)
    assert seen["state"] == "queued"  # not failed: nothing was recorded
    for _ in range(600):
        code, seen, _ = await task_api("GET", task["id"], key=key)
        if seen["state"] != "queued":
            break
        await asyncio.sleep(0.1)
    assert seen["state"] == "succeeded" and seen["usage"]["completion_tokens"] > 0
