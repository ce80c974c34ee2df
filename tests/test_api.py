"""The public Python API over a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import io

import pytest

from jupyter_automl import AutoML, DataValidationError, InvalidInput, NotFound, TooLarge
from tests.data import write_chat_csv, write_reviews_csv


@pytest.fixture
def automl(tmp_path, store_url, tiny_base_models):
    api = AutoML(store_url=store_url, data_dir=str(tmp_path / "data"), base_models=tiny_base_models)
    yield api
    api.close()


def test_upload_keeps_the_bytes_and_the_report(automl, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv", bad_rows=2)
    dataset = automl.upload_dataset(path, "text_classification", base_model="tiny-encoder")
    assert dataset.valid and dataset.rows == 240 and dataset.valid_rows == 238
    assert dataset.validation.invalid_row_numbers == [2, 3]
    stored = automl.root / "uploads" / dataset.id / "reviews.csv"
    assert stored.read_bytes() == path.read_bytes()
    assert automl.get_dataset(dataset.id).report == dataset.report


def test_upload_from_a_stream_needs_a_filename(automl, tmp_path):
    data = write_chat_csv(tmp_path / "chat.csv").read_bytes()
    with pytest.raises(InvalidInput, match="filename"):
        automl.upload_dataset(io.BytesIO(data), "llm_chat", base_model="tiny-llm")
    dataset = automl.upload_dataset(
        io.BytesIO(data), "llm_chat", filename="../../chat.csv", base_model="tiny-llm"
    )
    assert dataset.filename == "chat.csv" and dataset.valid


def test_upload_over_the_limit_is_refused_and_leaves_nothing(tmp_path, tiny_base_models):
    api = AutoML(data_dir=str(tmp_path / "d"), base_models=tiny_base_models, max_upload_bytes=1000)
    path = write_chat_csv(tmp_path / "chat.csv")
    with pytest.raises(TooLarge, match="1,000 bytes"):
        api.upload_dataset(path, "llm_chat", base_model="tiny-llm")
    assert api.list_datasets() == []
    assert not any((api.root / "uploads").iterdir())
    api.close()


def test_base_model_of_another_type_is_refused(automl, tmp_path):
    with pytest.raises(InvalidInput, match="not llm_chat"):
        automl.upload_dataset(write_chat_csv(tmp_path / "c.csv"), "llm_chat",
                              base_model="tiny-encoder")


def test_same_rows_freeze_into_the_same_snapshot(automl, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv")
    first = automl.upload_dataset(path, "text_classification", base_model="tiny-encoder")
    second = automl.upload_dataset(path, "text_classification", base_model="tiny-encoder")
    a = automl.create_snapshot(first.id)
    b = automl.create_snapshot(second.id)
    assert a.id == b.id and a.content_hash == b.content_hash
    assert len(automl.list_snapshots()) == 1


def test_changed_file_gives_a_new_snapshot_and_the_old_one_stays(automl, tmp_path):
    path = write_reviews_csv(tmp_path / "reviews.csv")
    old = automl.create_snapshot(
        automl.upload_dataset(path, "text_classification", base_model="tiny-encoder").id
    )
    old_rows = automl.snapshot_rows(old.id)
    write_reviews_csv(path, rows=260)
    new = automl.create_snapshot(
        automl.upload_dataset(path, "text_classification", base_model="tiny-encoder").id
    )
    assert new.content_hash != old.content_hash and new.rows == 260
    assert automl.snapshot_rows(old.id).equals(old_rows)


def test_unusable_dataset_cannot_be_frozen(automl, tmp_path):
    dataset = automl.upload_dataset(
        write_reviews_csv(tmp_path / "r.csv", rows=60), "text_classification",
        base_model="tiny-encoder",
    )
    with pytest.raises(DataValidationError) as info:
        automl.create_snapshot(dataset.id)
    assert info.value.details["valid"] is False
    assert automl.list_snapshots() == []


def test_split_snapshot_is_stratified_and_idempotent(automl, tmp_path):
    snapshot = automl.create_snapshot(
        automl.upload_dataset(
            write_reviews_csv(tmp_path / "r.csv"), "text_classification", base_model="tiny-encoder"
        ).id
    )
    split = automl.split_snapshot(snapshot.id, 25, seed=7)
    again = automl.split_snapshot(snapshot.id, 25, seed=7)
    assert (split.train.id, split.test.id) == (again.train.id, again.test.id)
    assert split.test.heads["sentiment"] == {
        c: n // 4 for c, n in snapshot.heads["sentiment"].items()
    }
    assert split.train.rows + split.test.rows == snapshot.rows
    with pytest.raises(InvalidInput, match="not a head"):
        automl.split_snapshot(snapshot.id, 25, stratify_by="colour")


def test_unknown_ids_raise_not_found(automl):
    with pytest.raises(NotFound, match="no dataset"):
        automl.create_snapshot("0" * 32)
    with pytest.raises(NotFound, match="no snapshot"):
        automl.split_snapshot("0" * 32, 20)


def test_snapshot_role_must_be_train_or_test(automl, tmp_path):
    dataset = automl.upload_dataset(
        write_reviews_csv(tmp_path / "r.csv"), "text_classification", base_model="tiny-encoder"
    )
    with pytest.raises(InvalidInput, match="role"):
        automl.create_snapshot(dataset.id, role="validation")
    assert automl.create_snapshot(dataset.id, role="test").role == "test"
