"""The per-row test predictions of a classification version (``predictions.jsonl``) and the rows
behind each confusion-matrix cell, through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.datasets.snapshots import freeze
from jupyter_automl.errors import InvalidInput, NotFound
from jupyter_automl.model_types import ModelType
from jupyter_automl.training import train

from tests.serving import register_trained

from .test_text_classification import make_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NON_ASCII = ["très bien livré, merci ✓", "配送がとても遅い", "Доставка быстрая", "😀 emoji"]


def check_against_metrics(version_dir: Path) -> list[dict]:
    """The lines of a version's ``predictions.jsonl``, after checking that scikit-learn's confusion
    matrix of their true and predicted classes is every head's matrix in ``metrics.json``."""
    metrics = json.loads((version_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["predictions"] == "predictions.jsonl"
    lines = (version_dir / metrics["predictions"]).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == metrics["test"]["rows"]
    for head, head_metrics in metrics["test"]["heads"].items():
        labelled = [r for r in records if r[head] is not None]
        assert len(labelled) == head_metrics["labelled"]
        expected = head_metrics["confusion_matrix"]
        matrix = confusion_matrix(
            [r[head] for r in labelled], [r[f"{head} predicted"] for r in labelled],
            labels=expected["labels"],
        )
        assert matrix.tolist() == expected["matrix"], head
    return records


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Two heads, every 6th row without a topic, some texts in other scripts."""
    table = make_rows(100, 5, heads=("sentiment", "topic"))
    table.loc[::6, "topic"] = ""
    for i in range(0, len(table), 3):
        table.loc[i, "text_data"] += " " + NON_ASCII[i % len(NON_ASCII)]
    return table


@pytest.fixture(scope="module")
def run(tiny_base_models, rows, tmp_path_factory) -> Path:
    """A tiny text classifier trained once on ``rows``, 30% of them held out for test; options that
    give both heads predictions of more than one class."""
    folder = tmp_path_factory.mktemp("predictions")
    entry = BaseModelEntry.from_dict(next(c for c in tiny_base_models if c["name"] == "tiny-encoder"))
    snapshot = freeze(rows, model_type=ModelType.TEXT_CLASSIFICATION, root=folder / "s").path
    options = {"max_epochs": 6, "learning_rate": 5e-3, "batch_size": 8, "selection_label": "topic"}
    result = train(snapshot, entry, options, out_dir=folder / "v", test=30)
    assert result.metrics["predictions"] == "predictions.jsonl"
    return result.version_dir


@pytest.fixture
def reviews(make_automl, run, tmp_path):
    """``(automl, version)``: the run registered as version 1 of model ``reviews``."""
    automl = make_automl()
    version = register_trained(automl, "reviews", "text_classification", run, tmp_path / "csv")
    return automl, version.version


def test_the_file_holds_every_test_row_with_the_predictions_behind_the_metrics(run, rows):
    records = check_against_metrics(run)
    assert 25 <= len(records) <= 35
    assert list(records[0]) == [
        "row", "input",
        "sentiment", "sentiment predicted", "sentiment score",
        "topic", "topic predicted", "topic score",
    ]
    by_row = rows.set_index("row")
    for record in records:
        source = by_row.loc[record["row"]]
        assert record["input"] == source["text_data"]
        assert record["sentiment"] == source["sentiment"]
        assert record["topic"] == (source["topic"] or None)
        for head, classes in (("sentiment", 2), ("topic", 3)):
            assert record[f"{head} predicted"] in set(rows[head]) - {""}
            assert 1 / classes <= record[f"{head} score"] <= 1  # the highest of the probabilities


def test_non_ascii_text_is_written_as_it_is_and_reads_back_the_same(run, rows, reviews):
    raw = (run / "predictions.jsonl").read_text(encoding="utf-8")
    written = [text for text in NON_ASCII if text in raw]
    assert written, "no test row has non-ASCII text"
    assert "\\u" not in raw
    automl, version = reviews
    table = automl.version_predictions("reviews", version)
    texts = dict(zip(rows["row"], rows["text_data"]))
    assert table["input"].tolist() == [texts[r] for r in table["row"]]
    assert any(text in value for value in table["input"] for text in written)


def test_every_confusion_matrix_cell_has_exactly_its_rows(reviews):
    automl, version = reviews
    metrics = automl.version_metrics("reviews", version)
    table = automl.version_predictions("reviews", version)
    assert len(table) == metrics["test"]["rows"]
    for head in ("sentiment", "topic"):  # cells off the diagonal and in several columns
        assert table[f"{head} predicted"].nunique() > 1
    unlabelled = table["topic"].isna().sum()
    assert 0 < unlabelled == len(table) - metrics["test"]["heads"]["topic"]["labelled"]
    for head, head_metrics in metrics["test"]["heads"].items():
        matrix = head_metrics["confusion_matrix"]
        for actual, counts in zip(matrix["labels"], matrix["matrix"]):
            for predicted, count in zip(matrix["labels"], counts):
                cell = automl.confusion_rows("reviews", version, head, actual, predicted)
                assert len(cell) == count, (head, actual, predicted)
                assert list(cell.columns) == list(table.columns)
                assert (cell[head] == actual).all() and (cell[f"{head} predicted"] == predicted).all()


def test_a_head_or_class_the_version_does_not_have_is_invalid_input_naming_the_classes(reviews):
    automl, version = reviews
    heads = r"sentiment \(neg, pos\); topic \(delivery, price, support\)"
    with pytest.raises(InvalidInput, match=rf"no head 'mood'; its heads: {heads}"):
        automl.confusion_rows("reviews", version, "mood", "neg", "pos")
    with pytest.raises(InvalidInput, match=r"actual class 'bad' is not a class of head 'sentiment' \(neg, pos\)"):
        automl.confusion_rows("reviews", version, "sentiment", "bad", "pos")
    with pytest.raises(InvalidInput, match=r"predicted class 'price' is not a class of head 'sentiment'"):
        automl.confusion_rows("reviews", version, "sentiment", "neg", "price")


def test_a_version_trained_before_predictions_were_kept_has_none(reviews):
    automl, version = reviews
    folder = Path(automl.get_version("reviews", version).artifacts_path)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    del metrics["predictions"]
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (folder / "predictions.jsonl").unlink()
    with pytest.raises(NotFound, match="trained before versions kept them"):
        automl.version_predictions("reviews", version)
    with pytest.raises(NotFound, match="trained before versions kept them"):
        automl.confusion_rows("reviews", version, "sentiment", "neg", "pos")


def test_an_llm_version_has_no_predictions(trained):
    automl, register = trained
    version = register("bot", "llm_chat")
    assert not (Path(version.artifacts_path) / "predictions.jsonl").exists()
    with pytest.raises(NotFound, match="llm_chat model: only classifiers keep per-row test predictions"):
        automl.version_predictions("bot", version.version)
