"""Checking an upload against the data rules of DESIGN §4: the one entry point, ``validate_file``.

``validate_file`` never raises for bad data: every problem becomes an :class:`Issue` in the
report, with the row (as a spreadsheet numbers it: header 1, first data row 2) and the column,
or ``row=None`` for a problem with the whole file (which makes the report invalid). It raises
:class:`InvalidInput` only for bad settings and :class:`NotFound` for a missing file.

Common rules (every model type): a header row naming the columns; ``,`` as delimiter; UTF-8
(a byte order mark is fine); duplicate column names refused; columns empty in every row ignored;
a row with more or fewer fields than the header is invalid; 100 to 50,000 data rows (a warning
below 2,000); at least 100 valid rows; at most ``max_invalid_row_percent`` invalid rows.
The rules of each model type live in ``rules_llm``, ``rules_classification`` and ``rules_images``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pandas as pd

from ..errors import InvalidInput, NotFound
from ..model_types import ModelType
from . import rules_classification, rules_images, rules_llm
from .csv_reader import CsvData, CsvProblem, read_csv
from .report import Issue, ValidationReport
from .rows import Rows
from .zipfiles import EntryResolver, UnsafeZip, files, is_junk, open_checked

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MIN_ROWS = 100
RECOMMENDED_ROWS = 2_000
MAX_ROWS = 50_000
MAX_TOKENS_LIMIT = 4096
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Table columns that are never label heads: the snapshot code relies on it, and a model's
# prediction table has ``row`` and ``input`` beside its heads' columns.
RESERVED = {"row", "input", "tokens", "text_data", "image", "image_url"}


@dataclass(frozen=True)
class ValidationSettings:
    """The rules a file is checked against; the caller picks them from the base model."""

    model_type: ModelType
    # The base model's real tokenizer; None => token checks skipped with a warning.
    tokenizer: "PreTrainedTokenizerBase | None" = None
    tokenizer_name: str | None = None  # shown in TokenStats.tokenizer and report.base_model
    # LLM: prompt+history+system+completion (chat template applied for llm_chat) <= this.
    max_tokens: int = 2048
    token_limit: int = 512  # classification: longer text_data is an invalid row
    min_examples_per_class: int = 10  # 50 on moderation base models (the caller decides)
    builtin_heads: tuple[str, ...] = ()  # a column with such a name is data for that head
    max_invalid_row_percent: int = 5
    allow_downloads: bool = False  # image_url column allowed only when True
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # A file of inputs to predict (a deployment's batch), not a dataset: no label or completion
    # columns (ignored, with a warning), one row is enough, and every row must be valid.
    prediction: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model_type, ModelType):
            try:
                object.__setattr__(self, "model_type", ModelType.parse(self.model_type))
            except InvalidInput:
                pass  # check() says so
        if not isinstance(self.builtin_heads, tuple):
            object.__setattr__(self, "builtin_heads", tuple(self.builtin_heads))

    def check(self) -> None:
        """Raise :class:`InvalidInput` for a setting out of its range."""
        ModelType.parse(self.model_type)

        def whole(name: str, low: int, high: int | None = None) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be a whole number, got {value!r}")
            if value < low or (high is not None and value > high):
                bounds = f"{low} to {high}" if high is not None else f"at least {low}"
                raise InvalidInput(f"{name} must be {bounds}, got {value}")

        whole("max_tokens", 0, MAX_TOKENS_LIMIT)
        whole("token_limit", 1)
        whole("min_examples_per_class", 1)
        whole("max_invalid_row_percent", 1, 100)
        whole("max_image_bytes", 1)
        whole("max_image_pixels", 1)
        if self.tokenizer is not None and not callable(self.tokenizer):
            raise InvalidInput("tokenizer must be a transformers tokenizer (or None)")


@dataclass
class ValidationResult:
    """The report, and the valid rows ready to be staged and frozen into a snapshot.

    ``table`` holds the VALID rows only, in file order; ``row`` is the spreadsheet row number.
    Columns by model type:

    * LLM: ``row, prompt, completion, system_prompt, prompt_history, roles, tokens``. Cells are
      strings ("" when absent). ``prompt_history`` is a JSON list of ``{"role", "content"}``
      turns with the role names as written (the cell itself when it already has that shape,
      else re-encoded); ``roles`` is ``{"user": .., "model": ..}`` as JSON. Build a row's
      messages with ``rules_llm.chat_messages`` (it maps the names). ``prompt_history`` and
      ``roles`` are "" for ``llm_text``, which does not use them.
    * text classification: ``row, text_data, <one column per head>, tokens`` (a head cell is
      the stripped class name, or "" when the row is not labelled for that head).
    * image classification: ``row, image, <one column per head>``; ``image`` is the zip entry
      name (as found in the zip) or the URL.

    ``tokens`` is an int (exact, with the base model's tokenizer), or None without a tokenizer.
    ``images_zip`` is the zip the images come from (given, or the upload itself when it is one
    zip holding the CSV and the images), for image classification; else None.
    """

    report: ValidationReport
    table: pd.DataFrame
    images_zip: Path | None


# -- what each model type expects ----------------------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    required: tuple[str, ...]  # every one needed
    any_of: tuple[str, ...]  # at least one needed
    optional: tuple[str, ...]
    heads: bool  # other columns are heads (classification) or ignored (LLM)
    table: tuple[str, ...]

    @property
    def known(self) -> tuple[str, ...]:
        return self.required + self.any_of + self.optional

    def describe(self) -> str:
        parts = []
        if self.required:
            parts.append(", ".join(self.required) + " (required)")
        if self.any_of:
            parts.append(" or ".join(self.any_of) + " (one of them required)")
        if self.optional:
            parts.append(", ".join(self.optional) + " (optional)")
        if self.heads:
            parts.append("and one column per label head")
        return "; ".join(parts)


def _expected(settings: ValidationSettings) -> _Expected:
    kind = settings.model_type
    predicting = settings.prediction
    if kind.is_llm:
        required = rules_llm.PROMPT_COLUMNS if predicting else rules_llm.REQUIRED
        return _Expected(required, (), rules_llm.OPTIONAL, False, tuple(rules_llm.TABLE_COLUMNS))
    builtin = () if predicting else tuple(settings.builtin_heads)
    if kind is ModelType.TEXT_CLASSIFICATION:
        return _Expected(
            (rules_classification.TEXT_COLUMN,), (), builtin, not predicting,
            ("row", rules_classification.TEXT_COLUMN, "tokens"),
        )
    return _Expected(
        (), (rules_images.IMAGE_COLUMN, rules_images.URL_COLUMN), builtin, not predicting,
        ("row", rules_images.IMAGE_COLUMN),
    )


def _empty_table(expected: _Expected) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in expected.table}, columns=list(expected.table))


# -- opening the upload ----------------------------------------------------------------------------


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) in ZIP_MAGIC


@contextmanager
def _csv_in_zip(path: Path) -> Iterator[tuple[BinaryIO, str]]:
    """The one .csv inside an image upload zip, as a stream, and the folder it sits in."""
    with open_checked(path) as archive:
        found = sorted(n for n in files(archive) if n.lower().endswith(".csv") and not is_junk(n))
        if not found:
            raise CsvProblem(f"the zip {path.name} holds no .csv file; it must hold exactly one, with the images")
        if len(found) > 1:
            shown = ", ".join(repr(n) for n in found[:5])
            raise CsvProblem(f"the zip {path.name} holds {len(found)} .csv files ({shown}); it must hold exactly one")
        with archive.open(found[0]) as stream:
            yield stream, found[0].rpartition("/")[0]


def _canonical(header: list[str], expected: _Expected) -> list[str]:
    """Known column names match case-insensitively and become lower case; others stay as written."""
    known = {k.lower(): k for k in expected.known}
    return [known.get(h.lower(), h) for h in header]


# -- the entry point ---------------------------------------------------------------------------------


def validate_file(
    csv_path: str | Path,
    settings: ValidationSettings,
    *,
    images_zip: str | Path | None = None,
    display_name: str | None = None,
) -> ValidationResult:
    """Check an upload against the rules; the report says what is wrong, and where."""
    if not isinstance(settings, ValidationSettings):
        raise InvalidInput("settings must be a ValidationSettings")
    settings.check()
    path = Path(csv_path)
    if not path.is_file():
        raise NotFound(f"no file at {path}")
    zip_path = Path(images_zip) if images_zip is not None else None
    if zip_path is not None and not zip_path.is_file():
        raise NotFound(f"no images zip at {zip_path}")
    kind = settings.model_type
    expected = _expected(settings)
    report = ValidationReport(
        model_type=kind.value, file=display_name or path.name, base_model=settings.tokenizer_name
    )

    def refuse(reason: str, column: str | None = None) -> ValidationResult:
        report.errors.insert(0, Issue(None, column, reason))
        return ValidationResult(report, _empty_table(expected), zip_path)

    with ExitStack() as stack:
        csv_folder = ""
        try:
            if kind is ModelType.IMAGE_CLASSIFICATION and _is_zip(path):
                stream, csv_folder = stack.enter_context(_csv_in_zip(path))
                if zip_path is None:
                    zip_path = path
            else:
                stream = stack.enter_context(path.open("rb"))
            data = read_csv(
                stream,
                known={k.lower() for k in expected.known},
                describe=expected.describe(),
                max_rows=MAX_ROWS,
            )
        except UnsafeZip as error:
            return refuse(error.reason)
        except CsvProblem as problem:
            report.rows = problem.rows
            return refuse(problem.reason, problem.column)

        report.columns = _canonical(data.header, expected)
        report.rows = data.data_rows
        if data.too_many:
            return refuse(
                f"more than {MAX_ROWS:,} data rows (reading stopped at the {MAX_ROWS + 1:,}th); "
                f"split the file into parts of at most {MAX_ROWS:,} rows"
            )
        rows = _columns(data, report, expected, settings.prediction)
        if rows is None:
            return ValidationResult(report, _empty_table(expected), zip_path)

        source = None
        if kind is ModelType.IMAGE_CLASSIFICATION and zip_path is not None and any(
            c.strip() for c in rows.cells(rules_images.IMAGE_COLUMN)
        ):
            try:
                archive = stack.enter_context(open_checked(zip_path))
            except UnsafeZip as error:
                return refuse(error.reason)
            source = rules_images.ImageSource(
                zip_path, archive, EntryResolver(files(archive), csv_folder)
            )

        if kind.is_llm:
            table = rules_llm.check_llm(rows, settings, report, chat=kind is ModelType.LLM_CHAT)
        elif kind is ModelType.TEXT_CLASSIFICATION:
            table = rules_classification.check_text_classification(rows, settings, report)
        else:
            table = rules_images.check_image_classification(rows, settings, report, source)

    _finish(report, rows, table, settings)
    images = zip_path if kind is ModelType.IMAGE_CLASSIFICATION else None
    return ValidationResult(report, table.reset_index(drop=True), images)


def _columns(data: CsvData, report: ValidationReport, expected: _Expected, predicting: bool) -> Rows | None:
    """Header rules (duplicates, names, required, empty columns); None when the file is refused."""
    names = report.columns
    errors = report.errors
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name in seen:
            errors.append(
                Issue(None, name, f"duplicate column name {name!r} (columns {seen[name]} and {position})")
            )
        elif name:
            seen[name] = position
    if errors:
        return None
    columns = list(zip(*data.records)) if data.records else [() for _ in names]
    filled = [any(not c.isspace() for c in column if c) for column in columns]
    missing = [c for c in expected.required if c not in seen]
    for column in missing:
        errors.append(Issue(None, column, f"missing required column {column!r}; expected {expected.describe()}"))
    if expected.any_of and not any(c in seen for c in expected.any_of):
        errors.append(
            Issue(None, None, f"missing column: one of {', '.join(expected.any_of)} is required")
        )
    for name, has_values in zip(names, filled):
        if name in expected.required and not has_values and data.records:
            errors.append(Issue(None, name, f"column {name!r} is empty in every row"))
    if errors:
        return None
    usable: dict[str, list[str]] = {}
    for position, (name, has_values, column) in enumerate(zip(names, filled, columns), 1):
        if not has_values:
            report.ignored_columns.append(name)
            continue
        if not name:
            why = (
                f"column {position} has values but no name in the header row (a saved "
                "DataFrame index?); it is ignored"
            )
        elif not expected.heads and name not in expected.known:
            uses = "a file of inputs uses" if predicting else "an LLM dataset uses"
            why = f"column {name!r} ignored: {uses} {', '.join(expected.known)}"
        elif expected.heads and name in RESERVED and name not in expected.known:
            why = f"column {name!r} ignored: the name is reserved, so it cannot be a label head"
        else:
            usable[name] = list(column)
            continue
        report.ignored_columns.append(name)
        report.warnings.append(Issue(None, name or None, why))
    rows = Rows(usable, list(data.numbers))
    width = len(names)
    rows.issues.extend(
        Issue(r, None, f"the row has {n} field{'s' if n != 1 else ''}, the header has {width} "
              "(an unquoted comma in a field, or a missing one?)")
        for r, n in data.bad_width
    )
    return rows


def _finish(report: ValidationReport, rows: Rows, table: pd.DataFrame, settings: ValidationSettings) -> None:
    """Row counts and the invalid-row limit; errors in order (file first, then by row)."""
    total = report.rows
    report.valid_rows = len(table)
    file_errors = [e for e in report.errors if e.row is None]
    row_errors = sorted(rows.issues + [e for e in report.errors if e.row is not None], key=lambda e: e.row)
    invalid = len({e.row for e in row_errors})
    if settings.prediction:
        if total == 0:
            file_errors.append(Issue(None, None, "no data rows: the file has a header and nothing under it"))
        elif invalid:
            file_errors.append(
                Issue(None, None, f"{invalid:,} of {total:,} rows are invalid; nothing is queued until "
                      "every row is valid (the invalid rows are listed)")
            )
        report.errors = file_errors + row_errors
        return
    if total < MIN_ROWS:
        file_errors.append(
            Issue(None, None, f"only {total} data row{'s' if total != 1 else ''}; at least {MIN_ROWS} are needed")
        )
    else:
        if report.valid_rows < MIN_ROWS:
            file_errors.append(
                Issue(None, None, f"only {report.valid_rows} valid rows of {total:,}; at least {MIN_ROWS} are needed")
            )
        if total < RECOMMENDED_ROWS:
            report.warnings.append(
                Issue(None, None, f"{total:,} data rows; {RECOMMENDED_ROWS:,} or more are recommended")
            )
    limit = settings.max_invalid_row_percent
    if total and invalid * 100 > limit * total:
        file_errors.append(
            Issue(
                None,
                None,
                f"{invalid:,} of {total:,} rows ({invalid * 100 / total:.1f}%) are invalid, more than "
                f"max_invalid_row_percent {limit}%; the invalid rows are listed",
            )
        )
    report.errors = file_errors + row_errors
