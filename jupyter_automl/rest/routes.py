"""Routes of the management REST API: the one list of every URL and its handler."""

from __future__ import annotations

from .datasets import (
    DatasetHandler,
    DatasetsHandler,
    DatasetValidateHandler,
    SnapshotHandler,
    SnapshotSplitHandler,
    SnapshotsHandler,
)
from .deployments import deployment_routes
from .jobs import JobCancelHandler, JobHandler, JobLogsHandler, JobsHandler, WorkersHandler
from .models import (
    BaseModelsHandler,
    ModelHandler,
    ModelsHandler,
    OptionsSchemaHandler,
    TrainHandler,
    VersionHandler,
    VersionMetricsHandler,
    VersionNotebookHandler,
    VersionPlotHandler,
    VersionPlotsHandler,
    VersionsHandler,
)

API = "/automl/api"
ID = r"([0-9a-f]{32})"
# A model by id or by name (names have no "/"; tornado unescapes %20 and the like).
NAME = r"([^/]+)"
NUMBER = r"([0-9]+)"
VERSION = rf"{API}/models/{NAME}/versions/{NUMBER}"


def routes() -> list[tuple[str, type]]:
    return [
        (rf"{API}/datasets", DatasetsHandler),
        (rf"{API}/datasets/validate", DatasetValidateHandler),
        (rf"{API}/datasets/{ID}", DatasetHandler),
        (rf"{API}/snapshots", SnapshotsHandler),
        (rf"{API}/snapshots/{ID}", SnapshotHandler),
        (rf"{API}/snapshots/{ID}/split", SnapshotSplitHandler),
        (rf"{API}/base-models", BaseModelsHandler),
        (rf"{API}/options-schema", OptionsSchemaHandler),
        (rf"{API}/models", ModelsHandler),
        (rf"{API}/models/{NAME}", ModelHandler),
        (rf"{API}/models/{NAME}/train", TrainHandler),
        (rf"{API}/models/{NAME}/versions", VersionsHandler),
        (VERSION, VersionHandler),
        (rf"{VERSION}/metrics", VersionMetricsHandler),
        (rf"{VERSION}/plots", VersionPlotsHandler),
        (rf"{VERSION}/plots/{NAME}", VersionPlotHandler),
        (rf"{VERSION}/notebook", VersionNotebookHandler),
        (rf"{API}/jobs", JobsHandler),
        (rf"{API}/jobs/{ID}", JobHandler),
        (rf"{API}/jobs/{ID}/logs", JobLogsHandler),
        (rf"{API}/jobs/{ID}/cancel", JobCancelHandler),
        (rf"{API}/workers", WorkersHandler),
        *deployment_routes(NAME),
    ]
