"""Deployment usage through the management REST API of a real jupyter server: real tasks by
two keys and without a key, the answer checked against the OpenAPI document, and bad
arguments."""

from __future__ import annotations

from datetime import timedelta

from jupyter_automl.store import orm
from tests.serve.conftest import management
from tests.serve.test_usage import store_tasks


async def test_usage_of_real_tasks_and_bad_arguments(jp_fetch, deploy, task_api, server_automl):
    reviews = deploy("reviews")
    key1, key2 = reviews.new_keys
    for key, text in ((key1, "Fast delivery"), (key1, "Slow delivery"), (key2, "Arrived broken")):
        code, _, _ = await task_api("POST", "sync", key=key.key, body={"text_data": text})
        assert code == 200
    code, _ = await management(jp_fetch, "POST", "models", "reviews", "versions", "1", "playground",
                               body={"text_data": "From the playground"})
    assert code == 200  # answered by the deployment, without a key
    yesterday = orm.utcnow() - timedelta(days=1)
    store_tasks(server_automl, reviews.id, [(key2.id, "failed", 0, 0, yesterday, 30)])

    code, body = await management(jp_fetch, "GET", "deployments", reviews.name, "usage",
                                  params={"days": "3"})
    assert code == 200  # and the shape is the document's (checked by management)
    today = orm.utcnow().date()
    assert body["deployment_id"] == reviews.id and body["deployment_name"] == reviews.name
    assert (body["since"], body["until"]) == (str(today - timedelta(days=2)), str(today))
    assert [d["day"] for d in body["days"]] == [str(today - timedelta(days=n)) for n in (2, 1, 0)]
    first, second, third = (d["figures"] for d in body["days"])
    assert first["requests"] == 0 and first["p50_ms"] is None and body["days"][0]["keys"] == []
    assert second["requests"] == second["errors"] == 1 and second["p50_ms"] == 30.0
    assert third["requests"] == 4 and third["errors"] == 0 and third["p99_ms"] >= third["p50_ms"] >= 0
    assert body["total"]["requests"] == 5 and body["total"]["errors"] == 1
    assert [(k["api_key_slot"], k["figures"]["requests"]) for k in body["keys"]] == [
        (1, 2), (2, 2), (None, 1)]
    assert body["keys"][0]["api_key_id"] == key1.id and body["keys"][2]["api_key_id"] is None
    assert key1.key[:len(body["keys"][0]["api_key_prefix"])] == body["keys"][0]["api_key_prefix"]

    code, body = await management(jp_fetch, "GET", "deployments", reviews.id, "usage")
    assert code == 200 and len(body["days"]) == 14
    for params, message in (({"days": "0"}, "days must be a whole number from 1 to 366"),
                            ({"days": "367"}, "days must be"),
                            ({"days": "a week"}, "'days' must be a whole number")):
        code, body = await management(jp_fetch, "GET", "deployments", reviews.name, "usage",
                                      params=params)
        assert code == 400 and message in body["message"], params
    code, body = await management(jp_fetch, "GET", "deployments", "nowhere", "usage")
    assert code == 404 and "nowhere" in body["message"]
