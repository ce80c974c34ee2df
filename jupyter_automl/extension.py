"""The Jupyter server extension: builds the core once, adds the REST routes and the task API,
runs a job worker and restores deployments."""

from __future__ import annotations

import asyncio
import os
import threading

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Bool, Type

from .api import AutoML
from .config import CONFIG_NAME
from .datasets.staging import keep_sweeping
from .kernel_jobs import JobWorker
from .rest.routes import routes
from .serve.handlers import task_routes


class AutoMLExtension(ExtensionApp):
    """Configured with ``c.AutoMLExtension.*``; the parts it builds read their own sections:
    ``c.AutoML`` (store, data folder, upload limits), ``c.JobWorker`` (executor, Dask address,
    concurrent jobs) and ``c.ServingRuntime`` (batching window and cap, queue bound, playground
    limits)."""

    name = "jupyter_automl"
    description = "AutoML inside JupyterLab"

    automl_class = Type(
        default_value=AutoML,
        klass=AutoML,
        help="The core class; a subclass can replace it through configuration.",
    ).tag(config=True)
    create_examples_on_start = Bool(
        True, help="Freeze the shipped example datasets into snapshots when the server starts."
    ).tag(config=True)
    run_worker = Bool(
        True, help="Run a job worker in the server, so queued training jobs start while JupyterLab "
        "runs. Turn off where `jupyter automl worker` processes or a Dask cluster take the jobs.",
    ).tag(config=True)
    serve_tasks = Bool(
        True, help="Serve the deployments' task API (/automl/api/v2/task/...) from this server, and "
        "restore deployments and async tasks when it starts.",
    ).tag(config=True)
    def _config_file_name_default(self) -> str:
        return CONFIG_NAME

    def initialize_settings(self) -> None:
        self.automl = self.automl_class(config=self.config, parent=self, log=self.log)
        self.settings["automl"] = self.automl
        self.log.info("jupyter_automl: store %s, data %s", self.automl.store_url, self.automl.root)
        self._share_store_with_kernels()
        self.worker: JobWorker | None = None
        if self.run_worker:
            self.automl.spawn_worker = False
            self.worker = self.automl.worker()
            threading.Thread(target=self.worker.run, daemon=True, name="automl-job-worker").start()
        if self.serve_tasks:
            IOLoop.current().add_callback(self.automl.serving.start)
        if self.create_examples_on_start:
            asyncio.get_event_loop().run_in_executor(None, self._create_examples)
        self._staging_sweeper = asyncio.get_event_loop().create_task(
            keep_sweeping(self.automl.sweep_staging, self.log))

    def _share_store_with_kernels(self) -> None:
        """Kernels this server starts inherit its environment: point it at this server's data
        folder and store, so ``AutoML()`` in a notebook (the widgets, the chat playground
        notebook the sidebar opens) sees the same datasets, models and deployments."""
        os.environ["JUPYTER_AUTOML_DATA_DIR"] = str(self.automl.root)
        os.environ["JUPYTER_AUTOML_STORE_URL"] = self.automl.store_url

    def _create_examples(self) -> None:
        try:
            self.automl.ensure_example_snapshots()
        except Exception:
            self.log.exception("jupyter_automl: could not freeze the example snapshots")

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())
        if self.serve_tasks:
            self.handlers.extend(task_routes(self.automl.serving))

    async def stop_extension(self) -> None:
        self._staging_sweeper.cancel()
        if self.worker is not None:
            self.worker.stop()
        if self.serve_tasks:
            await self.automl.serving.stop()
        self.automl.close()
