"""Classification metrics for one head (DESIGN §6), as plain JSON data checked against scikit-learn,
and the selection rule that picks the best evaluation from them.

Balanced accuracy is the standard definition, the mean recall over the classes present in the
truth; it is NOT (precision + recall) / 2, which one seed page writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from ..errors import InvalidInput

MAX_CURVE_POINTS = 200
RULES = ("balanced_accuracy", "f1", "loss")


def _labelled(
    y_true: Sequence[str | None], scores: np.ndarray, classes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The truth and score rows of the labelled rows only (a class name, not None or "")."""
    probs = np.asarray(scores, dtype=np.float64)
    if probs.shape != (len(y_true), len(classes)):
        raise InvalidInput(
            f"scores have shape {probs.shape}; expected ({len(y_true)}, {len(classes)}): "
            "one row per label and one column per class"
        )
    keep = np.array([isinstance(v, str) and v != "" for v in y_true], dtype=bool)
    truth = np.array([v for v, k in zip(y_true, keep) if k], dtype=object)
    return truth, probs[keep]


def _curve(positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """One-vs-rest PR curve, thinned to at most MAX_CURVE_POINTS points (for plots and JSON).

    scikit-learn gives one threshold fewer than points: point i has threshold i and the last
    point (recall 0, precision 1) has none. Thinning keeps that pairing, the first and the last
    point and the lowest and highest threshold; the average precision is computed on the full
    curve.
    """
    precision, recall, thresholds = precision_recall_curve(positive, score)
    n = len(precision)
    if n > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, n - 2, MAX_CURVE_POINTS - 1).round().astype(int))
        precision = np.append(precision[keep], precision[-1])
        recall = np.append(recall[keep], recall[-1])
        thresholds = thresholds[keep]
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "thresholds": thresholds.tolist(),
        "average_precision": float(average_precision_score(positive, score)),
    }


def _empty(classes: list[str]) -> dict[str, Any]:
    return {
        "labelled": 0,
        "classes": classes,
        "accuracy": None,
        "balanced_accuracy": None,
        "macro_f1": None,
        "per_class": {c: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for c in classes},
        "confusion_matrix": {"labels": classes, "matrix": [[0] * len(classes) for _ in classes]},
        "pr_curves": {c: None for c in classes},
    }


def head_metrics(
    y_true: Sequence[str | None], scores: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Per-class precision/recall/F1, macro F1, balanced accuracy, confusion matrix, PR curves.

    ``scores`` is ``[rows, classes]`` (probabilities, in ``classes`` order); the prediction is
    the highest score. ``y_true`` holds class names, or None / "" for rows unlabelled for this
    head, which are left out of every number.

    - ``balanced_accuracy`` is the standard definition, the mean recall over the classes present
      in the truth (scikit-learn's ``balanced_accuracy_score``), not (precision + recall) / 2.
    - ``macro_f1`` averages F1 over the classes present in the truth or in the predictions, so a
      class of the head that occurs in neither does not pull the mean down with a 0.
    - A precision or recall with a zero denominator is 0.0 (``zero_division=0``); a class without
      a positive row has no PR curve (None). With no labelled row the numbers are None.
    """
    classes = list(classes)
    truth, probs = _labelled(y_true, scores, classes)
    n = len(truth)
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise InvalidInput(f"labels {unknown} are not classes of this head ({classes})")
    if n == 0:
        return _empty(classes)
    predicted = np.array(classes, dtype=object)[probs.argmax(axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    present = set(truth)
    seen = present | set(predicted)
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    curves = {
        c: _curve(truth == c, probs[:, k]) if c in present else None for k, c in enumerate(classes)
    }
    matrix = confusion_matrix(truth, predicted, labels=classes)
    return {
        "labelled": n,
        "classes": classes,
        "accuracy": float((truth == predicted).mean()),
        "balanced_accuracy": float(np.mean([per_class[c]["recall"] for c in classes if c in present])),
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in classes if c in seen])),
        "per_class": per_class,
        "confusion_matrix": {"labels": classes, "matrix": matrix.astype(int).tolist()},
        "pr_curves": curves,
    }


def summarize(heads: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The headline numbers of each head, for tables."""
    return {
        head: {k: m.get(k) for k in ("balanced_accuracy", "macro_f1", "accuracy")}
        for head, m in heads.items()
    }


def selection_value(metrics: Mapping[str, Any], rule: str, label: str | None) -> float:
    """The number the selection rule compares: a head's balanced accuracy or macro F1, or the loss."""
    if rule not in RULES:
        raise InvalidInput(f"unknown selection rule {rule!r}; choose {', '.join(RULES)}")
    if rule == "loss":
        value = metrics.get("loss")
        if value is None:
            raise InvalidInput("selection by loss: the evaluation produced no loss (no rows to score?)")
        return float(value)
    heads = metrics.get("heads")
    if not heads:
        raise InvalidInput(f"selection rule {rule!r} needs classification heads; use 'loss'")
    if label not in heads:
        raise InvalidInput(f"selection_label {label!r} is not a head ({', '.join(heads)})")
    value = heads[label]["macro_f1" if rule == "f1" else "balanced_accuracy"]
    if value is None:
        raise InvalidInput(f"head {label!r} has no labelled validation rows to select on")
    return float(value)


def is_better(rule: str, new: float, best: float | None) -> bool:
    """Loss: lower is better; the other rules: higher. Ties keep the earlier evaluation."""
    if best is None:
        return True
    return new < best if rule == "loss" else new > best
