"""One error mapping and one way to call the core for every management handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ConfigDict, ValidationError

from ..api import AutoML
from ..errors import InvalidInput
from ..http_errors import JSONErrors

T = TypeVar("T")
B = TypeVar("B", bound="Body")


class Body(BaseModel):
    """A JSON request body: exact types, no unknown fields (a typo is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _problem(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "body"
    if error.get("type") == "extra_forbidden":
        return f"{where}: unknown field"
    if error.get("type") == "missing":
        return f"{where}: required"
    return f"{where}: {error.get('msg')}"


class AutoMLHandler(JSONErrors, ExtensionHandlerMixin, APIHandler):
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

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as error:
            raise InvalidInput(f"request body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise InvalidInput("request body must be a JSON object")
        return body

    def body(self, shape: type[B]) -> B:
        """The JSON body as ``shape``; a 400 that names every wrong field otherwise."""
        try:
            return shape.model_validate(self.json_body())
        except ValidationError as error:
            problems = [_problem(e) for e in error.errors()]
            raise InvalidInput("invalid request: " + "; ".join(problems), details=problems) from None

    def int_argument(self, name: str, default: int | None = None) -> int | None:
        """A whole-number query argument; a 400 when it is something else."""
        value = self.get_argument(name, None)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"query argument {name!r} must be a whole number, got {value!r}") from None

    def bool_argument(self, name: str, default: bool = False) -> bool:
        value = self.get_argument(name, None)
        if value is None or value == "":
            return default
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise InvalidInput(f"query argument {name!r} must be true or false, got {value!r}")
