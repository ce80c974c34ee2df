"""The public Python API: the one door every face (CLI, REST, widgets, templates) goes through.

:class:`AutoML` is assembled from parts that each hold one area: datasets and snapshots,
models and versions, training jobs, deployments and their answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..base_models import BaseModelRegistry
from ..model_types import ModelType
from ..paths import default_data_dir
from ..schemas import BaseModelInfo
from ..store import Store, default_store_url
from .batches import BatchesAPI
from .datasets import DatasetsAPI
from .deployments import DeploymentsAPI
from .jobs import Job, JobFailed, JobsAPI
from .tasks import TasksAPI

__all__ = ["AutoML", "Job", "JobFailed"]


class AutoML(DatasetsAPI, JobsAPI, BatchesAPI, TasksAPI, DeploymentsAPI, LoggingConfigurable):
    """Datasets, snapshots, models, training jobs and base models over one store and one data
    directory.

    Configure it like any Jupyter application (``c.AutoML.store_url = ...`` in
    ``jupyter_automl_config.py``) or with keyword arguments in a notebook.
    """

    data_dir = Unicode(help="Folder for uploads, snapshots and artifacts.").tag(config=True)
    store_url = Unicode(
        help="SQLAlchemy URL of the store (SQLite in data_dir by default; PostgreSQL for teams)."
    ).tag(config=True)
    base_models = List(
        Dict(),
        help="Extra base models, each a dict of BaseModelEntry fields "
        "(name, display_name, model_types, source, location, ...).",
    ).tag(config=True)
    model_cache_dir = Unicode(
        "", help="Where converted base models are cached (default ~/.cache/jupyter-automl)."
    ).tag(config=True)
    max_upload_bytes = Int(2 * 1024**3, help="Largest upload accepted, in bytes.").tag(config=True)
    allow_downloads = Bool(
        False, help="Let image datasets name images by http(s) URL (image_url column)."
    ).tag(config=True)
    max_image_pixels = Int(40_000_000, help="Images with more pixels are invalid rows.").tag(
        config=True
    )
    staging_max_age_hours = Float(
        24.0, help="Files that uploads left in data_dir/staging and nobody has written to for this "
        "many hours (an upload cut off by a stopped server or a closed browser) are deleted when the "
        "server starts and every hour. 0 keeps them."
    ).tag(config=True)
    spawn_worker = Bool(
        True, help="When a job is queued and no worker is alive, start a detached "
        "`jupyter automl worker` that exits when idle. Off when a server or a service runs workers.",
    ).tag(config=True)
    spawned_worker_idle_seconds = Float(
        60.0, help="A worker started by spawn_worker exits after this long with nothing to do."
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(default_data_dir())

    @default("store_url")
    def _default_store_url(self) -> str:
        return default_store_url(Path(self.data_dir))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(self.data_dir).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.store_url)
        self.registry = BaseModelRegistry.from_config(self.base_models)

    def close(self) -> None:
        if self._serving is not None:
            self._serving.close()
        self.store.dispose()

    def list_base_models(self, model_type: str | ModelType | None = None) -> list[BaseModelInfo]:
        kind = ModelType.parse(model_type) if model_type else None
        return [BaseModelInfo(**entry.to_dict()) for entry in self.registry.list(kind)]
