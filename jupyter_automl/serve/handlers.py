"""The task API (DESIGN §7) for applications, authenticated only by a deployment's key.

These handlers are plain tornado handlers, not Jupyter's: a request carries
``Authorization: Token <key>`` instead of a Jupyter token or cookie, so there is no session to
forge and no XSRF check. The same handlers run in the Jupyter server and in
``jupyter automl serve``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado import web

from ..errors import InvalidInput
from ..http_errors import JSONErrors
from .deployments import Caller
from .inputs import TaskRequest, request_from_http
from .keys import key_from_header
from .openai import openai_routes
from .runtime import ServingRuntime
from .tasks import SYNC

TASK_ID = r"([0-9a-f]{32})"


class TaskAPIHandler(JSONErrors, web.RequestHandler):
    def initialize(self, runtime: ServingRuntime) -> None:
        self.runtime = runtime

    def check_xsrf_cookie(self) -> None:
        """Key-authenticated API calls carry no cookies, so cross-site forgery does not apply."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    async def caller(self) -> Caller:
        key = key_from_header(self.request.headers.get("Authorization"))
        return await asyncio.get_running_loop().run_in_executor(None, self.runtime.caller, key)

    def task_request(self) -> TaskRequest:
        return request_from_http(self.request, max_media_bytes=self.runtime.max_media_bytes)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))


class SyncTaskHandler(TaskAPIHandler):
    async def post(self) -> None:
        caller = await self.caller()
        request = self.task_request()
        if request.callback_url:
            raise InvalidInput("callback_url is for async tasks; a sync task answers in its response")
        self.write_json(await self.runtime.answer(caller, request, SYNC))


class AsyncTaskHandler(TaskAPIHandler):
    async def post(self) -> None:
        caller = await self.caller()
        request = self.task_request()
        self.write_json(await self.runtime.submit_async(caller, request), status=202)


class TaskHandler(TaskAPIHandler):
    async def get(self, task_id: str) -> None:
        caller = await self.caller()
        loop = asyncio.get_running_loop()
        self.write_json(await loop.run_in_executor(None, self.runtime.get_task, caller, task_id))


def task_routes(runtime: ServingRuntime, prefix: str = "/") -> list[tuple[str, type, dict]]:
    base = prefix.rstrip("/") + "/automl/api/v2/task"
    args = {"runtime": runtime}
    return [
        (f"{base}/sync", SyncTaskHandler, args),
        (f"{base}/async", AsyncTaskHandler, args),
        (rf"{base}/{TASK_ID}", TaskHandler, args),
        *openai_routes(runtime, prefix),  # the same deployments, spoken as OpenAI's API
    ]
