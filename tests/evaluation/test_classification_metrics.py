"""Classification metrics against scikit-learn on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from jupyter_automl.errors import InvalidInput
from jupyter_automl.evaluation import head_metrics, is_better, selection_value

CLASSES = ["cat", "dog", "fox"]


def one_hot_scores(predicted, classes=CLASSES, rng=None):
    rng = rng or np.random.default_rng(0)
    scores = rng.uniform(0, 0.3, size=(len(predicted), len(classes)))
    for i, p in enumerate(predicted):
        scores[i, classes.index(p)] = 0.9
    return scores / scores.sum(axis=1, keepdims=True)


def test_every_number_matches_scikit_learn():
    truth = ["cat", "dog", "fox", "cat", "dog", "dog", "fox", "cat", "cat", "fox"]
    pred = ["cat", "dog", "cat", "cat", "fox", "dog", "fox", "dog", "cat", "fox"]
    m = head_metrics(truth, one_hot_scores(pred), CLASSES)
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=CLASSES, zero_division=0)
    for k, c in enumerate(CLASSES):
        assert m["per_class"][c] == pytest.approx({"precision": p[k], "recall": r[k], "f1": f[k], "support": s[k]})
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["confusion_matrix"]["matrix"] == confusion_matrix(truth, pred, labels=CLASSES).tolist()
    assert m["labelled"] == 10


def test_a_class_never_predicted_scores_zero_precision_without_a_warning_or_nan():
    truth = ["cat", "dog", "fox", "fox"]
    pred = ["cat", "dog", "dog", "dog"]
    m = head_metrics(truth, one_hot_scores(pred), CLASSES)
    assert m["per_class"]["fox"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))


def test_a_class_absent_from_the_truth_has_no_pr_curve_and_does_not_count_for_balanced_accuracy():
    truth = ["cat", "dog", "cat", "dog"]
    pred = ["cat", "fox", "cat", "dog"]
    m = head_metrics(truth, one_hot_scores(pred), CLASSES)
    assert m["pr_curves"]["fox"] is None
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))  # mean of cat 1.0, dog 0.5
    present = sorted(set(truth) | set(pred))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, labels=present, average="macro", zero_division=0))


def test_a_single_class_head():
    truth = ["cat"] * 5
    pred = ["cat", "cat", "dog", "cat", "cat"]
    m = head_metrics(truth, one_hot_scores(pred), CLASSES)
    assert m["balanced_accuracy"] == pytest.approx(0.8)
    assert m["pr_curves"]["dog"] is None and m["pr_curves"]["cat"]["average_precision"] == pytest.approx(1.0)


def test_empty_cells_are_left_out_of_everything():
    truth = ["cat", "", None, "dog", "fox", ""]
    pred = ["cat", "dog", "dog", "dog", "cat", "fox"]
    m = head_metrics(truth, one_hot_scores(pred), CLASSES)
    kept = [0, 3, 4]
    same = head_metrics([truth[i] for i in kept], one_hot_scores(pred)[kept], CLASSES)
    assert m == same and m["labelled"] == 3


def test_no_labelled_rows_gives_empty_metrics_not_a_crash():
    m = head_metrics(["", None], one_hot_scores(["cat", "dog"]), CLASSES)
    assert m["labelled"] == 0 and m["balanced_accuracy"] is None and m["macro_f1"] is None


def test_pr_curves_match_scikit_learn_and_long_curves_are_thinned_keeping_both_ends():
    rng = np.random.default_rng(1)
    truth = rng.choice(CLASSES, size=2000).tolist()
    scores = rng.dirichlet([1, 1, 1], size=2000)
    m = head_metrics(truth, scores, CLASSES)
    for k, c in enumerate(CLASSES):
        curve = m["pr_curves"][c]
        positive = np.array(truth) == c
        assert curve["average_precision"] == pytest.approx(average_precision_score(positive, scores[:, k]))
        assert len(curve["precision"]) <= 200 and curve["recall"][0] == 1.0 and curve["recall"][-1] == 0.0
        assert curve["precision"][-1] == 1.0 and len(curve["thresholds"]) in (199, 200)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(InvalidInput, match="wolf"):
        head_metrics(["wolf"], one_hot_scores(["cat"]), CLASSES)


def test_selection_reads_the_rule_on_the_label():
    metrics = {"loss": 0.4, "heads": {"a": {"balanced_accuracy": 0.7, "macro_f1": 0.6}}}
    assert selection_value(metrics, "balanced_accuracy", "a") == 0.7
    assert selection_value(metrics, "f1", "a") == 0.6
    assert selection_value(metrics, "loss", None) == 0.4
    with pytest.raises(InvalidInput, match="'b' is not a head"):
        selection_value(metrics, "f1", "b")
    with pytest.raises(InvalidInput, match="unknown selection rule"):
        selection_value(metrics, "accuracy", "a")
    with pytest.raises(InvalidInput, match="needs classification heads"):
        selection_value({"loss": 1.0, "token_accuracy": 0.5}, "f1", None)
    assert is_better("loss", 0.3, 0.4) and not is_better("loss", 0.4, 0.4)
    assert is_better("f1", 0.5, 0.4) and not is_better("balanced_accuracy", 0.4, 0.4)
    assert is_better("f1", 0.0, None)
