"""Where jupyter-automl keeps its files by default."""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir


def default_data_dir() -> Path:
    """``$JUPYTER_AUTOML_DATA_DIR``, else ``automl/`` in the Jupyter data directory."""
    env = os.environ.get("JUPYTER_AUTOML_DATA_DIR")
    return Path(env).expanduser() if env else Path(jupyter_data_dir()) / "automl"
