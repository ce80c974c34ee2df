"""reports/tables.py arranges metrics.json into the tables every face shows; checked on
hand-written metrics."""

from __future__ import annotations

import math

import pytest

from jupyter_automl.errors import InvalidInput
from jupyter_automl.reports import tables

CLASSIFIER = {
    "selection": {"step": 20},
    "history": [
        {"epoch": 1.0, "step": 10, "loss": 0.9, "a/per_class": {"x": {}}},
        {"epoch": 2.0, "step": 20, "loss": 0.7},
    ],
    "test": {"loss": 0.8, "heads": {"a": {
        "labelled": 5, "classes": ["x", "y"], "accuracy": 0.6, "balanced_accuracy": 0.5833,
        "macro_f1": 0.5833,
        "per_class": {"x": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
                      "y": {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "support": 3}},
        "confusion_matrix": {"labels": ["x", "y"], "matrix": [[1, 1], [1, 2]]},
    }}},
}


def test_head_table_lists_each_class_then_the_head():
    table = tables.head_table(CLASSIFIER, "a")
    assert list(table.index) == ["x", "y", "(all)"]
    assert table.loc["y", "support"] == 3 and table.loc["(all)", "support"] == 5
    assert table.loc["(all)", "balanced_accuracy"] == 0.5833 and math.isnan(table.loc["x", "accuracy"])
    with pytest.raises(InvalidInput, match="no head 'b' in these metrics \\(heads: a\\)"):
        tables.head_table(CLASSIFIER, "b")


def test_confusion_table_has_truth_down_and_predictions_across():
    frame = tables.confusion_table(CLASSIFIER, "a")
    assert frame.loc["y", "x"] == 1 and frame.loc["y", "y"] == 2
    assert (frame.index.name, frame.columns.name) == ("true", "predicted")


def test_epochs_table_marks_the_chosen_evaluation_and_drops_per_class_detail():
    table = tables.epochs_table(CLASSIFIER)
    assert list(table["chosen"]) == [False, True]
    assert "a/per_class" not in table.columns


def test_llm_comparison_and_versions_side_by_side():
    v1 = {"comparison": {"loss": {"base": 2.0, "tuned": 1.5, "change": -0.5, "change_percent": -25.0}}}
    table = tables.llm_comparison(v1)
    assert table.loc["loss", "change_percent"] == -25.0
    side = tables.compare_versions([(1, v1), (2, CLASSIFIER)])
    assert list(side.columns) == ["v1", "v2"]
    assert side.loc["loss", "v1"] == 1.5 and side.loc["loss change vs base", "v1"] == -0.5
    assert math.isnan(side.loc["a/macro_f1", "v1"]) and side.loc["a/macro_f1", "v2"] == 0.5833
    with pytest.raises(InvalidInput):
        tables.compare_versions([])


def test_job_progress_reads_the_runner_report():
    from jupyter_automl.reports.summary import job_progress, progress_parts
    from jupyter_automl.schemas import JobInfo

    state = {"phase": "training", "step": 30, "total_steps": 120, "epoch": 1.25, "max_epochs": 4,
             "loss": 0.51234, "eta_seconds": 3725, "elapsed_seconds": 61}
    running = JobInfo.model_construct(model_name="reviews", version=2, status="running",
                                      progress={"state": state})
    assert progress_parts(running) == ["training", "epoch 1.25 of 4", "step 30 of 120",
                                       "loss 0.5123", "ETA 1:02:05", "elapsed 0:01:01"]
    assert job_progress(running).startswith("reviews v2: running, training, epoch 1.25 of 4")
    done = JobInfo.model_construct(model_name="reviews", version=2, status="succeeded",
                                   progress={"state": state})
    assert progress_parts(done) == ["epoch 1.25 of 4", "step 30 of 120", "loss 0.5123",
                                    "elapsed 0:01:01"]
    queued = JobInfo.model_construct(model_name="reviews", version=3, status="queued", progress={})
    assert job_progress(queued) == "reviews v3: queued"
