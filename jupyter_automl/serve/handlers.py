"""The task API (DESIGN §7) for applications, authenticated only by a deployment's key.

These handlers are plain tornado handlers, not Jupyter's: a request carries
``Authorization: Token <key>`` instead of a Jupyter token or cookie, so there is no session to
forge and no XSRF check. The same handlers run in the Jupyter server and in
``jupyter automl serve``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import web

from ..errors import InvalidInput, Unavailable
from ..http_errors import JSONErrors
from ..rest.streamed_form import StreamedForm, batch_form
from .deployments import Caller
from .inputs import TaskRequest, request_from_http
from .keys import key_from_header
from .openai import openai_routes
from .runtime import ServingRuntime
from .tasks import SYNC

if TYPE_CHECKING:
    from ..api.batches import BatchesAPI

TASK_ID = r"([0-9a-f]{32})"
RESULT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


async def send_batch_results(handler: web.RequestHandler, api: "BatchesAPI", deployment: str,
                             batch_id: str, fmt: str) -> None:
    """Write a finished batch's results file as it is read (409 while rows are queued)."""
    loop = asyncio.get_running_loop()
    info = await loop.run_in_executor(None, api.get_batch, deployment, batch_id)
    pieces = await loop.run_in_executor(None, api.batch_results, deployment, batch_id, fmt)
    handler.set_header("Content-Type", RESULT_TYPES[fmt])
    name = f"{Path(info.file_name).stem}-results.{fmt}".replace('"', "")
    handler.set_header("Content-Disposition", f'attachment; filename="{name}"')
    while (piece := await loop.run_in_executor(None, next, pieces, None)) is not None:
        handler.write(piece)
        await handler.flush()
    handler.finish()


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


class BatchAPIHandler(TaskAPIHandler):
    def api(self) -> "BatchesAPI":
        """The core the runtime serves for (batches check files with the dataset rules)."""
        from ..api.batches import BatchesAPI

        if not isinstance(self.runtime.parent, BatchesAPI):
            raise Unavailable("this server takes no batches")
        return self.runtime.parent


@web.stream_request_body
class BatchSubmitHandler(StreamedForm, BatchAPIHandler):
    """A file of inputs as one batch of the key's deployment (multipart: ``file``, optional
    ``images`` and ``options``), streamed to disk once the key is checked, checked before
    anything is queued, started here."""

    _caller: Caller

    async def prepare(self) -> None:
        if self.request.method != "POST":
            return
        self._caller = await self.caller()  # a wrong key is answered before the body is read
        api = self.api()
        self.receive_form(api.staging, api.check_upload_size, api.max_upload_bytes)

    async def post(self) -> None:
        file, images, options = batch_form(self.form())
        api, caller = self.api(), self._caller
        info = await asyncio.get_running_loop().run_in_executor(None, lambda: api.submit_batch(
            caller.deployment_id, file.path, images=images.path if images else None,
            file_name=Path(file.filename or "inputs.csv").name, options=options,
            key_id=caller.key_id or None))
        self.runtime.start_batch(info.id)
        self.write_json(info.to_json(), status=201)


class BatchStatusHandler(BatchAPIHandler):
    async def get(self, batch_id: str) -> None:
        caller = await self.caller()
        info = await asyncio.get_running_loop().run_in_executor(
            None, self.api().get_batch, caller.deployment_id, batch_id)
        self.write_json(info.to_json())


class BatchResultsFileHandler(BatchAPIHandler):
    async def get(self, batch_id: str) -> None:
        caller = await self.caller()
        await send_batch_results(self, self.api(), caller.deployment_id, batch_id,
                                 self.get_argument("format", "csv"))


def task_routes(runtime: ServingRuntime, prefix: str = "/") -> list[tuple[str, type, dict]]:
    base = prefix.rstrip("/") + "/automl/api/v2/task"
    args = {"runtime": runtime}
    return [
        (f"{base}/sync", SyncTaskHandler, args),
        (f"{base}/async", AsyncTaskHandler, args),
        (rf"{base}/{TASK_ID}", TaskHandler, args),
        (f"{base}/batch", BatchSubmitHandler, args),
        (rf"{base}/batch/{TASK_ID}", BatchStatusHandler, args),
        (rf"{base}/batch/{TASK_ID}/results", BatchResultsFileHandler, args),
        *openai_routes(runtime, prefix),  # the same deployments, spoken as OpenAI's API
    ]
