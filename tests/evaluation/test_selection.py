"""The number model selection compares, and which of two is better."""

from __future__ import annotations

import pytest

from jupyter_automl.errors import InvalidInput
from jupyter_automl.evaluation import head_metrics, is_better, selection_value
from tests.evaluation.test_classification_metrics import CLASSES, scores_for

TRUTH = ["cat", "dog", "fox", "fox"]
PRED = ["cat", "dog", "dog", "fox"]


@pytest.fixture
def classification():
    return {
        "loss": 0.4,
        "heads": {
            "animal": head_metrics(TRUTH, scores_for(PRED), CLASSES),
            "empty": head_metrics([None] * 4, scores_for(PRED), CLASSES),
        },
    }


def test_classification_rules_read_the_head_named_by_the_label(classification):
    assert selection_value(classification, "balanced_accuracy", "animal") == pytest.approx((1 + 1 + 0.5) / 3)
    assert selection_value(classification, "f1", "animal") == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert selection_value(classification, "loss", None) == 0.4
    assert selection_value(classification, "loss", "animal") == 0.4


def test_llm_metrics_select_by_loss_only():
    llm = {"loss": 1.25, "token_accuracy": 0.5}
    assert selection_value(llm, "loss", None) == 1.25
    for rule in ("f1", "balanced_accuracy"):
        message = f"selection rule '{rule}' needs classification heads; use 'loss'"
        with pytest.raises(InvalidInput, match=message):
            selection_value(llm, rule, None)


def test_bad_rules_labels_and_missing_values_are_explained(classification):
    message = "unknown selection rule 'accuracy'; choose balanced_accuracy, f1, loss"
    with pytest.raises(InvalidInput, match=message):
        selection_value(classification, "accuracy", "animal")
    with pytest.raises(InvalidInput, match=r"selection_label 'colour' is not a head \(animal, empty\)"):
        selection_value(classification, "f1", "colour")
    with pytest.raises(InvalidInput, match="selection_label None is not a head"):
        selection_value(classification, "balanced_accuracy", None)
    with pytest.raises(InvalidInput, match="head 'empty' has no labelled validation rows"):
        selection_value(classification, "f1", "empty")
    with pytest.raises(InvalidInput, match="produced no loss"):
        selection_value({"heads": classification["heads"]}, "loss", None)


def test_lower_loss_and_higher_scores_are_better_and_ties_keep_the_earlier():
    assert is_better("loss", 0.3, 0.4) and not is_better("loss", 0.5, 0.4) and not is_better("loss", 0.4, 0.4)
    for rule in ("f1", "balanced_accuracy"):
        assert is_better(rule, 0.5, 0.4) and not is_better(rule, 0.3, 0.4) and not is_better(rule, 0.4, 0.4)
    assert is_better("loss", 9.0, None) and is_better("f1", 0.0, None)
