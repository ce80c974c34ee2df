"""Management API handlers whose POST body is a ``multipart/form-data`` upload, parsed while it
streams in (see ``streamed_form``), after Jupyter's authentication."""

from __future__ import annotations

from tornado import web

from ..errors import AutoMLError
from .base import AutoMLHandler
from .streamed_form import StreamedForm


@web.stream_request_body
class FormUploadHandler(StreamedForm, AutoMLHandler):
    """``self.form()`` in ``post`` is the parsed form, limited to ``AutoML.max_upload_bytes``."""

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        # jupyter_server refuses anonymous requests in prepare as well; checking here keeps the
        # body unread even where it is configured to let them through to @web.authenticated.
        if self.current_user is None:
            raise web.HTTPError(403)
        self.receive_form(self.automl.staging, self.automl.check_upload_size, self.automl.max_upload_bytes)

    def log_refusal(self, error: AutoMLError) -> None:
        self.log.info("jupyter_automl: upload refused: %s", error)
