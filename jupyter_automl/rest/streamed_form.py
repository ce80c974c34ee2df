"""A ``multipart/form-data`` POST body parsed while it streams in, for any tornado handler.

Tornado hands the body over chunk by chunk (``@web.stream_request_body``); file parts go
straight to a folder under the data directory's staging folder, so an upload of gigabytes needs
no more memory than a small one. The size limit is checked before the first byte when the
request says its length, and on every chunk when it does not. The management API (Jupyter's
authentication) and the task API (a deployment's key) both take uploads this way.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tornado import web

from ..errors import AutoMLError, InvalidInput
from .multipart import FilePart, Form, MultipartParser, form_boundary

# Tornado refuses a body past the connection's max body size with a bare 400 before the
# handler sees the chunk that crosses it. Above the upload limit by this much, that chunk
# still arrives and is answered with a 413 that says the limit.
CROSSING_CHUNK = 16 * 1024 * 1024


class StreamedForm(web.RequestHandler):
    """Mixed in before the handler's base class, on a class decorated with
    ``@web.stream_request_body``. Its ``prepare`` authenticates, then calls :meth:`receive_form`;
    ``post`` reads :meth:`form`. The files are removed when the request ends, however it ends."""

    _parser: MultipartParser | None = None
    _staging: Path | None = None
    _received = 0
    _check_size: Callable[[int], None]

    def receive_form(self, staging: Path, check_size: Callable[[int], None], limit: int) -> None:
        """Spool the form's files under ``staging``; ``check_size(bytes)`` raises past ``limit``."""
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit():  # tornado answers any other length 400
            check_size(int(length))
        boundary = form_boundary(self.request.headers.get("Content-Type"))
        self.request.connection.set_max_body_size(limit + CROSSING_CHUNK)
        self._check_size = check_size
        self._staging = Path(tempfile.mkdtemp(prefix="upload-", dir=staging))
        self._parser = MultipartParser(boundary, self._staging)

    def data_received(self, chunk: bytes) -> None:
        if self._parser is None or self._finished:
            return
        try:
            self._received += len(chunk)
            self._check_size(self._received)
            self._parser.feed(chunk)
        except AutoMLError as error:
            self.log_refusal(error)
            self._discard()
            self.send_error(error.http_status, exc_info=sys.exc_info())

    def log_refusal(self, error: AutoMLError) -> None:
        """A refused upload is the client's business; subclasses log it where they log."""

    def form(self) -> Form:
        if self._parser is None:
            raise web.HTTPError(400, "no multipart body")
        return self._parser.close()

    def on_finish(self) -> None:
        self._discard()

    def on_connection_close(self) -> None:
        self._discard()
        super().on_connection_close()

    def _discard(self) -> None:
        if self._parser is not None:
            self._parser.release()
            self._parser = None
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


BATCH_FILES = ("file", "images")
BATCH_FIELDS = ("options",)


def batch_form(form: Form) -> tuple[FilePart, FilePart | None, str | None]:
    """A batch upload's inputs file, images zip and options, or a 400 that says what is wrong."""
    unknown = sorted((set(form.fields) | set(form.files)) - {*BATCH_FILES, *BATCH_FIELDS})
    if unknown:
        raise InvalidInput(f"unknown form field(s) {', '.join(unknown)} (known: file, images, options)")
    if "file" not in form.files:
        raise InvalidInput("the form has no 'file': send the inputs as the part named 'file'")
    return form.files["file"], form.files.get("images"), form.fields.get("options")
