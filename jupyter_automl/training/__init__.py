"""The training engine: ``train`` a snapshot into a model version, ``evaluate``, ``load_predictor``.

Plain objects in, plain objects out: nothing here touches the store, the server or a kernel,
so the same calls work from a notebook cell, a script, a papermill template or a job.
"""

from .callbacks import Callback, ProgressBar, StopSignal, TrainingState
from .options import ResolvedOptions, TrainingOptions, resolve_options
from .predictor import load_predictor
from .run import SnapshotData, TrainingResult, evaluate, train

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
