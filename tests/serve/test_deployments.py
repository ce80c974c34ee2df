"""Deployments in the core: states, keys, usage, predictions through the Python API."""

from __future__ import annotations

import pytest

from jupyter_automl.errors import Conflict, InvalidInput, NotFound, Unauthorized
from jupyter_automl.serve.keys import hash_key
from jupyter_automl.store import orm


def test_deploy_answers_and_counts_usage(trained):
    automl, register = trained
    version = register("reviews")
    created = automl.deploy("reviews")
    assert created.status == "complete" and created.version_id == version.id
    assert [k.slot for k in created.new_keys] == [1, 2]
    task = automl.predict(created.id, "The parcel arrived early and the tent is great")
    entry = task["status"][0]
    assert entry["status"] == {"code": "0", "message": "SUCCESS"}
    heads = {h["head"]: h["classes"] for h in entry["response"]["output"]}
    assert set(heads) == {"sentiment", "topic"}
    scores = [c["score"] for c in heads["sentiment"]]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-4
    assert entry["response"]["input"]["model"] == "reviews"
    assert entry["response"]["input"]["model_version"] == version.version
    assert automl.get_deployment(created.id).requests == 1


def test_keys_are_stored_hashed_and_shown_once(trained):
    automl, register = trained
    register("reviews")
    created = automl.deploy("reviews")
    with automl.store.session() as session:
        rows = session.query(orm.ApiKey).filter_by(deployment_id=created.id).all()
    stored = {r.key_hash for r in rows}
    for new in created.new_keys:
        assert new.key not in stored and hash_key(new.key) in stored
    listed = automl.get_deployment(created.id).model_dump_json()
    assert all(new.key not in listed for new in created.new_keys)


def test_rotation_keeps_the_other_key_working(trained):
    automl, register = trained
    register("reviews")
    created = automl.deploy("reviews")
    old1, old2 = (k.key for k in created.new_keys)
    runtime = automl.serving
    assert runtime.caller(old1).deployment_id == created.id
    new1 = automl.rotate_key(created.id, 1)
    with pytest.raises(Unauthorized):
        runtime.caller(old1)
    assert runtime.caller(old2).deployment_id == created.id
    assert runtime.caller(new1.key).key_id == new1.id
    automl.revoke_key(created.id, 2)
    with pytest.raises(Unauthorized):
        runtime.caller(old2)
    with pytest.raises(Conflict, match="no active key in slot 2"):
        automl.revoke_key(created.id, 2)
    with pytest.raises(InvalidInput, match="slot must be 1 or 2"):
        automl.rotate_key(created.id, 3)


def test_undeploy_and_redeploy(trained):
    automl, register = trained
    register("reviews")
    created = automl.deploy("reviews")
    key = created.new_keys[0].key
    with pytest.raises(Conflict, match="already deployed"):
        automl.deploy("reviews")
    automl.serving.key_cache_seconds = 600
    assert automl.serving.caller(key).deployment_id == created.id  # now in the key cache
    assert automl.undeploy(created.id).status == "undeployed"
    with pytest.raises(NotFound, match="undeployed; redeploy"):  # at once, not after the cache
        automl.serving.caller(key)
    with pytest.raises(Conflict, match="already undeployed"):
        automl.undeploy(created.id)
    assert automl.redeploy(created.name).status == "complete"
    assert automl.serving.caller(key).deployment_id == created.id
    with pytest.raises(Conflict, match="undeploy it first"):
        automl.redeploy(created.id)


def test_only_trained_versions_deploy(trained):
    automl, register = trained
    register("reviews")
    automl.train("reviews")  # version 2, queued
    with pytest.raises(Conflict, match="version 2 .* is queued; only a trained version"):
        automl.deploy("reviews", 2)
    with pytest.raises(NotFound, match="no version 9"):
        automl.deploy("reviews", 9)


def test_missing_artifacts_fail_the_deployment_with_the_reason(trained, tmp_path):
    import shutil

    automl, register = trained
    version = register("reviews")
    shutil.rmtree(version.artifacts_path)
    created = automl.deploy("reviews")
    assert created.status == "failed" and "artifacts" in created.error and "missing" in created.error


def test_deployment_names_are_checked_and_unique(trained):
    automl, register = trained
    register("reviews")
    register("other")
    assert automl.deploy("reviews", name="prod").name == "prod"
    with pytest.raises(Conflict, match="named 'prod' exists"):
        automl.deploy("other", name="prod")
    with pytest.raises(InvalidInput, match="deployment name"):
        automl.deploy("other", name="no spaces please")
    assert automl.deploy("other").name == "other-v1"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({}, "exactly one input"),
        ({"text_data": "x", "url": "http://example.com/a.png"}, "exactly one input"),
        ({"text_data": "   "}, "non-empty"),
        ({"text_data": "fine", "options": {"temperature": 1}}, "unknown option"),
        ({"url": "http://example.com/a.png"}, "classifies text"),
        ({"text_data": "fine", "options": {"top_k": 0}}, "top_k"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(trained, inputs, message):
    automl, register = trained
    register("reviews")
    created = automl.deploy("reviews")
    text = inputs.pop("text_data", None)
    with pytest.raises(InvalidInput, match=message):
        automl.predict(created.id, text, **inputs)


def test_chat_model_answers_with_token_counts(trained):
    automl, register = trained
    register("bot", "llm_chat")
    created = automl.deploy("bot")
    task = automl.predict(created.id, "Where is my invoice?", options={
        "system_prompt": "You are brief.", "max_tokens": 5,
        "prompt_history": [{"role": "customer", "content": "Hi"}, {"role": "agent", "content": "Hello"}],
        "roles": {"user": "customer", "model": "agent"},
    })
    out = task["status"][0]["response"]["output"][0]
    assert isinstance(out["completion"], str) and 1 <= out["completion_tokens"] <= 5
    assert out["prompt_tokens"] > 10
    info = automl.get_deployment(created.id)
    assert info.tokens == out["prompt_tokens"] + out["completion_tokens"]
    with pytest.raises(InvalidInput, match="unknown role"):
        automl.predict(created.id, "hi", options={"prompt_history": [{"role": "x", "content": "y"}],
                                                  "roles": {"user": "customer", "model": "agent"}})
    with pytest.raises(InvalidInput, match="max_tokens"):
        automl.predict(created.id, "hi", options={"max_tokens": 0})
