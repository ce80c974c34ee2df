"""The management REST API, served by a real jupyter server with the extension loaded."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.data import write_reviews_csv


async def _get(jp_fetch, *path, **params):
    response = await jp_fetch("automl", "api", *path, params=params or None)
    return json.loads(response.body)


async def _status_and_body(call):
    with pytest.raises(HTTPClientError) as info:
        await call
    return info.value.code, json.loads(info.value.response.body)


async def test_lists_are_empty_on_a_new_store(jp_fetch):
    assert await _get(jp_fetch, "datasets") == {"datasets": []}
    assert await _get(jp_fetch, "snapshots") == {"snapshots": []}


async def test_uploaded_dataset_and_its_snapshot_are_listed(jp_fetch, automl, tmp_path):
    dataset = automl.upload_dataset(
        write_reviews_csv(tmp_path / "reviews.csv"), "text_classification", base_model="tiny-encoder"
    )
    listed = (await _get(jp_fetch, "datasets"))["datasets"]
    assert [d["id"] for d in listed] == [dataset.id]
    assert listed[0]["valid"] is True and listed[0]["rows"] == dataset.rows

    response = await jp_fetch(
        "automl", "api", "snapshots", method="POST", body=json.dumps({"dataset_id": dataset.id})
    )
    assert response.code == 201
    snapshot = json.loads(response.body)
    assert snapshot["rows"] == dataset.valid_rows
    assert [s["id"] for s in (await _get(jp_fetch, "snapshots"))["snapshots"]] == [snapshot["id"]]
    detail = await _get(jp_fetch, "snapshots", snapshot["id"])
    assert detail["content_hash"] == snapshot["content_hash"]
    filtered = await _get(jp_fetch, "snapshots", model_type="llm_chat")
    assert filtered == {"snapshots": []}


async def test_dataset_detail_carries_the_report(jp_fetch, automl, tmp_path):
    dataset = automl.upload_dataset(
        write_reviews_csv(tmp_path / "reviews.csv", bad_rows=3), "text_classification",
        base_model="tiny-encoder",
    )
    detail = await _get(jp_fetch, "datasets", dataset.id)
    rows_with_errors = {e["row"] for e in detail["report"]["errors"]}
    assert len(rows_with_errors) == 3 and None not in rows_with_errors


async def test_unknown_ids_are_404_with_a_message(jp_fetch):
    code, body = await _status_and_body(jp_fetch("automl", "api", "datasets", "0" * 32))
    assert code == 404 and "no dataset" in body["message"]
    code, body = await _status_and_body(jp_fetch("automl", "api", "snapshots", "f" * 32))
    assert code == 404 and "no snapshot" in body["message"]


@pytest.mark.parametrize(
    "body, message",
    [("not json", "not JSON"), ("[1]", "JSON object"), ("{}", "dataset_id")],
)
async def test_bad_snapshot_requests_are_400(jp_fetch, body, message):
    code, answer = await _status_and_body(
        jp_fetch("automl", "api", "snapshots", method="POST", body=body)
    )
    assert code == 400 and message in answer["message"]


async def test_freezing_an_invalid_dataset_is_422_with_the_report(jp_fetch, automl, tmp_path):
    path = tmp_path / "short.csv"
    write_reviews_csv(path, rows=40)
    dataset = automl.upload_dataset(path, "text_classification", base_model="tiny-encoder")
    assert not dataset.valid
    code, body = await _status_and_body(
        jp_fetch("automl", "api", "snapshots", method="POST",
                 body=json.dumps({"dataset_id": dataset.id}))
    )
    assert code == 422
    assert "cannot be frozen" in body["message"]
    assert body["details"]["valid"] is False


async def test_base_models_filter_by_type(jp_fetch):
    models = (await _get(jp_fetch, "base-models", model_type="llm_chat"))["base_models"]
    assert models and all("llm_chat" in m["model_types"] for m in models)
    code, body = await _status_and_body(
        jp_fetch("automl", "api", "base-models", params={"model_type": "poetry"})
    )
    assert code == 400 and "unknown model type" in body["message"]


async def test_every_route_refuses_requests_without_the_token(
    jp_serverapp, jp_base_url, http_server_client
):
    from jupyter_automl.rest.routes import ID, routes

    for pattern, handler in routes():
        path = pattern.replace(ID, "0" * 32).lstrip("/")
        for verb in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if verb.lower() not in handler.__dict__:
                continue
            response = await http_server_client.fetch(
                f"{jp_base_url}{path}",
                method=verb,
                body="{}" if verb in ("POST", "PUT", "PATCH") else None,
                raise_error=False,
            )
            assert response.code == 403, (verb, path, response.code)
