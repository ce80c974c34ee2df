"""train() end to end for classifiers on tiny models: version directory, metrics, predictor."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.datasets.snapshots import freeze
from jupyter_automl.errors import InvalidInput
from jupyter_automl.model_types import ModelType
from jupyter_automl.training import evaluate, load_predictor, train

from tests.data import write_colour_images

from .test_predictions import check_against_metrics
from .test_text_classification import make_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tiny_base_models):
    return {c["name"]: BaseModelEntry.from_dict(c) for c in tiny_base_models}


def test_text_classification_run_selects_on_the_label_and_writes_plots_per_head(tiny, tmp_path):
    rows = make_rows(160, 1, heads=("sentiment", "topic"))
    snapshot = freeze(rows, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path / "s").path
    result = train(snapshot, tiny["tiny-encoder"],
                   {"max_epochs": 3, "learning_rate": 5e-3, "batch_size": 16, "selection_label": "topic",
                    "selection_rule": "f1"}, out_dir=tmp_path / "v", test=25)
    v = result.version_dir
    metrics = json.loads((v / "metrics.json").read_text())
    assert metrics["selection"]["label"] == "topic" and metrics["selection"]["rule"] == "f1"
    best = max(metrics["history"], key=lambda e: e["topic/macro_f1"])
    assert metrics["selection"]["step"] == best["step"]
    assert set(metrics["test"]["heads"]) == {"sentiment", "topic"}
    assert metrics["data"]["rows"]["test"] == 40
    for name in ("pr_sentiment.png", "confusion_topic.png", "history_topic.png", "loss.png"):
        assert (v / "plots" / name).is_file(), name

    predictor = load_predictor(v)
    answer = predictor.predict(["a good parcel"])[0]
    assert {c["class"] for c in answer["topic"]} == {"delivery", "price", "support"}
    assert sum(c["score"] for c in answer["sentiment"]) == pytest.approx(1.0, abs=1e-5)
    again = evaluate(v, snapshot)
    assert again["heads"]["topic"]["labelled"] == 160

    from transformers import AutoModelForSequenceClassification

    plain = AutoModelForSequenceClassification.from_pretrained(v / "model")
    assert plain.config.num_labels == 5


def test_a_test_snapshot_with_a_class_training_never_saw_is_refused(tiny, tmp_path):
    rows = make_rows(60, 1)
    test = rows.copy()
    test.loc[0, "sentiment"] = "mixed"
    train_snapshot = freeze(rows, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path / "s").path
    test_snapshot = freeze(test, model_type=ModelType.TEXT_CLASSIFICATION, root=tmp_path / "s").path
    with pytest.raises(InvalidInput, match="'mixed' that the training snapshot never shows"):
        train(train_snapshot, tiny["tiny-encoder"], {"max_epochs": 1}, out_dir=tmp_path / "v", test=test_snapshot)


def test_image_classification_run_with_a_separate_test_snapshot(tiny, tmp_path):
    images = tmp_path / "images.zip"
    records = write_colour_images(images, 80)
    import pandas as pd

    table = pd.DataFrame(records)
    root = tmp_path / "s"
    train_snap = freeze(table[:60], model_type=ModelType.IMAGE_CLASSIFICATION, root=root, images_zip=images).path
    test_snap = freeze(table[60:], model_type=ModelType.IMAGE_CLASSIFICATION, root=root, images_zip=images).path
    result = train(train_snap, tiny["tiny-vit"], {"max_epochs": 2, "method": "full", "learning_rate": 3e-3,
                                                  "augment": False, "batch_size": 8},
                   out_dir=tmp_path / "v", test=test_snap)
    assert result.metrics["data"]["rows"] == {"train": 54, "validation": 6, "test": 20}
    assert result.metrics["test"]["heads"]["colour"]["balanced_accuracy"] >= 0.9
    predictions = check_against_metrics(result.version_dir)
    assert [(p["row"], p["input"], p["colour"]) for p in predictions] == [
        (r["row"], r["image"], r["colour"]) for r in records[60:]
    ]
    predictor = load_predictor(result.version_dir)
    with Image.open(test_snap / "images" / "img" / "61.png") as image:
        answer = predictor.predict([image.copy()])[0]
    assert max(answer["colour"], key=lambda c: c["score"])["class"] == "red"
