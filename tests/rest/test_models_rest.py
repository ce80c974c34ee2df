"""Models, training, versions and what a trained version holds, over REST."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.rest.trained import OPTIONS, reviews_snapshot

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def snapshot_id(automl, tmp_path):
    return reviews_snapshot(automl, tmp_path)


def new_model(snapshot_id, **fields):
    return {"name": "Review topics", "snapshot_id": snapshot_id, "base_model": "tiny-encoder",
            "options": OPTIONS, **fields}


# -- models -------------------------------------------------------------------------------------


async def test_a_model_is_created_listed_and_shown_by_id_or_name(api, snapshot_id):
    body = new_model(snapshot_id, description="Topics of reviews", model_type="text_classification")
    model = (await api("POST", "models", json=body, expect=201)).json
    assert (model["name"], model["model_type"], model["test_split_percent"]) == (
        "Review topics", "text_classification", 20
    )
    assert model["options"] == OPTIONS and model["description"] == "Topics of reviews"
    listed = (await api("GET", "models")).json["models"]
    assert [m["id"] for m in listed] == [model["id"]]
    assert (await api("GET", "models", params={"model_type": "llm_chat"})).json == {"models": []}
    by_name = (await api("GET", f"models/{quote('Review topics')}")).json
    by_id = (await api("GET", f"models/{model['id']}")).json
    assert by_name == by_id and by_id["versions"] == []
    assert {k: by_id[k] for k in model} == model


async def test_a_taken_name_is_a_conflict(api, snapshot_id):
    await api("POST", "models", json=new_model(snapshot_id), expect=201)
    answer = await api("POST", "models", json=new_model(snapshot_id), expect=409)
    assert "exists already" in answer.message


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "a/b"}, "model name 'a/b'"),
        ({"model_type": "llm_chat"}, "a llm_chat model cannot train on it"),
        ({"model_type": "poetry"}, "unknown model type 'poetry'"),
        ({"base_model": "tiny-llm"}, "not text_classification"),
        ({"test_percent": 95}, "between 1 and 90"),
        ({"test_percent": "20"}, "test_percent: Input should be a valid integer"),
        ({"test_percent": 10, "test_snapshot_id": "SNAPSHOT"}, "not both"),
        ({"options": [1]}, "options: Input should be a valid dictionary"),
        ({"options": {"max_epochs": 0}}, "max_epochs"),
        ({"options": {"selection_label": "colour"}}, "'colour' is not a head"),
        ({"options": {"epochs": 3}}, "unknown option"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"name": None}, "name: Input should be a valid string"),
    ],
)
async def test_bad_models_are_400_with_a_message(api, snapshot_id, change, message):
    change = {k: snapshot_id if v == "SNAPSHOT" else v for k, v in change.items()}
    answer = await api("POST", "models", json=new_model(snapshot_id, **change), expect=400,
                       bad_request=True)
    assert message in answer.message
    assert (await api("GET", "models")).json == {"models": []}


@pytest.mark.parametrize("body, message", [("{", "not JSON"), ("[]", "JSON object"), ("{}", "name: required")])
async def test_model_bodies_that_are_not_objects_are_400(api, body, message):
    answer = await api("POST", "models", body=body, expect=400, bad_request=True)
    assert message in answer.message


async def test_unknown_references_are_404(api, snapshot_id):
    answer = await api("POST", "models", json=new_model("0" * 32), expect=404)
    assert "training data: no snapshot" in answer.message
    answer = await api("POST", "models", json=new_model(snapshot_id, base_model="nope"), expect=404)
    assert "no base model named 'nope'" in answer.message
    answer = await api("GET", f"models/{quote('no such model')}", expect=404)
    assert "no model named or with id 'no such model'" in answer.message


async def test_a_model_is_changed_for_its_next_version(api, snapshot_id):
    model = (await api("POST", "models", json=new_model(snapshot_id), expect=201)).json
    changes = {"description": "v2", "options": {"max_epochs": 2}, "test_percent": 30}
    changed = (await api("PATCH", f"models/{model['id']}", json=changes)).json
    assert (changed["description"], changed["options"], changed["test_split_percent"]) == (
        "v2", {"max_epochs": 2}, 30
    )
    assert (await api("GET", f"models/{quote(model['name'])}")).json["options"] == {"max_epochs": 2}
    answer = await api("PATCH", f"models/{model['id']}", json={"options": {"early_stopping": 5}},
                       expect=400)
    assert "early_stopping: must be between 1 and max_epochs" in answer.message
    answer = await api("PATCH", f"models/{model['id']}", json={"name": "renamed"}, expect=400,
                       bad_request=True)
    assert "name: unknown field" in answer.message
    answer = await api("PATCH", "models/nope", json={"description": "x"}, expect=404)
    assert "no model" in answer.message


# -- training and versions ----------------------------------------------------------------------


async def test_training_queues_the_next_version_and_answers_its_job(api, snapshot_id):
    model = (await api("POST", "models", json=new_model(snapshot_id), expect=201)).json
    name = quote(model["name"])
    job = (await api("POST", f"models/{name}/train", expect=202)).json
    assert (job["status"], job["version"], job["model_name"]) == ("queued", 1, "Review topics")
    second = (await api("POST", f"models/{model['id']}/train",
                        json={"options": {"max_epochs": 3}}, expect=202)).json
    assert second["version"] == 2
    versions = (await api("GET", f"models/{name}/versions")).json["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "queued"), (2, "queued")]
    assert versions[0]["options"] == OPTIONS and versions[1]["options"] == {"max_epochs": 3}
    assert (await api("GET", f"models/{name}/versions/2")).json == versions[1]
    assert "has no version 3" in (await api("GET", f"models/{name}/versions/3", expect=404)).message
    assert (await api("GET", f"jobs/{job['id']}")).json["version_id"] == versions[0]["id"]


async def test_training_with_bad_changes_queues_nothing(api, snapshot_id):
    model = (await api("POST", "models", json=new_model(snapshot_id), expect=201)).json
    answer = await api("POST", f"models/{model['id']}/train",
                       json={"options": {"max_epochs": -1}}, expect=400)
    assert "max_epochs" in answer.message
    answer = await api("POST", f"models/{model['id']}/train", json={"epochs": 1}, expect=400,
                       bad_request=True)
    assert "epochs: unknown field" in answer.message
    assert (await api("GET", "jobs")).json == {"jobs": []}
    assert "no model" in (await api("POST", "models/nope/train", expect=404)).message


@pytest.mark.parametrize("what", ["metrics", "plots", "plots/loss.png", "notebook"])
async def test_a_queued_version_has_no_results_yet(api, snapshot_id, what):
    model = (await api("POST", "models", json=new_model(snapshot_id), expect=201)).json
    await api("POST", f"models/{model['id']}/train", expect=202)
    answer = await api("GET", f"models/{model['id']}/versions/1/{what}", expect=404)
    assert "is queued" in answer.message


async def test_a_trained_version_shows_its_metrics(api, trained_model):
    base = f"models/{quote(trained_model)}/versions/1"
    version = (await api("GET", base)).json
    assert version["status"] == "trained" and version["trained_at"]
    metrics = (await api("GET", f"{base}/metrics")).json
    assert metrics["model_type"] == "text_classification"
    assert metrics["selection"]["label"] == "sentiment"
    assert set(metrics["test"]["heads"]) == {"sentiment", "topic"}
    assert len(metrics["history"]) == OPTIONS["max_epochs"]  # one evaluation per epoch
    assert version["metrics"]["selection"] == metrics["selection"]


async def test_a_trained_version_serves_its_plots_as_png(api, trained_model):
    base = f"models/{quote(trained_model)}/versions/1"
    plots = (await api("GET", f"{base}/plots")).json["plots"]
    metrics = (await api("GET", f"{base}/metrics")).json
    assert plots == sorted(p.removeprefix("plots/") for p in metrics["plots"])
    assert {"pr_sentiment.png", "confusion_topic.png"} <= set(plots)
    for name in plots:
        answer = await api("GET", f"{base}/plots/{name}")
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.body.startswith(PNG)


@pytest.mark.parametrize(
    "name", ["..%2Fmetrics.json", "%2E%2E", "metrics.json", "nope.png", "..%2F..%2Fv1%2Fplots%2Floss.png"]
)
async def test_only_the_plots_of_the_version_are_served(api, trained_model, name):
    answer = await api("GET", f"models/{quote(trained_model)}/versions/1/plots/{name}", expect=404)
    assert "has no plot" in answer.message


async def test_a_trained_version_serves_its_executed_notebook(api, trained_model):
    answer = await api("GET", f"models/{quote(trained_model)}/versions/1/notebook")
    assert answer.headers["Content-Type"] == "application/x-ipynb+json"
    notebook = json.loads(answer.body)
    assert notebook["nbformat"] == 4 and notebook["cells"]


# -- training options for forms ---------------------------------------------------------------


async def test_the_options_schema_follows_the_snapshot_and_the_base_model(api, automl, snapshot_id):
    params = {"snapshot_id": snapshot_id, "base_model": "tiny-encoder"}
    schema = (await api("GET", "options-schema", params=params)).json
    props = schema["properties"]
    assert props["selection_label"]["enum"] == ["sentiment", "topic"]
    assert props["selection_label"]["default"] == "sentiment"
    assert props["method"]["enum"] == list(automl.registry.get("tiny-encoder").training_methods)
    assert props["max_epochs"]["default"] == 1  # the tiny encoder's
    assert "max_tokens" not in props and "augment" not in props

    llm = (await api("GET", "options-schema",
                     params={"model_type": "llm_chat", "base_model": "tiny-llm"})).json["properties"]
    assert "selection_label" not in llm
    assert llm["selection_rule"]["enum"] == ["loss"]
    assert llm["max_tokens"]["default"] == 2048


@pytest.mark.parametrize(
    "params, code, message",
    [
        ({}, 400, "give a model_type or a snapshot_id"),
        ({"model_type": "poetry"}, 400, "unknown model type"),
        ({"model_type": "llm_chat", "snapshot_id": "SNAPSHOT"}, 400, "holds text_classification data"),
        ({"snapshot_id": "0" * 32}, 404, "no snapshot"),
        ({"model_type": "llm_chat", "base_model": "nope"}, 404, "no base model named 'nope'"),
        ({"model_type": "llm_chat", "base_model": "tiny-encoder"}, 400, "not llm_chat"),
    ],
)
async def test_bad_options_schema_requests(api, snapshot_id, params, code, message):
    params = {k: snapshot_id if v == "SNAPSHOT" else v for k, v in params.items()}
    answer = await api("GET", "options-schema", params=params, expect=code)
    assert message in answer.message
