"""Management routes for deployments, their keys and the playground (Jupyter authentication)."""

from __future__ import annotations

from pathlib import Path

from tornado import web

from ..errors import InvalidInput
from ..serve.handlers import send_batch_results
from ..serve.inputs import request_from_http
from ..serve.usage import DEFAULT_DAYS
from .base import AutoMLHandler, Body
from .streamed_form import batch_form
from .uploads import FormUploadHandler



class NewDeployment(Body):
    model: str
    version: int | None = None
    name: str | None = None
    metadata_only: bool = False


class DeploymentsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_deployments, status=self.get_argument("status", None),
                                model=self.get_argument("model", None))
        self.write_json({"deployments": [d.to_json() for d in items]})

    @web.authenticated
    async def post(self) -> None:
        """Start deploying a version; the answer (202) holds both keys, shown only here."""
        body = self.body(NewDeployment)
        created = await self.call(self.automl.deploy, body.model, body.version, name=body.name,
                                  wait=False, metadata_only=body.metadata_only)
        self.write_json(created, status=202)


class DeploymentHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str) -> None:
        self.write_json(await self.call(self.automl.get_deployment, deployment))


class UndeployHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, deployment: str) -> None:
        self.write_json(await self.call(self.automl.undeploy, deployment))


class RedeployHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, deployment: str) -> None:
        self.write_json(await self.call(self.automl.redeploy, deployment, wait=False), status=202)


class KeyHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, deployment: str, slot: str) -> None:
        """Rotate: a new key in the slot (shown once); the other slot's key keeps working."""
        self.write_json(await self.call(self.automl.rotate_key, deployment, int(slot)), status=201)

    @web.authenticated
    async def delete(self, deployment: str, slot: str) -> None:
        self.write_json(await self.call(self.automl.revoke_key, deployment, int(slot)))


class DeploymentTasksHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str) -> None:
        """A page of the deployment's task history, newest first."""
        page = await self.call(
            self.automl.task_page, deployment, status=self.get_argument("status", None),
            since=self.get_argument("since", None), until=self.get_argument("until", None),
            limit=self.int_argument("limit", 50), cursor=self.get_argument("cursor", None) or None,
        )
        self.write_json(page)


class DeploymentUsageHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str) -> None:
        """Requests, tokens, errors and latency per UTC day and per key."""
        self.write_json(await self.call(self.automl.usage, deployment,
                                        self.int_argument("days", DEFAULT_DAYS)))


class DeploymentTaskHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str, task_id: str) -> None:
        self.write_json(await self.call(self.automl.get_task_record, deployment, task_id))


class BatchesHandler(FormUploadHandler):
    @web.authenticated
    async def get(self, deployment: str) -> None:
        items = await self.call(self.automl.list_batches, deployment)
        self.write_json({"batches": [b.to_json() for b in items]})

    @web.authenticated
    async def post(self, deployment: str) -> None:
        """Check the file and queue its rows (422 with the report, nothing queued, when a row
        is invalid); this server starts running them at once."""
        file, images, options = batch_form(self.form())
        info = await self.call(self.automl.submit_batch, deployment, file.path,
                               images=images.path if images else None,
                               file_name=Path(file.filename or "inputs.csv").name, options=options)
        self.automl.serving.start_batch(info.id)
        self.write_json(info, status=201)


class BatchHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str, batch_id: str) -> None:
        self.write_json(await self.call(self.automl.get_batch, deployment, batch_id))


class BatchResultsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, deployment: str, batch_id: str) -> None:
        await send_batch_results(self, self.automl, deployment, batch_id, self.get_argument("format", "csv"))


class PlaygroundHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str) -> None:
        self.write_json(await self.call(self.automl.playground_usage, model, int(version)))

    @web.authenticated
    async def post(self, model: str, version: str) -> None:
        request = request_from_http(self.request, max_media_bytes=self.automl.serving.max_media_bytes)
        if request.callback_url:
            raise InvalidInput("the playground answers at once; callback_url is for async tasks")
        self.write_json(await self.automl.playground_async(model, int(version), request))


DEPLOYMENT = r"([^/]+)"


def deployment_routes(model: str) -> list[tuple[str, type]]:
    """``model`` is the route pattern that names a model (shared with the model routes)."""
    return [
        (r"/automl/api/deployments", DeploymentsHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}", DeploymentHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/undeploy", UndeployHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/redeploy", RedeployHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/keys/([12])", KeyHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/tasks", DeploymentTasksHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/tasks/([^/]+)", DeploymentTaskHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/usage", DeploymentUsageHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/batches", BatchesHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/batches/([0-9a-f]{{32}})", BatchHandler),
        (rf"/automl/api/deployments/{DEPLOYMENT}/batches/([0-9a-f]{{32}})/results", BatchResultsHandler),
        (rf"/automl/api/models/{model}/versions/([0-9]+)/playground", PlaygroundHandler),
    ]
