"""Deployments through the management REST API of a real jupyter server."""

from __future__ import annotations

import asyncio

from tests.serve.conftest import management

from tests.serving import register_trained


async def _until_settled(jp_fetch, deployment_id: str) -> dict:
    for _ in range(300):
        code, info = await management(jp_fetch, "GET", "deployments", deployment_id)
        if info["status"] != "deploying":
            return info
        await asyncio.sleep(0.1)
    raise AssertionError("still deploying")


async def test_deploy_rotate_undeploy_redeploy(jp_fetch, server_automl, tiny_runs, tmp_path, task_api):
    register_trained(server_automl, "reviews", "text_classification", tiny_runs["text_classification"],
                     tmp_path / "csv")
    code, created = await management(jp_fetch, "POST", "deployments", body={"model": "reviews", "name": "shop"})
    assert code == 202 and created["status"] == "deploying" and len(created["new_keys"]) == 2
    info = await _until_settled(jp_fetch, created["id"])
    assert info["status"] == "complete" and "new_keys" not in info
    assert all("key" not in k for k in info["keys"])
    key1, key2 = (k["key"] for k in created["new_keys"])
    assert (await task_api("POST", "sync", key=key1, body={"text_data": "fine"}))[0] == 200

    code, listed = await management(jp_fetch, "GET", "deployments")
    assert [d["name"] for d in listed["deployments"]] == ["shop"]
    code, rotated = await management(jp_fetch, "POST", "deployments", "shop", "keys", "1")
    assert code == 201 and rotated["slot"] == 1 and rotated["key"] != key1
    server_automl.serving.forget_keys()
    assert (await task_api("POST", "sync", key=key1, body={"text_data": "fine"}))[0] == 401
    assert (await task_api("POST", "sync", key=key2, body={"text_data": "fine"}))[0] == 200
    assert (await task_api("POST", "sync", key=rotated["key"], body={"text_data": "fine"}))[0] == 200
    code, info = await management(jp_fetch, "DELETE", "deployments", "shop", "keys", "2")
    assert code == 200 and [k["revoked_at"] is not None for k in info["keys"] if k["slot"] == 2] == [True]

    code, info = await management(jp_fetch, "POST", "deployments", "shop", "undeploy")
    assert code == 200 and info["status"] == "undeployed"
    server_automl.serving.forget_keys()
    code, body, _ = await task_api("POST", "sync", key=rotated["key"], body={"text_data": "fine"})
    assert code == 404 and "redeploy" in body["message"]
    code, body = await management(jp_fetch, "POST", "deployments", "shop", "undeploy")
    assert code == 409
    code, info = await management(jp_fetch, "POST", "deployments", "shop", "redeploy")
    assert code == 202
    assert (await _until_settled(jp_fetch, info["id"]))["status"] == "complete"
    server_automl.serving.forget_keys()
    assert (await task_api("POST", "sync", key=rotated["key"], body={"text_data": "fine"}))[0] == 200
    assert server_automl.get_deployment("shop").requests == 4


async def test_bad_deployment_requests(jp_fetch, server_automl, tiny_runs, tmp_path):
    register_trained(server_automl, "reviews", "text_classification", tiny_runs["text_classification"],
                     tmp_path / "csv")
    cases = [
        ({}, 400, "model: required"),
        ({"model": 5}, 400, "model: Input should be a valid string"),
        ({"model": "reviews", "version": "one"}, 400, "version: Input should be a valid integer"),
        ({"model": "reviews", "replicas": 2}, 400, "replicas: unknown field"),
        ({"model": "reviews", "name": "bad name!"}, 400, "deployment name"),
        ({"model": "nobody"}, 404, "no model named"),
        ({"model": "reviews", "version": 4}, 404, "no version 4"),
    ]
    for body, status, message in cases:
        code, answer = await management(jp_fetch, "POST", "deployments", body=body)
        assert code == status and message in answer["message"], (body, answer)
    code, _ = await management(jp_fetch, "POST", "deployments", body={"model": "reviews"})
    assert code == 202
    code, answer = await management(jp_fetch, "POST", "deployments", body={"model": "reviews"})
    assert code == 409 and "already deployed" in answer["message"]
    code, answer = await management(jp_fetch, "GET", "deployments", "nothing-here")
    assert code == 404
    code, answer = await management(jp_fetch, "POST", "deployments", "reviews-v1", "redeploy")
    assert code == 409 and "undeploy it first" in answer["message"]
