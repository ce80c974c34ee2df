"""Loading the user's Jupyter configuration for faces that run outside the server (CLI, scripts)."""

from __future__ import annotations

from typing import Any

from jupyter_core.paths import jupyter_config_path
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

CONFIG_NAME = "jupyter_automl_config"


def load_config() -> Config:
    """Merge ``jupyter_automl_config.{json,py}`` from every Jupyter config directory.

    Directories are read from the lowest to the highest priority, so the user's own file wins,
    the same order a Jupyter application uses.
    """
    config = Config()
    for directory in reversed(jupyter_config_path()):
        for loader_class, suffix in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
            try:
                config.merge(loader_class(CONFIG_NAME + suffix, path=directory).load_config())
            except ConfigFileNotFound:
                continue
    return config


def load_automl(**overrides: Any):
    """An :class:`~jupyter_automl.api.AutoML` configured from files, then from ``overrides``."""
    from .api import AutoML

    return AutoML(config=load_config(), **{k: v for k, v in overrides.items() if v is not None})
