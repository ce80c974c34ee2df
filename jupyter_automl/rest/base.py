"""One error mapping and one way to call the core for every management handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel
from tornado import web

from ..api import AutoML
from ..errors import AutoMLError

T = TypeVar("T")


class AutoMLHandler(ExtensionHandlerMixin, APIHandler):
    """Handlers translate: parse the request, await one core call, write JSON."""

    @property
    def automl(self) -> AutoML:
        return self.settings["automl"]

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a core call off the event loop (it does file and database I/O)."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, AutoMLError):
            self.set_status(exc.http_status)
            body: dict[str, Any] = {"message": exc.message}
            if exc.details is not None:
                body["details"] = exc.details
        elif isinstance(exc, web.HTTPError):
            body = {"message": exc.log_message or self._reason}
        else:
            body = {"message": "internal error; the server log has the details"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=str))

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, AutoMLError) and value.http_status < 500:
            self.log.info("jupyter_automl: %s %s -> %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    def json_body(self) -> dict[str, Any]:
        from ..errors import InvalidInput

        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as error:
            raise InvalidInput(f"request body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise InvalidInput("request body must be a JSON object")
        return body
