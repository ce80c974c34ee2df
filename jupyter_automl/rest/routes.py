"""Routes of the management REST API."""

from __future__ import annotations

from tornado import web

from ..errors import InvalidInput
from .base import AutoMLHandler

ID = r"([0-9a-f]{32})"


class DatasetsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_datasets, self.get_argument("model_type", None))
        self.write_json({"datasets": [d.to_json() for d in items]})


class DatasetHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, dataset_id: str) -> None:
        self.write_json(await self.call(self.automl.get_dataset, dataset_id))


class SnapshotsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_snapshots, self.get_argument("model_type", None))
        self.write_json({"snapshots": [s.to_json() for s in items]})

    @web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        dataset_id = body.get("dataset_id")
        if not isinstance(dataset_id, str):
            raise InvalidInput("'dataset_id' is required: the dataset to freeze")
        role = body.get("role", "train")
        snapshot = await self.call(
            self.automl.create_snapshot, dataset_id, name=body.get("name"), role=role
        )
        self.write_json(snapshot, status=201)


class SnapshotHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, snapshot_id: str) -> None:
        self.write_json(await self.call(self.automl.get_snapshot, snapshot_id))


class BaseModelsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_base_models, self.get_argument("model_type", None))
        self.write_json({"base_models": [m.to_json() for m in items]})


def routes() -> list[tuple[str, type]]:
    return [
        (r"/automl/api/datasets", DatasetsHandler),
        (rf"/automl/api/datasets/{ID}", DatasetHandler),
        (r"/automl/api/snapshots", SnapshotsHandler),
        (rf"/automl/api/snapshots/{ID}", SnapshotHandler),
        (r"/automl/api/base-models", BaseModelsHandler),
    ]
