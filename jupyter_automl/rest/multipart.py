"""A streaming ``multipart/form-data`` parser (RFC 7578) for uploads of any size.

Bytes are fed as they arrive from the network. A part with a filename is written to a file
of its own as it comes, so memory holds one chunk and a few bytes of look-behind, never the
file; a part without one is a small text field kept in memory. Every malformation is an
:class:`~jupyter_automl.errors.InvalidInput` that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidInput

MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_BOUNDARY_LINE = 1024


@dataclass
class FilePart:
    """A file sent in the form: where it was spooled, and its name as the client gave it."""

    filename: str
    path: Path
    content_type: str | None
    size: int = 0


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)


def form_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, or a 400 that says why not."""
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        raise InvalidInput(
            f"send the upload as multipart/form-data, not {content_type or 'no Content-Type'!r}"
        )
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise InvalidInput("the multipart/form-data Content-Type has no valid boundary parameter")
    return boundary.encode("latin-1")


class _State(Enum):
    PREAMBLE = 1
    AFTER_BOUNDARY = 2
    HEADERS = 3
    BODY = 4
    EPILOGUE = 5


def _safe_filename(filename: str, fallback: str) -> str:
    """The last path component only (some clients send a full Windows path)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return fallback if name in ("", ".", "..") else name


class MultipartParser:
    """Feed it the body in chunks of any size; ``close()`` returns the form."""

    def __init__(
        self,
        boundary: bytes,
        folder: Path,
        *,
        max_field_bytes: int = MAX_FIELD_BYTES,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.folder = folder
        self.max_field_bytes = max_field_bytes
        self.max_header_bytes = max_header_bytes
        self.form = Form()
        self._first = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray()
        self._state = _State.PREAMBLE
        self._name = ""
        self._text = bytearray()
        self._file: BinaryIO | None = None
        self._part: FilePart | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def close(self) -> Form:
        """The parsed form; a body that ends before its closing boundary is refused."""
        self.feed(b"")
        self.release()
        if self._state is not _State.EPILOGUE:
            raise InvalidInput("the multipart body ends before its closing boundary")
        return self.form

    def release(self) -> None:
        """Close the file being written, if any (the caller removes the folder)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- one step of the state machine; True when it made progress -----------------------------

    def _step(self) -> bool:
        if self._state is _State.PREAMBLE:
            return self._preamble()
        if self._state is _State.AFTER_BOUNDARY:
            return self._after_boundary()
        if self._state is _State.HEADERS:
            return self._headers()
        if self._state is _State.BODY:
            return self._body()
        self._buffer.clear()
        return False

    def _preamble(self) -> bool:
        at = self._buffer.find(self._first)
        if at < 0:
            del self._buffer[: max(0, len(self._buffer) - len(self._first) + 1)]
            return False
        del self._buffer[: at + len(self._first)]
        self._state = _State.AFTER_BOUNDARY
        return True

    def _after_boundary(self) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer.startswith(b"--"):
            self._state = _State.EPILOGUE
            return True
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_BOUNDARY_LINE:
                raise InvalidInput("malformed multipart body: a boundary line does not end")
            return False
        if self._buffer[:end].strip(b" \t"):
            raise InvalidInput("malformed multipart body: text after a boundary")
        del self._buffer[: end + 2]
        self._state = _State.HEADERS
        return True

    def _headers(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if (end if end >= 0 else len(self._buffer)) > self.max_header_bytes:
            raise InvalidInput("malformed multipart body: the headers of a part are too long")
        if end < 0:
            return False
        raw = bytes(self._buffer[:end]).decode("utf-8", errors="replace")
        del self._buffer[: end + 4]
        self._start_part(HeaderParser().parsestr(raw))
        self._state = _State.BODY
        return True

    def _body(self) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            safe = len(self._buffer) - len(self._delimiter) + 1
            if safe > 0:
                self._write(self._buffer[:safe])
                del self._buffer[:safe]
            return False
        self._write(self._buffer[:at])
        del self._buffer[: at + len(self._delimiter)]
        self._end_part()
        self._state = _State.AFTER_BOUNDARY
        return True

    # -- parts -----------------------------------------------------------------------------------

    def _start_part(self, headers: Message) -> None:
        if headers.get_content_disposition() != "form-data":
            raise InvalidInput("malformed multipart body: a part is not Content-Disposition: form-data")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise InvalidInput("malformed multipart body: a part has no name")
        if name in self.form.fields or name in self.form.files:
            raise InvalidInput(f"the form has more than one {name!r}")
        self._name = name
        filename = headers.get_filename()
        if filename is None:
            self._text = bytearray()
            return
        safe = _safe_filename(filename, name)
        folder = self.folder / str(len(self.form.files))
        folder.mkdir(parents=True)
        content_type = headers.get_content_type() if "content-type" in headers else None
        self._part = FilePart(safe, folder / safe, content_type)
        self._file = self._part.path.open("wb")

    def _write(self, data: bytearray) -> None:
        if not data:
            return
        if self._part is not None and self._file is not None:
            self._file.write(data)
            self._part.size += len(data)
            return
        self._text += data
        if len(self._text) > self.max_field_bytes:
            raise InvalidInput(f"form field {self._name!r} is longer than {self.max_field_bytes:,} bytes")

    def _end_part(self) -> None:
        if self._part is not None:
            self.release()
            self.form.files[self._name] = self._part
            self._part = None
            return
        try:
            self.form.fields[self._name] = self._text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"form field {self._name!r} is not UTF-8 text") from None
