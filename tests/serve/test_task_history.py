"""Task history in the core, on SQLite and PostgreSQL: every kind with its key, filters,
cursor pages, retention and the metadata-only mode (checked in the database itself)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jupyter_automl.errors import InvalidInput, NotFound
from jupyter_automl.serve.tasks import PLAYGROUND, SYNC
from jupyter_automl.store import orm
from jupyter_automl.store.orm import utcnow
from tests.data import cli_runner
from tests.serving import register_trained

SECRET = "the patient's name is Ada Lovelace"


def _ask(automl, key: str, text: str) -> dict:
    runtime = automl.serving
    return runtime.answer_sync(runtime.caller(key), automl.task_request(text), SYNC)


def test_every_kind_is_listed_with_its_key_filters_and_pages(served):
    automl, deploy = served
    created = deploy("reviews")
    key1, key2 = (k.key for k in created.new_keys)
    by_key = {_ask(automl, key1, "Fast delivery")["id"]: created.new_keys[0].id,
              _ask(automl, key2, "Broken on arrival")["id"]: created.new_keys[1].id}
    python = automl.predict(created.name, "Asked from Python")["id"]
    playground = automl.playground("reviews", None, "Asked in the playground")["id"]
    queued = automl.submit_task(created.id, "Waiting for a server")["id"]

    tasks, cursor = automl.list_tasks(created.name)
    assert cursor is None
    assert [t.id for t in tasks][:2] == [queued, playground]  # newest first
    kinds = {t.id: t.kind for t in tasks}
    assert kinds == {**{i: "sync" for i in by_key}, python: "sync", playground: PLAYGROUND,
                     queued: "async"}
    for task in tasks:
        assert task.api_key_id == by_key.get(task.id)
        if task.id in by_key:
            slot = 1 if by_key[task.id] == created.new_keys[0].id else 2
            assert task.api_key_slot == slot and created.new_keys[slot - 1].key.startswith(task.api_key_prefix)
        if task.id == queued:
            assert task.status == "queued" and task.latency_ms is None and task.output is None
        else:
            assert task.status == "succeeded" and task.latency_ms >= 0
            assert task.started_at >= task.created_at and task.finished_at >= task.started_at
            assert {h["head"] for h in task.output} == {"sentiment", "topic"}
        assert task.input_type == "text_data" and len(task.input_hash) == 64
        assert task.input["text_data"] == task.input_preview and not task.metadata_only
    dumped = json.dumps([t.to_json() for t in tasks])
    assert key1 not in dumped and key2 not in dumped

    one = automl.get_task_record(created.id, playground)
    assert one.kind == PLAYGROUND and one.input_preview == "Asked in the playground"
    other = deploy("other")
    with pytest.raises(NotFound, match="has no task"):
        automl.get_task_record(other.name, playground)

    assert [t.id for t in automl.list_tasks(created.id, status="queued")[0]] == [queued]
    assert len(automl.list_tasks(created.id, status="succeeded")[0]) == 4
    with automl.store.session() as session:  # two tasks from two days ago
        session.execute(update(orm.Task).where(orm.Task.id.in_(list(by_key)))
                        .values(created_at=utcnow() - timedelta(days=2)))
    recent = {t.id for t in automl.list_tasks(created.id, since="1d")[0]}
    assert recent == {python, playground, queued}
    old = {t.id for t in automl.list_tasks(created.id, until=utcnow() - timedelta(days=1))[0]}
    assert old == set(by_key)
    for bad, message in (({"status": "done"}, "status must be one of"),
                         ({"since": "yesterday"}, "since: expected an ISO 8601 time"),
                         ({"limit": 0}, "limit must be"),
                         ({"cursor": "not-a-cursor"}, "is not one this API gave")):
        with pytest.raises(InvalidInput, match=message):
            automl.list_tasks(created.id, **bad)
    with pytest.raises(NotFound):
        automl.list_tasks("no-such-deployment")


def test_pages_neither_repeat_nor_skip_while_tasks_arrive(served):
    automl, deploy = served
    created = deploy("reviews")
    key = created.new_keys[0].key
    before = [_ask(automl, key, f"review {i}")["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = automl.list_tasks(created.id, limit=3, cursor=cursor)
        seen += [t.id for t in page]
        pages += 1
        _ask(automl, key, f"arrived after page {pages}")  # newer than every page
        if cursor is None:
            break
    assert pages == 3 and seen == before[::-1]


def test_retention_deletes_old_tasks_and_their_media(served):
    automl, deploy = served
    created = deploy("reviews")
    key = created.new_keys[0].key
    old, kept = _ask(automl, key, "long ago")["id"], _ask(automl, key, "today")["id"]
    queued = automl.submit_task(created.id, "queued long ago")["id"]
    media = automl.root / "tasks" / old
    media.mkdir(parents=True)
    (media / "media").write_bytes(b"image bytes")
    with automl.store.session() as session:
        long_ago = utcnow() - timedelta(days=31)
        session.execute(update(orm.Task).where(orm.Task.id == old).values(finished_at=long_ago))
        session.execute(update(orm.Task).where(orm.Task.id == queued).values(created_at=long_ago))
    automl.serving.task_retention_days = 0  # keep forever
    assert automl.delete_expired_tasks() == 0
    automl.serving.task_retention_days = 30
    assert automl.delete_expired_tasks() == 1
    assert {t.id for t in automl.list_tasks(created.id)[0]} == {kept, queued}
    assert not media.exists()
    with pytest.raises(NotFound):
        automl.get_task_record(created.id, old)


def test_metadata_only_keeps_no_text(served):
    automl, deploy = served
    created = deploy("private", metadata_only=True)
    with automl.store.session() as session:
        assert session.get(orm.Deployment, created.id).options == {"metadata_only": True}
    assert created.metadata_only and automl.get_deployment(created.id).metadata_only
    key = created.new_keys[0].key
    answer = _ask(automl, key, SECRET)  # the caller still gets the whole task
    assert answer["status"][0]["response"]["input"]["text_data"] == SECRET
    assert answer["status"][0]["response"]["output"]
    with pytest.raises(InvalidInput, match="callback_url"):
        automl.submit_task(created.id, SECRET)
    automl.submit_task(created.id, SECRET, callback_url="http://127.0.0.1:9/hook")
    with automl.store.session() as session:
        rows = session.execute(select(orm.Task.kind, orm.Task.status, orm.Task.input, orm.Task.output)
                               .where(orm.Task.deployment_id == created.id)).all()
    stored = {kind: (status, task_input, output) for kind, status, task_input, output in rows}
    status, task_input, output = stored["sync"]
    assert status == "succeeded" and output is None and SECRET not in json.dumps(task_input)
    assert task_input == {"metadata_only": True, "hash": answer["status"][0]["response"]["input"]["hash"],
                          "type": "text_data", "size": len(SECRET)}
    assert stored["async"][2] is None and SECRET in json.dumps(stored["async"][1])  # needed to run
    for task in automl.list_tasks(created.id)[0]:  # never shown, even while queued
        assert task.metadata_only and task.input is None and task.output is None
        assert task.input_preview is None and len(task.input_hash) == 64
    sync = next(t for t in automl.list_tasks(created.id)[0] if t.kind == "sync")
    assert sync.status == "succeeded" and sync.latency_ms is not None and sync.input_type == "text_data"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_tasks_commands(served, tiny_runs, tmp_path, monkeypatch, capsys, tiny_base_models):
    automl, deploy = served
    created = deploy("reviews")
    _ask(automl, created.new_keys[0].key, "Fast delivery, thanks")
    register_trained(automl, "private", "text_classification", tiny_runs["text_classification"],
                     tmp_path / "csv" / "private")
    run = cli_runner(tmp_path, monkeypatch, capsys, {"AutoML": {"base_models": tiny_base_models}})
    store = ["--store-url", automl.store_url, "--data-dir", str(automl.root)]
    code, out, _ = run(*store, "tasks", "list", created.name, "--status", "succeeded", "--since", "1h")
    assert code == 0 and "Fast delivery, thanks" in out and "key 1 (jam_" in out
    task_id = out.split()[0]
    code, out, _ = run(*store, "tasks", "show", created.name, task_id, "--json")
    assert code == 0 and json.loads(out)["input"]["text_data"] == "Fast delivery, thanks"
    code, out, _ = run(*store, "tasks", "show", created.name, task_id)
    assert code == 0 and "slot 1" in out and "sentiment" in out
    code, _, err = run(*store, "tasks", "list", created.name, "--since", "last week")
    assert code == 2 and "since" in err
    code, out, _ = run(*store, "tasks", "list", created.name, "--limit", "1", "--json")
    assert code == 0 and len(json.loads(out)["tasks"]) == 1

    code, out, _ = run(*store, "deploy", "private", "--name", "private", "--metadata-only")
    assert code == 0 and "metadata only" in out
    code, out, _ = run(*store, "predict", "private", "--text", SECRET)
    assert code == 0 and "sentiment:" in out
    code, out, _ = run(*store, "tasks", "list", "private")
    assert code == 0 and "(metadata only)" in out and SECRET not in out
