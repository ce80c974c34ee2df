"""Several classification heads in one output vector, shared by the text and image classifiers.

Every head's outputs are concatenated into one logits vector ``[rows, layout.width]``, so the
model stays a plain single-output transformers model (``AutoModelForSequenceClassification``
loads it as is). A :class:`HeadLayout` says which slice belongs to which head:

- a ``softmax`` head owns ``len(classes)`` outputs, one per class;
- a ``sigmoid`` head owns one output ``z``: a binary built-in head of a multi-label moderation
  model (classes ``["no", "yes"]``), with ``P(yes) = sigmoid(z)``.

Built-in heads of a moderation base model come first and keep their offsets (so their rows of
the classifier, and their outputs, stay where the checkpoint had them); the user's new heads
are appended after them. Rows unlabelled for a head (an empty cell) have target ``-1`` for it
and count for nothing in its loss or metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..errors import InvalidInput

HeadKind = Literal["softmax", "sigmoid"]
LAYOUT_FORMAT = 1
UNLABELLED = -1


@dataclass
class HeadSpec:
    """One head: its classes and where its outputs sit in the concatenated logits."""

    name: str
    classes: list[str]
    offset: int
    kind: HeadKind = "softmax"
    builtin: bool = False

    def __post_init__(self) -> None:
        self.classes = list(self.classes)
        if self.kind not in ("softmax", "sigmoid"):
            raise InvalidInput(f"head {self.name!r}: kind must be softmax or sigmoid, got {self.kind!r}")
        if self.kind == "sigmoid" and len(self.classes) != 2:
            raise InvalidInput(
                f"head {self.name!r}: a sigmoid head has exactly two classes (negative, positive), "
                f"got {self.classes}"
            )
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise InvalidInput(f"head {self.name!r}: needs at least 2 distinct classes, got {self.classes}")
        if self.offset < 0:
            raise InvalidInput(f"head {self.name!r}: negative offset {self.offset}")

    @property
    def width(self) -> int:
        """Outputs this head owns: one per class (softmax) or one (sigmoid)."""
        return 1 if self.kind == "sigmoid" else len(self.classes)

    @property
    def stop(self) -> int:
        return self.offset + self.width

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.stop)

    def output_labels(self) -> list[str]:
        """``"head: class"`` for each output (a sigmoid head's one output is its positive class)."""
        if self.kind == "sigmoid":
            return [f"{self.name}: {self.classes[1]}"]
        return [f"{self.name}: {c}" for c in self.classes]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "offset": self.offset,
            "kind": self.kind,
            "builtin": self.builtin,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "HeadSpec":
        return cls(
            name=str(data["name"]),
            classes=list(data["classes"]),
            offset=int(data["offset"]),
            kind=data.get("kind", "softmax"),
            builtin=bool(data.get("builtin", False)),
        )


@dataclass
class HeadLayout:
    """The heads of one model, in output order; ``width`` outputs in all."""

    heads: list[HeadSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise InvalidInput(f"duplicate head names in {names}")
        taken = np.zeros(self.width, dtype=bool)
        for head in self.heads:
            if taken[head.slice].any():
                raise InvalidInput(f"head {head.name!r} overlaps another head's outputs")
            taken[head.slice] = True
        if not taken.all():
            raise InvalidInput(f"the heads leave outputs {np.flatnonzero(~taken).tolist()} unused")

    @property
    def width(self) -> int:
        return max((h.stop for h in self.heads), default=0)

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.heads]

    def get(self, name: str) -> HeadSpec:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(f"no head named {name!r} (heads: {', '.join(self.names)})")

    def __contains__(self, name: object) -> bool:
        return any(h.name == name for h in self.heads)

    def __iter__(self) -> Iterator[HeadSpec]:
        return iter(self.heads)

    def __len__(self) -> int:
        return len(self.heads)

    def output_labels(self) -> list[str]:
        """One label per output, in order: what goes into a model config's ``id2label``."""
        labels = [""] * self.width
        for head in self.heads:
            for i, label in enumerate(head.output_labels()):
                labels[head.offset + i] = label
        return labels

    def to_json(self) -> dict[str, Any]:
        return {"format": LAYOUT_FORMAT, "width": self.width, "heads": [h.to_json() for h in self.heads]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> "HeadLayout":
        """From ``to_json()`` output (or a bare list of head dicts)."""
        items = data["heads"] if isinstance(data, Mapping) else data
        layout = cls([HeadSpec.from_json(h) for h in items])
        if isinstance(data, Mapping) and "width" in data and int(data["width"]) != layout.width:
            raise InvalidInput(f"head layout says width {data['width']} but its heads need {layout.width}")
        return layout


def build_layout(
    user_heads: Mapping[str, Sequence[str]], builtin: Iterable[HeadSpec] = ()
) -> HeadLayout:
    """Built-in heads first (keeping their offsets), then the user's new heads appended.

    A user head named like a built-in head is the same head: its data fine-tunes it. Its classes
    must be classes of the built-in head (data need not show every one of them); a class the
    built-in head does not have is an error.
    """
    heads = [
        HeadSpec(h.name, list(h.classes), h.offset, h.kind, builtin=True) for h in builtin
    ]
    layout = HeadLayout(heads)  # checks the built-in offsets
    offset = layout.width
    for name, classes in user_heads.items():
        classes = list(classes)
        if name in layout:
            head = layout.get(name)
            unknown = [c for c in classes if c not in head.classes]
            if unknown:
                raise InvalidInput(
                    f"head {name!r} is a built-in head of the base model with classes "
                    f"{head.classes}; the data labels it with {unknown}, which it does not have. "
                    "Use the built-in classes, or rename the column to train a new head."
                )
            continue
        spec = HeadSpec(name, classes, offset)
        heads.append(spec)
        offset += spec.width
    return HeadLayout(heads)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like cells are not "empty"
        return False


def encode_targets(layout: HeadLayout, table: Any) -> np.ndarray:
    """``[rows, heads]`` int64 class indices; -1 where a cell is empty or the head has no column.

    ``table`` is a pandas DataFrame (or a mapping of column -> values with the same length).
    A cell that is not a class of its head is an error naming the row.
    """
    if not hasattr(table, "columns"):
        table = pd.DataFrame(dict(table))
    columns = list(table.columns)
    n = len(table)
    rows = list(table["row"]) if "row" in columns else None
    targets = np.full((n, len(layout)), UNLABELLED, dtype=np.int64)
    for h, head in enumerate(layout):
        if head.name not in columns:
            continue
        index = {c: i for i, c in enumerate(head.classes)}
        for r, value in enumerate(list(table[head.name])):
            if _is_empty(value):
                continue
            key = value.strip() if isinstance(value, str) else str(value)
            if key not in index:
                where = f"row {rows[r]}" if rows is not None else f"row index {r}"
                raise InvalidInput(
                    f"{where}, column {head.name!r}: {value!r} is not a class of this head "
                    f"({', '.join(head.classes)})"
                )
            targets[r, h] = index[key]
    return targets


def multi_head_loss(
    layout: HeadLayout, logits: torch.Tensor, targets: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor, int]:
    """Summed loss over the labelled (row, head) pairs, and how many there are.

    Softmax heads: cross-entropy over their slice; sigmoid heads: BCE-with-logits on their one
    output. Computed in float32 whatever the autocast dtype. With no labelled pair the loss is
    a zero that still depends on ``logits`` (backward works and changes nothing).
    """
    if not isinstance(targets, torch.Tensor):
        targets = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    targets = targets.to(logits.device)
    if logits.shape[-1] != layout.width:
        raise ValueError(f"logits have {logits.shape[-1]} outputs, the layout {layout.width}")
    if targets.shape != (logits.shape[0], len(layout)):
        raise ValueError(f"targets shape {tuple(targets.shape)} != ({logits.shape[0]}, {len(layout)})")
    logits = logits.float()
    total = logits.sum() * 0.0
    count = 0
    for h, head in enumerate(layout):
        column = targets[:, h]
        mask = column >= 0
        labelled = int(mask.sum())
        if not labelled:
            continue
        part = logits[mask][:, head.slice]
        if head.kind == "sigmoid":
            total = total + torch.nn.functional.binary_cross_entropy_with_logits(
                part[:, 0], column[mask].float(), reduction="sum"
            )
        else:
            total = total + torch.nn.functional.cross_entropy(part, column[mask], reduction="sum")
        count += labelled
    return total, count


def head_probabilities(layout: HeadLayout, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """``{head: [rows, classes]}`` probabilities (a sigmoid head gives ``[1 - p, p]``)."""
    if isinstance(logits, torch.Tensor):
        values = logits.detach().float().cpu()
    else:
        values = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    out: dict[str, np.ndarray] = {}
    for head in layout:
        part = values[:, head.slice]
        if head.kind == "sigmoid":
            p = torch.sigmoid(part[:, 0])
            probs = torch.stack([1 - p, p], dim=1)
        else:
            probs = torch.softmax(part, dim=1)
        out[head.name] = probs.numpy().astype(np.float64)
    return out


def _config_value(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


def _id2label(config: Any) -> list[str]:
    mapping = _config_value(config, "id2label") or {}
    try:
        items = sorted(((int(k), str(v)) for k, v in dict(mapping).items()))
    except (TypeError, ValueError):
        raise InvalidInput(f"the checkpoint's id2label is not an index -> label map: {mapping!r}") from None
    if [i for i, _ in items] != list(range(len(items))):
        raise InvalidInput(f"the checkpoint's id2label indices are not 0..n-1: {mapping!r}")
    return [label for _, label in items]


def builtin_heads_of(config: Any, entry: Any) -> list[HeadSpec]:
    """The built-in heads of a moderation base model, read from its classification config.

    ``config`` is the checkpoint's transformers config (or its dict); ``entry`` the registry
    entry whose ``builtin_heads`` name them. A checkpoint trained here (``automl_heads`` in its
    config) keeps its own layout. Otherwise ``problem_type == "multi_label_classification"``
    gives one sigmoid head per label (each label must be a built-in head of the entry, with two
    classes, negative first), and any other problem type gives one softmax head whose classes
    are the labels in index order (the entry names exactly one built-in head, with those
    classes). Returns ``[]`` for a base model without built-in heads.
    """
    declared: Mapping[str, Sequence[str]] = getattr(entry, "builtin_heads", None) or {}
    if not declared:
        return []
    name = getattr(entry, "name", "base model")
    saved = _config_value(config, "automl_heads")
    if saved:
        layout = HeadLayout.from_json(saved)
        missing = [h for h in declared if h not in layout]
        if missing:
            raise InvalidInput(
                f"base model {name!r}: built-in head(s) {missing} are not in its checkpoint's "
                f"heads ({', '.join(layout.names)})"
            )
        return [HeadSpec(h.name, h.classes, h.offset, h.kind, builtin=True) for h in layout]
    labels = _id2label(config)
    if not labels:
        raise InvalidInput(f"base model {name!r}: its checkpoint has no id2label to read built-in heads from")
    if _config_value(config, "problem_type") == "multi_label_classification":
        unknown = [label for label in labels if label not in declared]
        missing = [h for h in declared if h not in labels]
        if unknown or missing:
            raise InvalidInput(
                f"base model {name!r}: its checkpoint's multi-label outputs {labels} do not match "
                f"the registry's builtin_heads {list(declared)}"
                + (f" (outputs not declared: {unknown})" if unknown else "")
                + (f" (declared heads without an output: {missing})" if missing else "")
            )
        heads = []
        for i, label in enumerate(labels):
            classes = list(declared[label])
            if len(classes) != 2:
                raise InvalidInput(
                    f"base model {name!r}: built-in head {label!r} is one multi-label output, so it "
                    f"has two classes (negative, positive), not {classes}"
                )
            heads.append(HeadSpec(label, classes, i, "sigmoid", builtin=True))
        return heads
    if len(declared) != 1:
        raise InvalidInput(
            f"base model {name!r}: its checkpoint is single-label ({len(labels)} classes), so it "
            f"has one built-in head, but the registry declares {list(declared)}"
        )
    (head, classes), = declared.items()
    if sorted(classes) != sorted(labels):
        raise InvalidInput(
            f"base model {name!r}: built-in head {head!r} declares classes {list(classes)}, but "
            f"the checkpoint's id2label has {labels}"
        )
    return [HeadSpec(head, labels, 0, "softmax", builtin=True)]


def predictions_for(
    layout: HeadLayout, probs_by_head: Mapping[str, np.ndarray], top_k: int | None = None
) -> list[dict[str, list[dict[str, Any]]]]:
    """Per row: ``{head: [{"class", "score"}, ...]}``, every class, highest score first.

    ``top_k`` keeps only the best ``k`` classes of each head.
    """
    rows = None
    for head in layout:
        n = len(probs_by_head[head.name])
        if rows is not None and n != rows:
            raise ValueError("heads disagree on the number of rows")
        rows = n
    out: list[dict[str, list[dict[str, Any]]]] = [{} for _ in range(rows or 0)]
    for head in layout:
        probs = np.asarray(probs_by_head[head.name], dtype=np.float64)
        order = np.argsort(-probs, axis=1, kind="stable")
        if top_k is not None:
            order = order[:, : max(1, int(top_k))]
        for r in range(len(out)):
            out[r][head.name] = [
                {"class": head.classes[k], "score": float(probs[r, k])} for k in order[r]
            ]
    return out


def prediction_columns(layout: HeadLayout) -> list[str]:
    """The columns of :func:`prediction_table`: ``row``, ``input``, then for every head ``H``:
    ``H``, ``H predicted``, ``H score``. A head whose name clashes with another column (a head
    called ``input``) is refused rather than silently overwritten."""
    columns = ["row", "input"]
    for head in layout:
        columns += [head.name, f"{head.name} predicted", f"{head.name} score"]
    clashes = sorted({c for c in columns if columns.count(c) > 1})
    if clashes:
        raise InvalidInput(f"head names clash with the prediction table's columns: {clashes}")
    return columns


def prediction_table(
    layout: HeadLayout,
    probs_by_head: Mapping[str, np.ndarray],
    targets: np.ndarray,
    *,
    rows: Sequence[Any],
    inputs: Sequence[str],
) -> pd.DataFrame:
    """One line per scored row, so a confusion-matrix cell can be traced back to its rows.

    ``targets`` is :func:`encode_targets` of the rows, ``probs_by_head`` their
    :func:`head_probabilities`. For every head ``H``: ``H`` is the true class (missing where the
    row is unlabelled for it), ``H predicted`` the class of highest probability (the prediction
    the metrics' confusion matrix counts, ties to the first class as there) and ``H score`` its
    probability. ``row`` is the spreadsheet row and ``input`` what the model saw (the text, or the
    image's name).
    """
    data: dict[str, list[Any]] = {"row": list(rows), "input": list(inputs)}
    for h, head in enumerate(layout):
        probs = np.asarray(probs_by_head[head.name], dtype=np.float64)
        best = probs.argmax(axis=1)
        data[head.name] = [head.classes[t] if t >= 0 else None for t in targets[:, h]]
        data[f"{head.name} predicted"] = [head.classes[k] for k in best]
        data[f"{head.name} score"] = probs[np.arange(len(best)), best].tolist()
    return pd.DataFrame(data, columns=prediction_columns(layout))


__all__ = [
    "HeadLayout",
    "HeadSpec",
    "build_layout",
    "builtin_heads_of",
    "encode_targets",
    "head_probabilities",
    "multi_head_loss",
    "prediction_columns",
    "prediction_table",
    "predictions_for",
]
