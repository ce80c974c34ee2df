"""The validation report: what a user reads after an upload, and what a snapshot keeps."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem found in a file.

    ``row`` is the row number as a spreadsheet shows it (the header is row 1, the first data
    row is row 2), or ``None`` for a problem with the whole file; ``column`` names the column
    (or the zip entry for image problems), or ``None``.
    """

    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where) or 'file'}: {self.reason}"


@dataclass(frozen=True)
class TokenStats:
    """Token counts of the valid rows, measured with the base model's own tokenizer."""

    tokenizer: str
    count: int
    min: int
    max: int
    mean: float
    p50: int
    p95: int
    histogram: list[tuple[int, int, int]] = field(default_factory=list)  # (low, high, rows)


@dataclass
class ValidationReport:
    model_type: str
    file: str
    rows: int = 0
    valid_rows: int = 0
    columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    heads: dict[str, dict[str, int]] = field(default_factory=dict)
    token_stats: TokenStats | None = None
    base_model: str | None = None

    @property
    def file_errors(self) -> list[Issue]:
        return [e for e in self.errors if e.row is None]

    @property
    def invalid_row_numbers(self) -> list[int]:
        return sorted({e.row for e in self.errors if e.row is not None})

    @property
    def valid(self) -> bool:
        """True when the file may be used for training: no error that concerns the whole file."""
        return not self.file_errors

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, not tuples), so a stored report reads back equal."""
        data = asdict(self)
        data["valid"] = self.valid
        data["invalid_rows"] = len(self.invalid_row_numbers)
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ValidationReport":
        stats = data.get("token_stats")
        return cls(
            model_type=data["model_type"],
            file=data["file"],
            rows=data.get("rows", 0),
            valid_rows=data.get("valid_rows", 0),
            columns=list(data.get("columns", [])),
            ignored_columns=list(data.get("ignored_columns", [])),
            errors=[Issue(**e) for e in data.get("errors", [])],
            warnings=[Issue(**w) for w in data.get("warnings", [])],
            heads={h: dict(c) for h, c in data.get("heads", {}).items()},
            token_stats=TokenStats(
                **{**stats, "histogram": [tuple(b) for b in stats.get("histogram", [])]}
            )
            if stats
            else None,
            base_model=data.get("base_model"),
        )

    def summary(self) -> str:
        """A few lines a person reads in a terminal."""
        lines = [
            f"{self.file}: {self.model_type}, {self.rows} rows, {self.valid_rows} valid, "
            f"{len(self.invalid_row_numbers)} invalid -> {'usable' if self.valid else 'NOT usable'}"
        ]
        for head, counts in self.heads.items():
            shown = ", ".join(f"{c}={n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            lines.append(f"  head {head!r}: {shown}")
        if self.token_stats:
            t = self.token_stats
            lines.append(
                f"  tokens ({t.tokenizer}): min {t.min}, median {t.p50}, p95 {t.p95}, max {t.max}"
            )
        for issue in self.errors[:20]:
            lines.append(f"  error   {issue}")
        if len(self.errors) > 20:
            lines.append(f"  ... and {len(self.errors) - 20} more errors")
        for issue in self.warnings:
            lines.append(f"  warning {issue}")
        return "\n".join(lines)
