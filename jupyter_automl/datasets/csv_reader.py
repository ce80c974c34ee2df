"""Reading an uploaded CSV once, as a stream: encoding, binary content, delimiter, header, rows.

The file is read in 1 MiB chunks and decoded as strict UTF-8 (a UTF-8 byte order mark is
skipped); a byte that is not UTF-8 stops reading with its line and byte offset. Records are
parsed by the standard ``csv`` module (``,`` delimiter, ``"`` quotes, quoted commas and line
breaks, CRLF or LF line ends). Row numbers are those a spreadsheet shows: the header is row 1,
the first data row is row 2, and a record with a line break inside a quoted field is one row.

A problem with the whole file raises :class:`CsvProblem`; rows with the wrong number of fields
are collected for the caller to report; reading stops one row past ``max_rows``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK = 1 << 20
SNIFF_BYTES = 8192
BOM = b"\xef\xbb\xbf"
OTHER_DELIMITERS = {";": "semicolon ';'", "\t": "tab", "|": "pipe '|'"}
FIELD_LIMIT = csv.field_size_limit()
END = "\x00end-of-file\x00"  # NUL never reaches the parser from a file (it is refused)

# Magic numbers of the binary files people most often upload by mistake.
MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"BM", None),  # too short to be sure: only with NUL bytes (below)
]


class CsvProblem(Exception):
    """A problem with the whole file: ``reason`` is written for the user."""

    def __init__(self, reason: str, *, column: str | None = None, rows: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.rows = rows  # data rows read before the problem


@dataclass
class CsvData:
    header: list[str]
    records: list[list[str]] = field(default_factory=list)  # rows with as many fields as the header
    numbers: list[int] = field(default_factory=list)  # spreadsheet row number of each record
    bad_width: list[tuple[int, int]] = field(default_factory=list)  # (row, fields) of other rows
    data_rows: int = 0  # non-blank data rows read, of any width
    too_many: bool = False  # reading stopped one row past max_rows


def sniff_binary(head: bytes) -> str | None:
    """Why ``head`` (the first bytes of a file) is not a text CSV, or None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            "the file is UTF-16 text, not UTF-8; save it as 'CSV UTF-8 (comma delimited)'"
        )
    for magic, what in MAGIC:
        if what and head.startswith(magic):
            return f"binary file, not CSV: it looks like {what}"
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"binary file, not CSV: it contains NUL bytes (the first at byte offset {nul:,})"
    return None


class _Utf8Lines:
    """Lines of a binary stream decoded as strict UTF-8, with byte offsets for errors."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lines = 0  # line breaks ("\n") in the text handed out so far

    def __iter__(self) -> Iterator[str]:
        pending = b""  # an incomplete UTF-8 sequence at the end of the last chunk
        carry = ""  # text after the last line break handed out
        base = 0  # byte offset of data[0] in the file
        first = True
        while True:
            chunk = self.stream.read(CHUNK)
            final = not chunk
            data = pending + chunk
            if first and (len(data) >= 3 or final):
                first = False
                if data.startswith(BOM):
                    data, base = data[3:], base + 3
            try:
                text = data.decode("utf-8")
                pending = b""
            except UnicodeDecodeError as error:
                if not final and error.end == len(data) and len(data) - error.start < 4:
                    text = data[: error.start].decode("utf-8")
                    pending = data[error.start :]
                else:
                    good = carry + data[: error.start].decode("utf-8")
                    cut = good.rfind("\n") + 1
                    if cut:
                        yield from self._emit(good[:cut])
                    self._bad_byte(data, error, base, good[cut:])
            base += len(data) - len(pending)
            if "\x00" in text:
                where = text.index("\x00")
                line = self.lines + (carry + text[:where]).count("\n") + 1
                raise CsvProblem(
                    f"binary file, not CSV: it contains a NUL byte on line {line:,}"
                )
            text = carry + text
            if final:
                if text:
                    yield from self._emit(text)
                return
            cut = text.rfind("\n") + 1
            carry = text[cut:]
            if cut:
                yield from self._emit(text[:cut])

    def _emit(self, text: str) -> Iterator[str]:
        self.lines += text.count("\n")
        yield from io.StringIO(text, newline="")

    def _bad_byte(self, data: bytes, error: UnicodeDecodeError, base: int, line_start: str):
        offset = base + error.start
        line = self.lines + line_start.count("\n") + 1
        byte = data[error.start]
        hint = ""
        try:
            as_cp1252 = data[error.start : error.end].decode("cp1252")
            hint = f" (in Windows-1252 it would be {as_cp1252!r}: the file is probably in that encoding)"
        except UnicodeDecodeError:
            pass
        before = line_start[-30:]
        raise CsvProblem(
            f"not UTF-8: byte 0x{byte:02X} on line {line:,} (byte offset {offset:,}, after "
            f"{before!r}) is not valid UTF-8{hint}; save the file as 'CSV UTF-8'"
        )


def _names(fields: Sequence[str]) -> str:
    return ", ".join(repr(f) for f in fields[:6]) + (", ..." if len(fields) > 6 else "")


def _check_header(
    header: list[str], raw_line: str, known: set[str], describe: str
) -> None:
    """Refuse a header that is no header or that was written with another delimiter."""
    names = {h.strip().lower() for h in header}
    if names & known:
        return
    line = raw_line.rstrip("\r\n").lstrip("\ufeff")
    for delimiter, what in OTHER_DELIMITERS.items():
        if delimiter not in line:
            continue
        fields = next(csv.reader([line], delimiter=delimiter))
        if len(fields) > 1 and (len(header) == 1 or {f.strip().lower() for f in fields} & known):
            raise CsvProblem(
                f"the file is separated by {what}, not by commas: the header splits into "
                f"{_names(fields)} at {what}. Save it as 'CSV UTF-8 (comma delimited)' "
                "or replace the delimiter with ','"
            )
    raise CsvProblem(
        f"no header row: the first row ({_names(header)}) names none of the expected "
        f"columns: {describe}. Add a header row that names the columns (or, if that row is "
        "the header, rename its columns)"
    )


def read_csv(
    stream: BinaryIO,
    *,
    known: set[str],
    describe: str,
    max_rows: int,
) -> CsvData:
    """Parse a CSV upload; raise :class:`CsvProblem` for a problem with the whole file.

    ``known`` are the lower-case column names that show a row is the header; ``describe``
    lists the expected columns for the error message.
    """
    head = stream.read(SNIFF_BYTES)
    if not head.strip(b" \t\r\n" + BOM):
        raise CsvProblem("the file is empty")
    reason = sniff_binary(head)
    if reason:
        raise CsvProblem(reason)
    lines = _Utf8Lines(_Prefixed(head, stream))
    line_iter = iter(lines)
    first_line: list[str] = []

    def remember_first() -> Iterator[str]:
        for line in line_iter:
            if not first_line:
                first_line.append(line)
            yield line
        # A record of its own, unless a quoted field is still open: then the field swallows it.
        yield END + "\n"

    reader = csv.reader(remember_first())
    data: CsvData | None = None
    row = 1
    try:
        header = next(reader, None)
        if header and END in header[-1]:
            raise CsvProblem(
                "row 1: a quoted field opens in the header row and is never closed; look for a stray \""
            )
        if header is None or not any(h.strip() for h in header):
            raise CsvProblem(
                "no header row: the first line is empty; the first row must name the "
                f"columns: {describe}"
            )
        _check_header(header, first_line[0], known, describe)
        data = CsvData(header=[h.strip().lstrip("\ufeff").strip() for h in header])
        width = len(header)
        records, numbers, bad = data.records, data.numbers, data.bad_width
        count = 0
        for record in reader:
            row += 1
            if record and END in record[-1]:
                if record == [END]:
                    break
                raise CsvProblem(
                    f"row {row:,}: a quoted field opens here and is never closed, so it runs to the "
                    'end of the file; look for a stray " in this row',
                    rows=count,
                )
            if len(record) == width:
                if not any(record) or all(not f.strip() for f in record):
                    continue  # an empty row (",,,"): skipped, like a blank line
                records.append(record)
                numbers.append(row)
            else:
                if not record or all(not f.strip() for f in record):
                    continue  # a blank line
                bad.append((row, len(record)))
            count += 1
            if count > max_rows:
                data.too_many = True
                break
        data.data_rows = count
    except csv.Error as error:
        rows = len(data.records) + len(data.bad_width) if data else 0
        if "field larger than field limit" in str(error):
            raise CsvProblem(
                f"row {row + 1:,}: a field is longer than {FIELD_LIMIT:,} characters; a quoted "
                'field that is never closed (a stray ") swallows the rest of the file like this',
                rows=rows,
            ) from None
        raise CsvProblem(f"row {row + 1:,} cannot be parsed as CSV: {error}", rows=rows) from None
    except CsvProblem as problem:
        if data is not None:
            problem.rows = len(data.records) + len(data.bad_width)
            if problem.reason.startswith("not UTF-8"):
                problem.reason = problem.reason.replace(
                    "not UTF-8:", f"not UTF-8 (row {row + 1:,}):", 1
                )
        raise
    return data


class _Prefixed(io.RawIOBase):
    """A binary stream that first gives back bytes already read from it."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix = prefix
        self.stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.prefix:
            if size < 0:
                out, self.prefix = self.prefix + self.stream.read(), b""
                return out
            out, self.prefix = self.prefix[:size], self.prefix[size:]
            if len(out) < size:
                out += self.stream.read(size - len(out))
            return out
        return self.stream.read(size)
