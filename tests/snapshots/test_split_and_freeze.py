"""Snapshots are content-hashed and immutable; splits are reproducible and stratified."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from jupyter_automl.datasets.snapshots import freeze, read_rows, verify
from jupyter_automl.datasets.split import split_rows
from jupyter_automl.errors import InvalidInput
from jupyter_automl.model_types import ModelType


def _reviews(n: int = 200) -> pd.DataFrame:
    sentiments = ["positive", "negative", "neutral", "positive"]
    return pd.DataFrame(
        {
            "row": list(range(2, n + 2)),
            "text_data": [f"review number {i}" for i in range(n)],
            "sentiment": [sentiments[i % 4] for i in range(n)],
            "topic": ["" if i % 10 == 0 else ("price" if i % 3 else "shipping") for i in range(n)],
            "tokens": [4] * n,
        }
    )


def test_same_rows_give_the_same_hash_and_one_directory(tmp_path):
    a = freeze(_reviews(), model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    b = freeze(_reviews(), model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    assert a.content_hash == b.content_hash and a.path == b.path
    assert [p.name for p in tmp_path.iterdir()] == [a.content_hash]


def test_a_changed_cell_gives_a_new_snapshot_and_keeps_the_old(tmp_path):
    table = _reviews()
    a = freeze(table, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    table.loc[5, "text_data"] = "changed"
    b = freeze(table, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    assert a.content_hash != b.content_hash
    assert read_rows(a.path)["text_data"][5] == "review number 5"
    assert read_rows(b.path)["text_data"][5] == "changed"


def test_snapshot_files_are_read_only_and_verify(tmp_path):
    frozen = freeze(_reviews(), model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    data = frozen.path / "data.jsonl"
    assert not os.access(data, os.W_OK) or os.geteuid() == 0  # root ignores modes
    assert oct(data.stat().st_mode & 0o777) == oct(0o444)
    assert verify(frozen.path)


def test_tampered_snapshot_fails_verification(tmp_path):
    frozen = freeze(_reviews(), model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    data = frozen.path / "data.jsonl"
    data.chmod(0o644)
    data.write_text(data.read_text().replace("review number 7", "review number 8"))
    assert not verify(frozen.path)


def test_rows_read_back_exactly_with_their_types(tmp_path):
    table = _reviews()
    table.loc[3, "text_data"] = 'quote " comma , newline \n and ünïcødé 🎉'
    frozen = freeze(table, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    back = read_rows(frozen.path)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert back["row"].tolist() == table["row"].tolist()


def test_class_counts_skip_unlabelled_cells(tmp_path):
    frozen = freeze(_reviews(), model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path)
    assert frozen.heads["sentiment"] == {"negative": 50, "neutral": 50, "positive": 100}
    assert sum(frozen.heads["topic"].values()) == 180  # every tenth row is unlabelled


def test_split_is_reproducible_for_a_seed_and_differs_across_seeds():
    table = _reviews()
    train_a, test_a = split_rows(table, 20, seed=1, stratify_by="sentiment")
    train_b, test_b = split_rows(table, 20, seed=1, stratify_by="sentiment")
    _, test_c = split_rows(table, 20, seed=2, stratify_by="sentiment")
    assert test_a["row"].tolist() == test_b["row"].tolist()
    assert test_a["row"].tolist() != test_c["row"].tolist()
    assert len(train_a) + len(test_a) == len(table)
    assert set(train_a["row"]).isdisjoint(test_a["row"])


def test_split_keeps_class_shares():
    _, test = split_rows(_reviews(), 20, seed=0, stratify_by="sentiment")
    assert test["sentiment"].value_counts().to_dict() == {"positive": 20, "negative": 10, "neutral": 10}


def test_rare_class_still_reaches_the_test_part():
    table = _reviews(100)
    table.loc[[0, 1, 2], "sentiment"] = "rare"
    _, test = split_rows(table, 10, seed=0, stratify_by="sentiment")
    assert "rare" in set(test["sentiment"])


@pytest.mark.parametrize("percent", [0, 95])
def test_split_percent_out_of_range_is_refused(percent):
    with pytest.raises(InvalidInput, match="between 1 and 90"):
        split_rows(_reviews(), percent)


def test_split_by_unknown_column_is_refused():
    with pytest.raises(InvalidInput, match="'colour'"):
        split_rows(_reviews(), 20, stratify_by="colour")
