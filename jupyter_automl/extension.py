"""The Jupyter server extension: builds the core once and adds the REST routes."""

from __future__ import annotations

import asyncio

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Type

from .api import AutoML
from .config import CONFIG_NAME
from .rest.routes import routes


class AutoMLExtension(ExtensionApp):
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

    def _config_file_name_default(self) -> str:
        return CONFIG_NAME

    def initialize_settings(self) -> None:
        self.automl = self.automl_class(config=self.config, parent=self, log=self.log)
        self.settings["automl"] = self.automl
        self.log.info("jupyter_automl: store %s, data %s", self.automl.store_url, self.automl.root)
        if self.create_examples_on_start:
            asyncio.get_event_loop().run_in_executor(None, self._create_examples)

    def _create_examples(self) -> None:
        try:
            self.automl.ensure_example_snapshots()
        except Exception:
            self.log.exception("jupyter_automl: could not freeze the example snapshots")

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def stop_extension(self) -> None:
        self.automl.close()
