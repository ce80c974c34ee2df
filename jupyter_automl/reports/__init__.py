"""What notebooks and terminals show: the training report that the templates call, live views,
and text summaries of versions and jobs."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use: the summaries serve the command line, which should not pay for the
# report's torch, pandas and IPython imports.
_HOMES = {
    "LiveCurve": "live", "TrainingReport": "training", "resolve_entry": "training",
    "resolve_snapshot": "training", "job_progress": "summary", "version_summary": "summary",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(name)
