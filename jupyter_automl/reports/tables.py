"""A trained version's metrics as tables: what dashboards, notebooks and reports show.

The numbers come from ``metrics.json`` as training wrote them; these functions only arrange
them, so every face shows the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import InvalidInput

HEAD_COLUMNS = ("balanced_accuracy", "macro_f1", "accuracy")


def llm_comparison(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """LLMs: loss and token accuracy on the test rows, base model vs fine-tuned, with the change
    (and the change in percent of the base)."""
    comparison = metrics.get("comparison") or {}
    rows = [{"metric": key, **values} for key, values in comparison.items()]
    columns = ["metric", "base", "tuned", "change", "change_percent"]
    return pd.DataFrame(rows, columns=columns).set_index("metric")


def head_table(metrics: Mapping[str, Any], head: str) -> pd.DataFrame:
    """One head's test metrics: precision, recall, F1 and support per class, then a row
    ``(all)`` with the head's balanced accuracy, macro F1 and accuracy."""
    heads = (metrics.get("test") or {}).get("heads") or {}
    if head not in heads:
        raise InvalidInput(f"no head {head!r} in these metrics (heads: {', '.join(heads) or 'none'})")
    values = heads[head]
    rows = [{"class": name, **m} for name, m in (values.get("per_class") or {}).items()]
    rows.append({"class": "(all)", "support": values.get("labelled"),
                 **{k: values.get(k) for k in HEAD_COLUMNS}})
    columns = ["class", "precision", "recall", "f1", "support", *HEAD_COLUMNS]
    return pd.DataFrame(rows, columns=columns).set_index("class")


def confusion_table(metrics: Mapping[str, Any], head: str) -> pd.DataFrame:
    """The head's confusion matrix on the test rows: true classes down, predictions across."""
    heads = (metrics.get("test") or {}).get("heads") or {}
    if head not in heads or not heads[head].get("confusion_matrix"):
        raise InvalidInput(f"no confusion matrix for head {head!r}")
    matrix = heads[head]["confusion_matrix"]
    frame = pd.DataFrame(matrix["matrix"], index=matrix["labels"], columns=matrix["labels"])
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


def epochs_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Every evaluation during training (epoch, step, losses, the selection value and the head
    metrics), with ``chosen`` marking the one that became the model."""
    chosen_step = (metrics.get("selection") or {}).get("step")
    rows = [
        {**{k: v for k, v in entry.items() if not k.endswith("/per_class")},
         "chosen": entry.get("step") == chosen_step}
        for entry in metrics.get("history") or []
    ]
    return pd.DataFrame(rows)


def headline(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The few numbers that sum a version up: each head's balanced accuracy, macro F1 and
    accuracy (classification), or the tuned loss and token accuracy with their change (LLMs)."""
    out: dict[str, float | None] = {}
    for key, values in (metrics.get("comparison") or {}).items():
        out[key] = values.get("tuned")
        out[f"{key} change vs base"] = values.get("change")
    for head, values in ((metrics.get("test") or {}).get("heads") or {}).items():
        for key in HEAD_COLUMNS:
            out[f"{head}/{key}"] = values.get(key)
    if not out and (metrics.get("test") or {}).get("loss") is not None:
        out["loss"] = metrics["test"]["loss"]
    return out


def compare_versions(versions: Sequence[tuple[int, Mapping[str, Any]]]) -> pd.DataFrame:
    """Versions side by side: one column per version (``v1``, ``v2``, ...), one row per
    headline number; a number one version lacks (a head added later) is empty."""
    if not versions:
        raise InvalidInput("compare at least one version")
    columns = {f"v{number}": headline(metrics) for number, metrics in versions}
    frame = pd.DataFrame(columns)
    frame.index.name = "metric"
    return frame
