"""DESIGN §4 rules for classification datasets: heads and classes (shared), and text classification.

A *head* is a label column: every usable column other than the text or image columns. A cell
holds a class name of that head (stripped; case kept) or is empty when the row is not labelled
for that head; a row labelled for no head is invalid. Over the valid rows, each head needs 2
to 20 classes and every class at least ``min_examples_per_class`` rows. A column named like one
of the base model's built-in heads (moderation models) is more data for that head: it may hold
a single class, since the head already has its others.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from .report import Issue, ValidationReport
from .rows import Rows
from .tokens import TokenCounter, token_stats, tokenizer_label

TEXT_COLUMN = "text_data"
MIN_CLASSES = 2
MAX_CLASSES = 20


def head_names(rows: Rows, data_columns: set[str]) -> list[str]:
    return [c for c in rows.columns if c not in data_columns]


def labels(rows: Rows, heads: list[str]) -> dict[str, list[str]]:
    """Each head's stripped class names; rows labelled for no head become invalid."""
    stripped = {h: [c.strip() for c in rows.cells(h)] for h in heads}
    if heads:
        shown = ", ".join(repr(h) for h in heads)
        columns = list(stripped.values())
        for i, cells in enumerate(zip(*columns)):
            if not any(cells):
                rows.add(i, None, f"no label: the row has a class for none of the heads ({shown})")
    return stripped


def check_heads(
    rows: Rows, heads: list[str], classes: dict[str, list[str]], settings: Any, report: ValidationReport
) -> None:
    """Count classes over the valid rows into ``report.heads`` and apply the head rules."""
    good = rows.good()
    builtin = set(settings.builtin_heads)
    minimum = settings.min_examples_per_class
    for head in heads:
        cells = classes[head]
        counts = Counter(cells[i] for i in good if cells[i])
        report.heads[head] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        k = len(counts)
        least = 1 if head in builtin else MIN_CLASSES
        if k < least or k > MAX_CLASSES:
            if k == 0:
                what = "no labelled valid rows"
            elif k == 1:
                what = f"1 class ({next(iter(counts))!r})"
            else:
                what = f"{k} classes"
            hint = f" (if {head!r} is not a label column, remove it)" if k > MAX_CLASSES else ""
            report.errors.append(
                Issue(None, head, f"head {head!r} has {what}; a head needs {MIN_CLASSES} to {MAX_CLASSES} classes{hint}")
            )
        for name, n in sorted(counts.items(), key=lambda kv: (kv[1], kv[0])):
            if n < minimum:
                report.errors.append(
                    Issue(
                        None,
                        head,
                        f"class {name!r} of head {head!r} has {n} example{'s' if n != 1 else ''} "
                        f"among the valid rows; every class needs at least {minimum}",
                    )
                )
        by_case: dict[str, list[str]] = {}
        for name in counts:
            by_case.setdefault(name.casefold(), []).append(name)
        for variants in by_case.values():
            if len(variants) > 1:
                shown = " and ".join(repr(v) for v in sorted(variants))
                report.warnings.append(
                    Issue(None, head, f"classes {shown} differ only in case; they are different classes")
                )


def check_text_classification(rows: Rows, settings: Any, report: ValidationReport) -> pd.DataFrame:
    heads = head_names(rows, {TEXT_COLUMN})
    if not heads and not settings.prediction:
        report.errors.append(
            Issue(
                None,
                None,
                "no label column: besides text_data, the file needs at least one head column "
                "whose cells are class names (for example 'sentiment')",
            )
        )
    texts = rows.cells(TEXT_COLUMN)
    for i, text in enumerate(texts):
        if not text.strip():
            rows.add(i, TEXT_COLUMN, "empty text")
    classes = labels(rows, heads)

    tokenizer = settings.tokenizer
    tokens: list[Any] = [None] * len(rows)
    if tokenizer is None:
        report.warnings.append(
            Issue(None, None, "no tokenizer given: token counts and the token limit check were skipped")
        )
    else:
        todo = rows.good()
        counts = TokenCounter(tokenizer).count([texts[i] for i in todo], add_special_tokens=True)
        limit = settings.token_limit
        name = tokenizer_label(tokenizer, settings.tokenizer_name)
        for i, n in zip(todo, counts):
            tokens[i] = n
            if n > limit:
                rows.add(i, TEXT_COLUMN, f"{n:,} tokens, more than the token limit {limit:,} of {name}")

    if not settings.prediction:
        check_heads(rows, heads, classes, settings, report)
    good = rows.good()
    if tokenizer is not None:
        report.token_stats = token_stats(
            [tokens[i] for i in good], tokenizer_label(tokenizer, settings.tokenizer_name)
        )
    table: dict[str, Any] = {
        "row": [rows.numbers[i] for i in good],
        TEXT_COLUMN: [texts[i] for i in good],
    }
    for head in heads:
        cells = classes[head]
        table[head] = [cells[i] for i in good]
    table["tokens"] = pd.Series(
        [tokens[i] for i in good], dtype="int64" if tokenizer is not None else object
    )
    return pd.DataFrame(table, columns=["row", TEXT_COLUMN, *heads, "tokens"])
