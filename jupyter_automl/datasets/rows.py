"""What every rule module works on: the usable columns of the rows that parsed, and their problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from .report import Issue


@dataclass
class Rows:
    """The rows with the right number of fields, column by column.

    ``columns`` maps each usable column (not ignored) to its cells, in file order; ``numbers``
    holds each row's spreadsheet row number. ``bad[i]`` turns True when row ``i`` gets an
    :class:`Issue`; ``issues`` collects those issues.
    """

    columns: dict[str, list[str]]
    numbers: list[int]
    bad: list[bool] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.bad:
            self.bad = [False] * len(self.numbers)

    def __len__(self) -> int:
        return len(self.numbers)

    def add(self, i: int, column: str | None, reason: str) -> None:
        self.bad[i] = True
        self.issues.append(Issue(self.numbers[i], column, reason))

    def cells(self, name: str) -> list[str]:
        """A column's cells, or empty strings for a column the file does not have."""
        values = self.columns.get(name)
        return values if values is not None else [""] * len(self.numbers)

    def good(self) -> list[int]:
        return [i for i, b in enumerate(self.bad) if not b]
