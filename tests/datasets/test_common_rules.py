"""Rules every CSV upload follows (DESIGN §4, common part), whatever the model type."""

from __future__ import annotations

import time

import pytest

from jupyter_automl.datasets.validation import ValidationSettings, validate_file
from jupyter_automl.errors import InvalidInput, NotFound
from jupyter_automl.model_types import ModelType
from tests.datasets.files import (
    chat_rows,
    find_issue,
    png_bytes,
    review_rows,
    write_csv,
    write_dicts,
)

LLM_COLUMNS = ["system_prompt", "prompt_history", "roles", "prompt", "completion"]


def text_llm(**kw) -> ValidationSettings:
    """llm_text without a tokenizer: the common rules, fast."""
    return ValidationSettings(ModelType.LLM_TEXT, **kw)


def plain_rows(n: int) -> list[list[str]]:
    return [[r["prompt"], r["completion"]] for r in chat_rows(n)]


def test_valid_chat_file_gives_the_valid_rows_with_spreadsheet_row_numbers(tmp_path, chat_settings):
    path = write_dicts(tmp_path / "chat.csv", chat_rows(120))
    result = validate_file(path, chat_settings())
    report = result.report
    assert report.valid, report.summary()
    assert (report.rows, report.valid_rows) == (120, 120)
    assert report.columns == LLM_COLUMNS
    assert list(result.table.columns) == [
        "row", "prompt", "completion", "system_prompt", "prompt_history", "roles", "tokens"
    ]
    assert result.table["row"].tolist() == list(range(2, 122))
    assert result.images_zip is None
    find_issue(report.warnings, None, None, "120 data rows", "2,000")


def test_first_row_that_names_no_expected_column_is_no_header(tmp_path):
    path = write_csv(tmp_path / "noheader.csv", None, plain_rows(150))
    report = validate_file(path, text_llm()).report
    assert not report.valid
    issue = find_issue(report.errors, None, None, "no header row", "prompt, completion (required)")
    assert "system_prompt" in issue.reason


def test_header_names_match_known_columns_in_any_case(tmp_path):
    path = write_csv(tmp_path / "case.csv", [" Prompt ", "COMPLETION"], plain_rows(120))
    result = validate_file(path, text_llm())
    assert result.report.valid, result.report.summary()
    assert result.report.columns == ["prompt", "completion"]


@pytest.mark.parametrize(
    ("delimiter", "named"), [(";", "semicolon ';'"), ("\t", "tab"), ("|", "pipe '|'")]
)
def test_file_separated_by_another_delimiter_is_refused_naming_it(tmp_path, delimiter, named):
    path = write_csv(tmp_path / "other.csv", ["prompt", "completion"], plain_rows(120), delimiter=delimiter)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, f"separated by {named}, not by commas")
    assert report.valid_rows == 0


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = write_csv(tmp_path / "bom.csv", ["prompt", "completion"], plain_rows(120), bom=True)
    result = validate_file(path, text_llm())
    assert result.report.valid, result.report.summary()
    assert result.report.columns == ["prompt", "completion"]


def test_non_utf8_byte_is_a_file_error_naming_line_row_and_byte_offset(tmp_path):
    rows = plain_rows(150)
    rows[9][0] = "Café opening hours?"  # data row 10 -> spreadsheet row 11, line 11
    path = write_csv(tmp_path / "latin1.csv", ["prompt", "completion"], rows)
    raw = path.read_bytes().replace("Café".encode(), "Café".encode("cp1252"))
    path.write_bytes(raw)
    offset = raw.index(b"Caf\xe9") + 3
    report = validate_file(path, text_llm()).report
    issue = find_issue(report.errors, None, None, "not UTF-8", "byte 0xE9", "on line 11")
    assert "(row 11)" in issue.reason
    assert f"byte offset {offset:,}" in issue.reason
    assert "Windows-1252" in issue.reason
    assert not report.valid


def test_non_utf8_byte_after_a_multiline_record_names_the_record_row(tmp_path):
    rows = plain_rows(150)
    rows[0][1] = "First line\nsecond line\nthird line"  # row 2 spans 3 lines
    rows[4][0] = "naïve question"  # row 6, on line 8
    path = write_csv(tmp_path / "latin1.csv", ["prompt", "completion"], rows)
    path.write_bytes(path.read_bytes().replace("ï".encode(), "ï".encode("latin-1")))
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "not UTF-8 (row 6)", "on line 8")


def test_nul_bytes_mean_a_binary_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"prompt,completion\n" + b"\x00\x01\x02" * 100)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "binary file, not CSV", "NUL")


def test_png_renamed_to_csv_is_a_binary_file(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(png_bytes(32, 32))
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "binary file, not CSV", "PNG image")


def test_excel_workbook_renamed_to_csv_is_a_binary_file(tmp_path):
    import zipfile

    path = tmp_path / "sheet.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "binary file, not CSV", "ZIP archive", ".xlsx")


def test_utf16_file_is_refused_as_not_utf8(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("prompt,completion\nhi,there\n".encode("utf-16"))
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "UTF-16", "UTF-8")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "the file is empty")
    assert report.rows == 0


def test_header_without_rows_is_refused_for_too_few_rows(tmp_path):
    path = write_csv(tmp_path / "header.csv", ["prompt", "completion"], [])
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "only 0 data rows", "at least 100")


def test_quoted_commas_newlines_and_crlf_line_ends_are_accepted(tmp_path):
    rows = plain_rows(120)
    rows[0] = ["Hello, how are you?", 'Fine, thanks.\r\nAnd you? "Really" fine']
    rows[1] = ["Line one\nline two, with comma", "ok"]
    rows[5][0] = ""  # row 7 is invalid: its row number counts records, not lines
    path = write_csv(tmp_path / "crlf.csv", ["prompt", "completion"], rows, line_end="\r\n")
    result = validate_file(path, text_llm())
    assert result.report.valid, result.report.summary()
    table = result.table
    assert table.loc[0, "prompt"] == "Hello, how are you?"
    assert table.loc[0, "completion"] == 'Fine, thanks.\r\nAnd you? "Really" fine'
    assert table.loc[1, "prompt"] == "Line one\nline two, with comma"
    find_issue(result.report.errors, 7, "prompt", "empty prompt")
    assert 7 not in table["row"].tolist() and table["row"].tolist()[:6] == [2, 3, 4, 5, 6, 8]


def test_column_empty_in_every_row_is_ignored(tmp_path):
    rows = [[p, c, "", "  "] for p, c in plain_rows(120)]
    path = write_csv(tmp_path / "empty_cols.csv", ["prompt", "completion", "notes", ""], rows)
    result = validate_file(path, text_llm())
    assert result.report.valid, result.report.summary()
    assert result.report.ignored_columns == ["notes", ""]
    assert "notes" not in result.table.columns


def test_column_with_values_but_no_name_is_ignored_with_a_warning(tmp_path, text_settings):
    rows = [[str(i), r["text_data"], r["sentiment"]] for i, r in enumerate(review_rows(120))]
    path = write_csv(tmp_path / "index.csv", ["", "text_data", "sentiment"], rows)  # DataFrame.to_csv
    result = validate_file(path, text_settings())
    find_issue(result.report.warnings, None, None, "column 1 has values but no name", "ignored")
    assert result.report.valid and list(result.report.heads) == ["sentiment"]
    assert result.report.ignored_columns == [""]


@pytest.mark.parametrize("reserved", ["tokens", "input"])
def test_reserved_column_names_are_not_label_heads(tmp_path, text_settings, reserved):
    rows = [[r["text_data"], r["sentiment"], f"x{i % 3}"] for i, r in enumerate(review_rows(120))]
    path = write_csv(tmp_path / "reserved.csv", ["text_data", "sentiment", reserved], rows)
    result = validate_file(path, text_settings())
    find_issue(result.report.warnings, None, reserved, "reserved")
    assert list(result.report.heads) == ["sentiment"] and result.report.valid


def test_duplicate_column_names_are_refused(tmp_path):
    rows = [[p, c, c] for p, c in plain_rows(120)]
    path = write_csv(tmp_path / "dup.csv", ["prompt", "completion", "Completion"], rows)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, "completion", "duplicate column name", "columns 2 and 3")
    assert not report.valid


def test_missing_required_column_is_a_file_error_naming_it(tmp_path):
    path = write_csv(tmp_path / "nocompletion.csv", ["prompt", "system_prompt"], plain_rows(120))
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, "completion", "missing required column 'completion'")


def test_row_with_more_or_fewer_fields_than_the_header_is_invalid(tmp_path):
    rows = plain_rows(150)
    rows[3] = rows[3] + ["extra, unquoted"]  # row 5
    rows[10] = rows[10][:1]  # row 12
    path = write_csv(tmp_path / "width.csv", ["prompt", "completion"], rows)
    result = validate_file(path, text_llm())
    report = result.report
    assert report.valid
    find_issue(report.errors, 5, None, "the row has 3 fields, the header has 2")
    find_issue(report.errors, 12, None, "the row has 1 field, the header has 2")
    assert report.invalid_row_numbers == [5, 12]
    assert (report.rows, report.valid_rows) == (150, 148)


def test_quote_that_is_never_closed_is_a_file_error_naming_its_row(tmp_path):
    rows = [[f"Question {i}?", f"Answer {i}."] for i in range(150)]
    path = write_csv(tmp_path / "quote.csv", ["prompt", "completion"], rows)
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[40] = '"' + lines[40]  # row 41 opens a quote that nothing closes
    path.write_text("\n".join(lines), encoding="utf-8")
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "row 41: a quoted field opens here and is never closed")
    assert report.file_errors == report.errors


def test_field_longer_than_the_csv_limit_is_a_file_error_naming_its_row(tmp_path):
    rows = plain_rows(150)
    rows[9][1] = "x" * 200_000
    path = write_csv(tmp_path / "long.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "row 11: a field is longer than 131,072 characters")


def test_blank_lines_and_comma_only_rows_are_skipped_but_keep_row_numbers(tmp_path):
    rows = plain_rows(110)
    rows.insert(2, ["", ""])  # a ",," row (Excel writes these) is row 4
    path = write_csv(tmp_path / "blank.csv", ["prompt", "completion"], rows)
    text = path.read_text(encoding="utf-8") + "\n\n"
    path.write_text(text, encoding="utf-8")
    result = validate_file(path, text_llm())
    assert result.report.rows == 110
    assert result.table["row"].tolist()[:4] == [2, 3, 5, 6]


def test_99_data_rows_are_too_few_and_100_are_enough(tmp_path):
    path = write_csv(tmp_path / "r99.csv", ["prompt", "completion"], plain_rows(99))
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "only 99 data rows", "at least 100")
    path = write_csv(tmp_path / "r100.csv", ["prompt", "completion"], plain_rows(100))
    report = validate_file(path, text_llm()).report
    assert report.valid, report.summary()
    find_issue(report.warnings, None, None, "100 data rows", "2,000 or more are recommended")


def test_2000_rows_get_no_size_warning(tmp_path):
    path = write_csv(tmp_path / "r2000.csv", ["prompt", "completion"], plain_rows(2000))
    report = validate_file(path, text_llm()).report
    assert report.valid
    assert not [w for w in report.warnings if "recommended" in w.reason]


def test_50000_rows_are_accepted(tmp_path):
    rows = [[f"Question {i}?", f"Answer {i}."] for i in range(50_000)]
    path = write_csv(tmp_path / "r50000.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm()).report
    assert report.valid and report.valid_rows == 50_000


def test_more_than_50000_rows_are_refused_and_reading_stops_early(tmp_path):
    rows = [[f"Question {i}?", f"Answer {i}."] for i in range(200_000)]
    path = write_csv(tmp_path / "huge.csv", ["prompt", "completion"], rows)
    started = time.perf_counter()
    result = validate_file(path, text_llm())
    elapsed = time.perf_counter() - started
    find_issue(result.report.errors, None, None, "more than 50,000 data rows")
    assert result.report.rows == 50_001  # stopped one row past the limit
    assert result.table.empty
    assert elapsed < 10


def test_50001_rows_are_refused(tmp_path):
    rows = [[f"Question {i}?", f"Answer {i}."] for i in range(50_001)]
    path = write_csv(tmp_path / "r50001.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "more than 50,000 data rows")


def test_fewer_than_100_valid_rows_is_a_file_error(tmp_path):
    rows = plain_rows(120)
    for i in range(25):
        rows[i][1] = ""
    path = write_csv(tmp_path / "few_valid.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm(max_invalid_row_percent=50)).report
    find_issue(report.errors, None, None, "only 95 valid rows of 120", "at least 100")
    assert len(report.invalid_row_numbers) == 25


def test_invalid_rows_above_the_limit_are_a_file_error_saying_how_many(tmp_path):
    rows = plain_rows(200)
    for i in range(11):  # 11 of 200 = 5.5% > 5%
        rows[i * 7][0] = " "
    path = write_csv(tmp_path / "invalid.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm()).report
    find_issue(report.errors, None, None, "11 of 200 rows (5.5%) are invalid", "max_invalid_row_percent 5%")
    assert report.invalid_row_numbers == [2 + i * 7 for i in range(11)]
    # The same file passes with a higher limit, leaving the invalid rows out.
    result = validate_file(path, text_llm(max_invalid_row_percent=10))
    assert result.report.valid and result.report.valid_rows == 189


def test_errors_list_file_problems_first_then_rows_in_order(tmp_path):
    rows = plain_rows(100)
    rows[50][0] = ""
    rows[3][1] = ""
    path = write_csv(tmp_path / "order.csv", ["prompt", "completion"], rows)
    report = validate_file(path, text_llm()).report
    assert report.errors[0].row is None  # only 98 valid rows
    assert [e.row for e in report.errors[1:]] == [5, 52]


def test_bad_settings_raise_invalid_input(tmp_path):
    path = write_dicts(tmp_path / "chat.csv", chat_rows(120))
    for bad in (
        dict(max_tokens=5000),
        dict(max_tokens=-1),
        dict(max_invalid_row_percent=0),
        dict(max_invalid_row_percent=101),
        dict(token_limit=0),
    ):
        with pytest.raises(InvalidInput):
            validate_file(path, text_llm(**bad))
    with pytest.raises(InvalidInput, match="unknown model type"):
        validate_file(path, ValidationSettings("llm_poetry"))


def test_model_type_may_be_given_as_its_string(tmp_path):
    path = write_dicts(tmp_path / "reviews.csv", review_rows(120))
    report = validate_file(path, ValidationSettings("text_classification")).report
    assert report.model_type == "text_classification" and report.valid


def test_missing_file_raises_not_found(tmp_path):
    with pytest.raises(NotFound):
        validate_file(tmp_path / "nope.csv", text_llm())


def test_display_name_is_the_report_file_name(tmp_path):
    path = write_dicts(tmp_path / "upload-1234.csv", chat_rows(120))
    report = validate_file(path, text_llm(), display_name="support chats.csv").report
    assert report.file == "support chats.csv"


def test_report_round_trips_through_a_dict(tmp_path, chat_settings):
    from jupyter_automl.datasets.report import ValidationReport

    rows = chat_rows(120)
    rows[4]["prompt"] = ""
    report = validate_file(write_dicts(tmp_path / "c.csv", rows), chat_settings()).report
    again = ValidationReport.from_dict(report.to_dict())
    assert again == report
