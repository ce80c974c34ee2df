"""jupyter-automl: AutoML inside JupyterLab.

The public Python API is :class:`AutoML`; every face (CLI, REST, widgets, notebooks) calls it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .errors import (
    AutoMLError,
    BaseModelUnavailable,
    Conflict,
    DataValidationError,
    InvalidInput,
    NotFound,
    TooLarge,
)
from .model_types import ModelType

try:
    __version__ = version("jupyter_automl")
except PackageNotFoundError:
    __version__ = "0.0.0+source"

__all__ = [
    "AutoML",
    "AutoMLError",
    "BaseModelUnavailable",
    "Conflict",
    "DataValidationError",
    "InvalidInput",
    "ModelType",
    "NotFound",
    "TooLarge",
    "validate_file",
]


def __getattr__(name: str) -> Any:
    # The API pulls in pandas and transformers; import it only when it is asked for, so the
    # server and the CLI start fast and `import jupyter_automl` stays cheap.
    if name == "AutoML":
        from .api import AutoML

        return AutoML
    if name == "validate_file":
        from .datasets.validation import validate_file

        return validate_file
    raise AttributeError(name)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-automl"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import AutoMLExtension

    return [{"module": "jupyter_automl", "app": AutoMLExtension}]
