"""Models and versions through the Python API: every setting checked before anything runs."""

from __future__ import annotations

import pytest

from jupyter_automl.errors import Conflict, InvalidInput, NotFound
from tests.data import write_reviews_csv
from tests.kernel_jobs.conftest import chat_snapshot


@pytest.fixture
def automl(make_automl):
    return make_automl()


@pytest.fixture
def chat(automl, tmp_path):
    return chat_snapshot(automl, tmp_path)


@pytest.fixture
def reviews(automl, tmp_path):
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "r.csv"), "text_classification",
                                    base_model="tiny-encoder")
    return automl.create_snapshot(dataset.id).id


def test_a_model_takes_its_type_from_the_snapshot_and_defaults_its_test_split(automl, chat):
    model = automl.create_model("Support bot 1", chat, base_model="tiny-llm")
    assert (model.model_type, model.base_model, model.test_split_percent) == ("llm_chat", "tiny-llm", 20)
    assert automl.get_model("Support bot 1").id == automl.get_model(model.id).id
    assert [m.name for m in automl.list_models("llm_chat")] == ["Support bot 1"]
    assert automl.list_models("text_classification") == []


@pytest.mark.parametrize("name", ["", "   ", "-starts-with-dash", "a/b", "x" * 101, "semi;colon"])
def test_bad_model_names_are_refused(automl, chat, name):
    with pytest.raises(InvalidInput, match="model name"):
        automl.create_model(name, chat, base_model="tiny-llm")


def test_a_taken_name_is_a_conflict(automl, chat):
    automl.create_model("bot", chat, base_model="tiny-llm")
    with pytest.raises(Conflict, match="exists already"):
        automl.create_model("bot", chat, base_model="tiny-llm")


def test_settings_that_cannot_train_are_refused_at_creation(automl, chat, reviews):
    with pytest.raises(NotFound, match="training data: no snapshot"):
        automl.create_model("a", "nope", base_model="tiny-llm")
    with pytest.raises(InvalidInput, match="is for llm_text, llm_chat, not text_classification"):
        automl.create_model("a", reviews, base_model="tiny-llm")
    with pytest.raises(InvalidInput, match="test snapshot is text_classification data"):
        automl.create_model("a", chat, base_model="tiny-llm", test_snapshot_id=reviews)
    with pytest.raises(InvalidInput, match="not both"):
        automl.create_model("a", chat, base_model="tiny-llm", test_snapshot_id=chat, test_percent=10)
    with pytest.raises(InvalidInput, match="between 1 and 90"):
        automl.create_model("a", chat, base_model="tiny-llm", test_percent=95)
    with pytest.raises(InvalidInput, match="max_epochs"):
        automl.create_model("a", chat, base_model="tiny-llm", options={"max_epochs": 0})
    with pytest.raises(InvalidInput, match="selection_label"):
        automl.create_model("a", reviews, base_model="tiny-encoder",
                            options={"selection_label": "colour"})
    assert automl.list_models() == []


def test_update_changes_only_what_the_next_version_trains_on(automl, chat):
    automl.create_model("bot", chat, base_model="tiny-llm", options={"max_epochs": 1})
    job = automl.train("bot")
    updated = automl.update_model("bot", options={"max_epochs": 3}, test_percent=10)
    assert updated.options == {"max_epochs": 3} and updated.test_split_percent == 10
    first = automl.get_version("bot", 1)
    assert first.options == {"max_epochs": 1} and first.test_split_percent == 20
    assert job.status() == "queued"
    with pytest.raises(InvalidInput, match="early_stopping"):
        automl.update_model("bot", options={"max_epochs": 2, "early_stopping": 5})
    assert automl.get_model("bot").options == {"max_epochs": 3}


def test_queued_versions_count_up_and_a_queued_job_cancels_at_once(automl, chat):
    automl.create_model("bot", chat, base_model="tiny-llm")
    jobs = [automl.train("bot") for _ in range(3)]
    assert [v.version for v in automl.get_model("bot").versions] == [1, 2, 3]
    assert {v.status for v in automl.get_model("bot").versions} == {"queued"}
    assert jobs[1].cancel().status == "cancelled"
    assert automl.get_version("bot", 2).status == "cancelled"
    assert [j.status for j in automl.list_jobs(model="bot")] == ["queued", "cancelled", "queued"]
    with pytest.raises(NotFound, match="no trained version"):
        automl.get_version("bot")
    with pytest.raises(NotFound, match="no job"):
        automl.get_job("nope")
