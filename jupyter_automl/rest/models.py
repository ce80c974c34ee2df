"""Base models, training-options schemas, models, their versions and what a version holds."""

from __future__ import annotations

from typing import Any

from tornado import web

from .base import AutoMLHandler, Body


class BaseModelsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_base_models, self.get_argument("model_type", None))
        self.write_json({"base_models": [m.to_json() for m in items]})


class OptionsSchemaHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        schema = await self.call(
            self.automl.options_schema,
            self.get_argument("model_type", None),
            base_model=self.get_argument("base_model", None),
            snapshot_id=self.get_argument("snapshot_id", None),
        )
        self.write_json(schema)


class NewModel(Body):
    name: str
    snapshot_id: str
    description: str = ""
    model_type: str | None = None
    base_model: str | None = None
    test_snapshot_id: str | None = None
    test_percent: int | None = None
    options: dict[str, Any] | None = None


class ModelChanges(Body):
    """What the next version trains on; a field left out keeps its value."""

    description: str | None = None
    base_model: str | None = None
    snapshot_id: str | None = None
    test_snapshot_id: str | None = None
    test_percent: int | None = None
    options: dict[str, Any] | None = None


class TrainRequest(Body):
    """Changes to apply before training, as in :class:`ModelChanges`."""

    snapshot_id: str | None = None
    test_snapshot_id: str | None = None
    test_percent: int | None = None
    options: dict[str, Any] | None = None


class ModelsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_models, self.get_argument("model_type", None))
        self.write_json({"models": [m.to_json() for m in items]})

    @web.authenticated
    async def post(self) -> None:
        body = self.body(NewModel)
        model = await self.call(self.automl.create_model, **body.model_dump())
        self.write_json(model, status=201)


class ModelHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str) -> None:
        self.write_json(await self.call(self.automl.get_model, model))

    @web.authenticated
    async def patch(self, model: str) -> None:
        changes = self.body(ModelChanges)
        self.write_json(await self.call(self.automl.update_model, model, **changes.model_dump()))


class TrainHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, model: str) -> None:
        """Queue version n+1; the answer is its job (202: it runs later, on a worker)."""
        body = self.body(TrainRequest)
        job = await self.call(self.automl.train, model, **body.model_dump())
        self.write_json(await self.call(job.info), status=202)


class VersionsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str) -> None:
        versions = await self.call(self.automl.list_versions, model)
        self.write_json({"versions": [v.to_json() for v in versions]})


class VersionHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str) -> None:
        self.write_json(await self.call(self.automl.get_version, model, int(version)))


class VersionMetricsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str) -> None:
        self.write_json(await self.call(self.automl.version_metrics, model, int(version)))


class VersionPlotsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str) -> None:
        self.write_json({"plots": await self.call(self.automl.version_plots, model, int(version))})


class VersionPlotHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str, name: str) -> None:
        path = await self.call(self.automl.version_plot, model, int(version), name)
        self.finish(await self.call(path.read_bytes), set_content_type="image/png")


class VersionNotebookHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, model: str, version: str) -> None:
        path = await self.call(self.automl.version_notebook, model, int(version))
        self.finish(await self.call(path.read_bytes), set_content_type="application/x-ipynb+json")
