"""Classification metrics of one head against scikit-learn on fixed inputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from jupyter_automl.errors import InvalidInput
from jupyter_automl.evaluation import head_metrics, summarize

CLASSES = ["cat", "dog", "fox"]
KEYS = {
    "labelled", "classes", "per_class", "macro_f1", "balanced_accuracy", "accuracy",
    "confusion_matrix", "pr_curves",
}


def scores_for(predicted, classes=CLASSES, seed=0):
    """Softmax-like rows whose argmax is ``predicted``, with varied lower scores."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 0.3, size=(len(predicted), len(classes)))
    for i, p in enumerate(predicted):
        scores[i, classes.index(p)] = rng.uniform(0.5, 0.9)
    return scores / scores.sum(axis=1, keepdims=True)


def assert_plain_json(value):
    """Only Python builtins and no NaN: what json.dumps accepts strictly, unchanged by a round trip."""
    assert json.loads(json.dumps(value, allow_nan=False)) == value

    def walk(v):
        assert type(v) in (dict, list, str, int, float, bool, type(None)), type(v)
        for child in v.values() if isinstance(v, dict) else v if isinstance(v, list) else ():
            walk(child)

    walk(value)


def assert_matches_sklearn(m, truth, pred, classes=CLASSES):
    """Every number of ``head_metrics`` against scikit-learn on the labelled rows."""
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=classes, zero_division=0)
    for k, c in enumerate(classes):
        assert m["per_class"][c] == {
            "precision": pytest.approx(p[k]), "recall": pytest.approx(r[k]),
            "f1": pytest.approx(f[k]), "support": int(s[k]),
        }
    seen = [c for c in classes if c in set(truth) | set(pred)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, labels=seen, average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert m["confusion_matrix"] == {
        "labels": classes, "matrix": confusion_matrix(truth, pred, labels=classes).tolist()
    }
    assert m["labelled"] == len(truth) and m["classes"] == classes
    assert_plain_json(m)


def test_every_number_matches_scikit_learn():
    truth = ["cat", "dog", "fox", "cat", "dog", "dog", "fox", "cat", "cat", "fox"]
    pred = ["cat", "dog", "cat", "cat", "fox", "dog", "fox", "dog", "cat", "fox"]
    scores = scores_for(pred)
    m = head_metrics(truth, scores, CLASSES)
    assert set(m) == KEYS
    assert_matches_sklearn(m, truth, pred)
    assert m["accuracy"] == pytest.approx(0.7)
    for k, c in enumerate(CLASSES):
        positive = np.array(truth) == c
        p, r, t = precision_recall_curve(positive, scores[:, k])
        assert m["pr_curves"][c] == {
            "precision": pytest.approx(p.tolist()), "recall": pytest.approx(r.tolist()),
            "thresholds": pytest.approx(t.tolist()),
            "average_precision": pytest.approx(average_precision_score(positive, scores[:, k])),
        }


def test_a_class_never_predicted_scores_zero_without_a_warning_or_nan():
    truth = ["cat", "dog", "fox", "fox"]
    pred = ["cat", "dog", "dog", "dog"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = head_metrics(truth, scores_for(pred), CLASSES)
    assert m["per_class"]["fox"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["pr_curves"]["fox"] is not None  # it has positives, so it has a curve
    assert_matches_sklearn(m, truth, pred)


def test_a_class_absent_from_the_truth_has_no_curve_and_no_weight_in_balanced_accuracy():
    classes = ["cat", "dog", "fox", "owl"]  # fox only predicted, owl nowhere
    truth = ["cat", "dog", "cat", "dog"]
    pred = ["cat", "fox", "cat", "dog"]
    m = head_metrics(truth, scores_for(pred, classes), classes)
    assert_matches_sklearn(m, truth, pred, classes)
    assert m["pr_curves"]["fox"] is None and m["pr_curves"]["owl"] is None
    assert m["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)  # recall of cat and dog only
    # Macro F1 over the classes seen (cat, dog, fox); owl, seen nowhere, is not averaged in as 0.
    assert m["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
    every_class = f1_score(truth, pred, labels=classes, average="macro", zero_division=0)
    assert m["macro_f1"] != pytest.approx(every_class)


def test_a_single_class_head():
    truth = ["cat"] * 5
    pred = ["cat", "cat", "dog", "cat", "cat"]
    scores = scores_for(pred)
    m = head_metrics(truth, scores, CLASSES)
    assert_matches_sklearn(m, truth, pred)
    assert m["balanced_accuracy"] == pytest.approx(0.8)
    assert m["pr_curves"]["dog"] is None and m["pr_curves"]["fox"] is None
    assert m["pr_curves"]["cat"]["average_precision"] == pytest.approx(1.0)


def test_empty_and_none_cells_are_left_out_of_everything():
    truth = ["cat", "", None, "dog", "fox", ""]
    pred = ["cat", "dog", "dog", "dog", "cat", "fox"]
    scores = scores_for(pred)
    m = head_metrics(truth, scores, CLASSES)
    kept = [0, 3, 4]
    assert_matches_sklearn(m, [truth[i] for i in kept], [pred[i] for i in kept])
    assert m == head_metrics([truth[i] for i in kept], scores[kept], CLASSES)
    assert m["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]


@pytest.mark.parametrize("truth", [["", None], []])
def test_no_labelled_rows_gives_the_same_keys_with_empty_values(truth):
    m = head_metrics(truth, scores_for(["cat", "dog"][: len(truth)]), CLASSES)
    assert set(m) == KEYS and m["labelled"] == 0 and m["classes"] == CLASSES
    assert m["accuracy"] is None and m["balanced_accuracy"] is None and m["macro_f1"] is None
    assert m["pr_curves"] == {"cat": None, "dog": None, "fox": None}
    assert m["confusion_matrix"]["matrix"] == [[0, 0, 0]] * 3
    assert all(v["support"] == 0 for v in m["per_class"].values())
    assert_plain_json(m)


def test_long_pr_curves_are_thinned_keeping_both_ends_and_the_exact_average_precision():
    rng = np.random.default_rng(1)
    truth = rng.choice(CLASSES, size=2000).tolist()
    scores = rng.dirichlet([1, 1, 1], size=2000)
    m = head_metrics(truth, scores, CLASSES)
    for k, c in enumerate(CLASSES):
        positive = np.array(truth) == c
        p, r, t = precision_recall_curve(positive, scores[:, k])
        assert len(t) > 1000  # long enough to need thinning
        curve = m["pr_curves"][c]
        assert curve["average_precision"] == pytest.approx(average_precision_score(positive, scores[:, k]))
        n = len(curve["precision"])
        assert 150 < n <= 200 and len(curve["recall"]) == n and len(curve["thresholds"]) == n - 1
        # Both ends of the points and of the thresholds are sklearn's own.
        assert (curve["precision"][0], curve["recall"][0]) == (p[0], r[0])
        assert (curve["precision"][-1], curve["recall"][-1]) == (p[-1], r[-1]) == (1.0, 0.0)
        assert (curve["thresholds"][0], curve["thresholds"][-1]) == (t[0], t[-1])
        # Every kept point keeps its own threshold: (precision, recall, threshold) rows of sklearn, in order.
        rows = {(a, b, x): i for i, (a, b, x) in enumerate(zip(p, r, t))}
        indices = [rows[row] for row in zip(curve["precision"], curve["recall"], curve["thresholds"])]
        assert indices == sorted(set(indices))


def test_bad_labels_and_shapes_are_refused():
    with pytest.raises(InvalidInput, match=r"\['wolf'\] are not classes"):
        head_metrics(["wolf"], scores_for(["cat"]), CLASSES)
    with pytest.raises(InvalidInput, match=r"expected \(2, 3\)"):
        head_metrics(["cat", "dog"], scores_for(["cat"]), CLASSES)
    with pytest.raises(InvalidInput, match=r"shape \(2, 2\)"):
        head_metrics(["cat", "dog"], np.full((2, 2), 0.5), CLASSES)


def test_summarize_keeps_the_headline_numbers_of_each_head():
    truth, pred = ["cat", "dog", "dog"], ["cat", "cat", "dog"]
    heads = {
        "a": head_metrics(truth, scores_for(pred), CLASSES),
        "b": head_metrics([None], scores_for(["cat"]), CLASSES),
    }
    assert summarize(heads) == {
        "a": {
            "balanced_accuracy": pytest.approx(0.75),
            "macro_f1": pytest.approx(f1_score(truth, pred, average="macro")),
            "accuracy": pytest.approx(2 / 3),
        },
        "b": {"balanced_accuracy": None, "macro_f1": None, "accuracy": None},
    }
