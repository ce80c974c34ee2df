"""Handlers whose POST body is a ``multipart/form-data`` upload, parsed while it streams in.

Tornado hands the body over chunk by chunk (``@web.stream_request_body``); file parts go
straight to a folder under the data directory, so an upload of gigabytes needs no more memory
than a small one. The size limit (``AutoML.max_upload_bytes``) is checked before the first
byte when the request says its length, and on every chunk when it does not.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tornado import web

from ..errors import AutoMLError
from .base import AutoMLHandler
from .multipart import Form, MultipartParser, form_boundary

# Tornado refuses a body past the connection's max body size with a bare 400 before this
# handler sees the chunk that crosses it. Above the upload limit by this much, that chunk
# still arrives here and is answered with a 413 that says the limit.
CROSSING_CHUNK = 16 * 1024 * 1024


@web.stream_request_body
class FormUploadHandler(AutoMLHandler):
    """``self.form()`` in ``post`` is the parsed form; its files lie in a staging folder that
    is removed when the request ends, however it ends."""

    _parser: MultipartParser | None = None
    _staging: Path | None = None
    _received = 0

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        # jupyter_server refuses anonymous requests in prepare as well; checking here keeps the
        # body unread even where it is configured to let them through to @web.authenticated.
        if self.current_user is None:
            raise web.HTTPError(403)
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit():  # tornado answers any other length 400
            self.automl.check_upload_size(int(length))
        boundary = form_boundary(self.request.headers.get("Content-Type"))
        self.request.connection.set_max_body_size(self.automl.max_upload_bytes + CROSSING_CHUNK)
        self._staging = Path(tempfile.mkdtemp(prefix="upload-", dir=self.automl.staging))
        self._parser = MultipartParser(boundary, self._staging)

    def data_received(self, chunk: bytes) -> None:
        if self._parser is None or self._finished:
            return
        try:
            self._received += len(chunk)
            self.automl.check_upload_size(self._received)
            self._parser.feed(chunk)
        except AutoMLError as error:
            self.log.info("jupyter_automl: upload refused: %s", error)
            self._discard()
            self.send_error(error.http_status, exc_info=sys.exc_info())

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
