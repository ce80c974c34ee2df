"""The training engine: ``train`` a snapshot into a model version, ``evaluate``, ``load_predictor``.

Plain objects in, plain objects out: nothing here touches the store, the server or a kernel,
so the same calls work from a notebook cell, a script, a papermill template or a job.
"""


from importlib import import_module
from typing import Any

# Names are imported on first use, so that ``training.callbacks`` (which job runners and
# progress readers need) does not pull in torch and transformers.
_HOMES = {
    "Callback": "callbacks", "ProgressBar": "callbacks", "StopSignal": "callbacks",
    "TrainingState": "callbacks", "ResolvedOptions": "options", "TrainingOptions": "options",
    "resolve_options": "options", "load_predictor": "predictor", "SnapshotData": "run",
    "TrainingResult": "run", "evaluate": "run", "train": "run",
}

__all__ = [
    "Callback",
    "ProgressBar",
    "ResolvedOptions",
    "SnapshotData",
    "StopSignal",
    "TrainingOptions",
    "TrainingResult",
    "TrainingState",
    "evaluate",
    "load_predictor",
    "resolve_options",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(name)
