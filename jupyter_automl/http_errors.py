"""How every tornado handler (management REST and task API) answers an error: JSON with the
core's message, its status and headers, never a traceback."""

from __future__ import annotations

import json
from typing import Any

from tornado import web

from .errors import AutoMLError, error_answer


class JSONErrors(web.RequestHandler):
    """Mixed in before the handler's base class."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, AutoMLError):
            status, body, headers = error_answer(exc)
            self.set_status(status)
            for name, value in headers.items():
                self.set_header(name, value)
        elif isinstance(exc, web.HTTPError):
            body = {"message": exc.log_message or self._reason}
        else:
            body = {"message": "internal error; the server log has the details"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=str))

    def log_exception(self, typ, value, tb) -> None:
        """Bad input is the client's business, not an error of the server's."""
        if isinstance(value, AutoMLError) and value.http_status < 500:
            return
        super().log_exception(typ, value, tb)
