"""Batches through the management REST API of a real Jupyter server: a file of inputs is checked
with the dataset rules, queued whole or not at all, run through the deployment's batching, and
read back in input order."""

from __future__ import annotations

import csv
import io
import json
import time

from sqlalchemy import func, select
from tornado.httpclient import HTTPClientError

from jupyter_automl.store import orm
from tests.rest.forms import form_body
from tests.rest.openapi import check
from tests.serve.conftest import management


def _inputs(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text_data", "sentiment"])  # a label column is ignored with a warning
    for i in range(rows):
        writer.writerow([f"Review number {i}: {'fast delivery' if i % 2 else 'broken on arrival'}", "x"])
    return out.getvalue().encode()


async def _submit(jp_fetch, deployment: str, data: bytes, name: str = "inputs.csv", **fields: str):
    body, headers = form_body(fields, {"file": (name, data)})
    response = await jp_fetch("automl", "api", "deployments", deployment, "batches", method="POST",
                              body=body, headers=headers, raise_error=False)
    check(response, request=False)
    return response.code, json.loads(response.body)


async def _wait(jp_fetch, deployment: str, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        _, info = await management(jp_fetch, "GET", "deployments", deployment, "batches", batch_id)
        seen.append(info["done"])
        if info["state"] == "completed":
            return {**info, "seen": seen}
        await __import__("asyncio").sleep(0.1)
    raise AssertionError(f"batch not done: {info}")


async def test_a_thousand_row_batch_finishes_with_its_outputs_in_input_order(jp_fetch, deploy, server_automl):
    deployment = deploy("shop").name
    code, info = await _submit(jp_fetch, deployment, _inputs(1000), options=json.dumps({"top_k": 1}))
    assert code == 201, info
    assert info["rows"] == 1000 and info["queued"] + info["done"] == 1000
    assert any(w["column"] == "sentiment" and "ignored" in w["reason"] for w in info["warnings"])
    done = await _wait(jp_fetch, deployment, info["id"])
    assert done["succeeded"] == 1000 and done["failed"] == 0 and done["finished_at"]
    assert done["seen"] == sorted(done["seen"])  # progress only grows
    assert {t.kind for t in server_automl.task_page(deployment, limit=5).tasks} == {"batch"}
    assert server_automl.get_deployment(deployment).requests == 1000  # each row answered once

    response = await jp_fetch("automl", "api", "deployments", deployment, "batches", info["id"], "results")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="inputs-results.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert [int(r["row"]) for r in rows] == list(range(2, 1002))
    assert [r["text_data"] for r in rows] == [
        f"Review number {i}: {'fast delivery' if i % 2 else 'broken on arrival'}" for i in range(1000)]
    assert {r["status"] for r in rows} == {"succeeded"}
    # Each row's answer is the one the deployment gives that text alone.
    for i in (0, 1, 517, 999):
        alone = server_automl.predict(deployment, rows[i]["text_data"], options={"top_k": 1})
        head = alone["status"][0]["response"]["output"][0]
        assert rows[i][head["head"]] == head["classes"][0]["class"]
        assert float(rows[i][f"{head['head']}_score"]) == head["classes"][0]["score"]

    response = await jp_fetch("automl", "api", "deployments", deployment, "batches", info["id"], "results",
                              params={"format": "jsonl"})
    lines = [json.loads(line) for line in response.body.decode().splitlines()]
    assert [line["row"] for line in lines] == list(range(2, 1002))
    assert all(len(line["output"][0]["classes"]) == 1 for line in lines)  # top_k applied to every row

    _, listed = await management(jp_fetch, "GET", "deployments", deployment, "batches")
    assert [b["id"] for b in listed["batches"]] == [info["id"]]


async def test_a_file_with_bad_rows_is_refused_with_their_places_and_nothing_is_queued(
        jp_fetch, deploy, server_automl):
    deployment = deploy("shop").name
    data = _inputs(50).decode().splitlines()
    data[3] = '"",x'  # row 4: empty text
    data[9] = "too,many,fields"  # row 10
    code, error = await _submit(jp_fetch, deployment, ("\n".join(data) + "\n").encode(), name="mixed.csv")
    assert code == 422
    assert error["message"].startswith("mixed.csv is refused, nothing was queued")
    report = error["details"]
    places = {(e["row"], e["column"]) for e in report["errors"] if e["row"] is not None}
    assert places == {(4, "text_data"), (10, None)}
    assert any("2 of 50 rows are invalid" in e["reason"] for e in report["errors"] if e["row"] is None)
    with server_automl.store.session() as session:
        assert session.scalar(select(func.count()).select_from(orm.Task)) == 0
        assert session.scalar(select(func.count()).select_from(orm.Batch)) == 0

    code, error = await _submit(jp_fetch, deployment, b"review\nhello\n")
    assert code == 422 and "names none of the expected columns: text_data" in error["message"]
    code, error = await _submit(jp_fetch, deployment, _inputs(3), options="{nope")
    assert code == 400 and "options is not JSON" in error["message"]
    code, error = await _submit(jp_fetch, deployment, _inputs(3), options=json.dumps({"max_tokens": 5}))
    assert code == 400 and "unknown option(s) max_tokens" in error["message"]


async def test_results_wait_for_the_last_row_and_a_wrong_format_is_refused(jp_fetch, deploy, server_automl):
    deployment = deploy("shop").name
    code, info = await _submit(jp_fetch, deployment, _inputs(5))
    await _wait(jp_fetch, deployment, info["id"])
    try:
        await jp_fetch("automl", "api", "deployments", deployment, "batches", info["id"], "results",
                       params={"format": "xlsx"})
        raise AssertionError("a wrong format was accepted")
    except HTTPClientError as error:
        assert error.code == 400 and "format must be one of csv, jsonl" in json.loads(error.response.body)["message"]
    with server_automl.store.session() as session:  # a row still queued: no results yet
        row = session.scalars(select(orm.Task).where(orm.Task.batch_id == info["id"])).first()
        row.status = "queued"
    try:
        await jp_fetch("automl", "api", "deployments", deployment, "batches", info["id"], "results")
        raise AssertionError("results of a running batch were given")
    except HTTPClientError as error:
        assert error.code == 409 and "4 of 5 rows done" in json.loads(error.response.body)["message"]
    try:
        await jp_fetch("automl", "api", "deployments", "nope", "batches", method="GET")
        raise AssertionError("an unknown deployment was accepted")
    except HTTPClientError as error:
        assert error.code == 404


async def test_applications_submit_and_read_a_batch_with_the_deployments_key(
        http_server_client, jp_base_url, deploy, server_automl):
    shop, other = deploy("shop"), deploy("other")
    key, other_key = shop.new_keys[1].key, other.new_keys[0].key

    async def call(path: str, key: str, **fetch):
        response = await http_server_client.fetch(
            f"{jp_base_url}automl/api/v2/task/{path}", raise_error=False,
            headers={"Authorization": f"Token {key}", **fetch.pop("headers", {})}, **fetch)
        if "/results" not in path:  # a file, not JSON: the checker reads bodies as JSON
            check(response, request=False)
        return response

    body, headers = form_body({"options": json.dumps({"top_k": 2})}, {"file": ("orders.csv", _inputs(40))})
    response = await call("batch", key, method="POST", body=body, headers=headers)
    assert response.code == 201, response.body
    info = json.loads(response.body)
    deadline = time.monotonic() + 60
    while info["state"] != "completed":
        assert time.monotonic() < deadline, info
        await __import__("asyncio").sleep(0.1)
        info = json.loads((await call(f"batch/{info['id']}", key)).body)
    assert (info["rows"], info["succeeded"]) == (40, 40)
    response = await call(f"batch/{info['id']}/results?format=jsonl", key)
    lines = [json.loads(line) for line in response.body.decode().splitlines()]
    assert [line["row"] for line in lines] == list(range(2, 42))
    assert all(len(line["output"][0]["classes"]) == 2 for line in lines)
    with server_automl.store.session() as session:  # counted on the key that sent it
        keys = set(session.scalars(select(orm.Task.api_key_id).where(orm.Task.batch_id == info["id"])).all())
    assert keys == {shop.new_keys[1].id}

    assert (await call(f"batch/{info['id']}", other_key)).code == 404  # another deployment's key
    assert (await call(f"batch/{info['id']}", "jam_wrong")).code == 401
    bad, headers = form_body({}, {"file": ("bad.csv", b"text_data,note\nfine,a\n,b\n")})
    refused = await call("batch", key, method="POST", body=bad, headers=headers)
    assert refused.code == 422 and json.loads(refused.body)["details"]["errors"][-1]["row"] == 3


async def test_a_batch_sent_with_a_key_streams_to_disk_within_the_upload_limit_and_leaves_nothing_staged(
        http_server_client, jp_base_url, deploy, server_automl):
    key = deploy("shop").new_keys[0].key

    async def send(key: str, data: bytes, **fields: str):
        body, headers = form_body(fields, {"file": ("orders.csv", data)})
        response = await http_server_client.fetch(
            f"{jp_base_url}automl/api/v2/task/batch", method="POST", body=body, raise_error=False,
            headers={"Authorization": f"Token {key}", **headers})
        return response.code, json.loads(response.body)

    staged = server_automl.staging
    assert (await send("jam_wrong", _inputs(5)))[0] == 401  # refused before the body is read
    server_automl.max_upload_bytes = 400
    code, answer = await send(key, _inputs(40))
    assert code == 413 and "400 bytes" in answer["message"], answer
    code, answer = await send(key, _inputs(2), extra="1")
    assert code == 400 and "unknown form field(s) extra" in answer["message"]
    code, answer = await send(key, _inputs(2))
    assert code == 201 and answer["rows"] == 2
    assert list(staged.iterdir()) == []  # each upload's files went with its request
