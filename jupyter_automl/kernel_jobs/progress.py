"""Progress from the kernel to the job runner, through one small JSON file.

The training kernel knows where it is; the runner owns the job's row. The kernel writes
``progress.json`` (atomically: temp file, then rename) and the runner copies it into the store
at each heartbeat, so the notebook never needs the store's credentials.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..training.callbacks import Callback, TrainingState

KEEP_MESSAGES = 50
KEEP_LOSSES = 400  # points of the live loss curve; halved (every other one) when exceeded


class ProgressFile(Callback):
    """Writes the live :class:`TrainingState`, the evaluations and the last log lines."""

    def __init__(self, path: str | os.PathLike[str], *, every_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self.every = every_seconds
        self.messages: deque[str] = deque(maxlen=KEEP_MESSAGES)
        self.evaluations: list[dict[str, Any]] = []
        self.losses: list[tuple[int, float]] = []  # (step, training loss), thinned as it grows
        self._written = 0.0

    def _write(self, state: TrainingState, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._written < self.every:
            return
        self._written = time.monotonic()
        data = {
            "state": state.to_dict(),
            "evaluations": self.evaluations,
            "losses": self.losses,
            "messages": list(self.messages),
            "pid": os.getpid(),
            "updated": time.time(),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, default=_plain), encoding="utf-8")
        os.replace(tmp, self.path)

    def on_train_begin(self, state: TrainingState) -> None:
        self._write(state, force=True)

    def on_step_end(self, state: TrainingState) -> None:
        if state.loss is not None and (not self.losses or self.losses[-1][0] != state.step):
            self.losses.append((state.step, float(state.loss)))
            if len(self.losses) > KEEP_LOSSES:
                self.losses = [*self.losses[:-1:2], self.losses[-1]]  # keep the newest point
        self._write(state)

    def on_evaluate(self, state: TrainingState, metrics: dict[str, Any]) -> None:
        entry = state.history[-1] if state.history else {}
        self.evaluations.append(
            {k: entry.get(k) for k in ("epoch", "step", "train_loss", "selection_value", "improved")}
        )
        self._write(state, force=True)

    def on_log(self, state: TrainingState, message: str) -> None:
        self.messages.append(message)
        self._write(state, force=True)

    def on_train_end(self, state: TrainingState) -> None:
        self._write(state, force=True)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def read_progress(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last progress written, or None before the first write (or if it cannot be read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
