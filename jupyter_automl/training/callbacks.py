"""Progress reporting and stop requests, in the style of transformers' ``TrainerCallback``.

A callback gets the live :class:`TrainingState` at each hook; override the hooks you need.
A stop request (a flag or a file that appears) ends training after the current step; the
best checkpoint so far is what gets saved.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainingState:
    """Where a run is. ``epoch`` is fractional (2.5 = half-way through the third epoch)."""

    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    max_epochs: int = 0
    loss: float | None = None  # mean training loss over the last logged steps
    learning_rate: float = 0.0
    elapsed_seconds: float = 0.0
    eta_seconds: float | None = None
    samples_per_second: float | None = None
    tokens_per_second: float | None = None
    best_step: int | None = None
    best_value: float | None = None
    evaluations_without_improvement: int = 0
    phase: str = "starting"  # starting, evaluating_base, training, evaluating, saving, done
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The progress fields a job stores (not the history)."""
        keys = (
            "step", "total_steps", "epoch", "max_epochs", "loss", "learning_rate",
            "elapsed_seconds", "eta_seconds", "samples_per_second", "tokens_per_second",
            "best_step", "best_value", "phase",
        )
        return {k: getattr(self, k) for k in keys}


class Callback:
    """Override any hook; the defaults do nothing."""

    def on_prepared(self, state: TrainingState, preparation: dict[str, Any]) -> None:
        """The data is ready: ``rows``, ``invalid_rows`` (row, reason), ``summary``, and
        ``splits`` (rows for train, validation, test)."""

    def on_train_begin(self, state: TrainingState) -> None: ...

    def on_step_end(self, state: TrainingState) -> None: ...

    def on_evaluate(self, state: TrainingState, metrics: dict[str, Any]) -> None: ...

    def on_epoch_end(self, state: TrainingState) -> None: ...

    def on_log(self, state: TrainingState, message: str) -> None: ...

    def on_train_end(self, state: TrainingState) -> None: ...


class Forwarding(Callback, ABC):
    """Sends every hook, by name, to ``forward``."""

    @abstractmethod
    def forward(self, hook: str, state: TrainingState, *args: Any) -> None: ...

    def on_prepared(self, state: TrainingState, preparation: dict[str, Any]) -> None:
        self.forward("on_prepared", state, preparation)

    def on_train_begin(self, state: TrainingState) -> None:
        self.forward("on_train_begin", state)

    def on_step_end(self, state: TrainingState) -> None:
        self.forward("on_step_end", state)

    def on_evaluate(self, state: TrainingState, metrics: dict[str, Any]) -> None:
        self.forward("on_evaluate", state, metrics)

    def on_epoch_end(self, state: TrainingState) -> None:
        self.forward("on_epoch_end", state)

    def on_log(self, state: TrainingState, message: str) -> None:
        self.forward("on_log", state, message)

    def on_train_end(self, state: TrainingState) -> None:
        self.forward("on_train_end", state)


class CallbackList(Forwarding):
    """Calls every callback in turn."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def forward(self, hook: str, state: TrainingState, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state, *args)


class StopSignal:
    """Asks a run to stop: ``request()`` from any thread, or create ``path`` from any process."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set() or (self.path is not None and self.path.exists())


def as_stop_signal(stop: StopSignal | str | os.PathLike[str] | None) -> StopSignal:
    if isinstance(stop, StopSignal):
        return stop
    return StopSignal(stop)


class ProgressBar(Callback):
    """A tqdm progress bar (``tqdm.auto``: a widget in a notebook, text in a terminal)."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self.kwargs = tqdm_kwargs
        self.bar = None

    def on_train_begin(self, state: TrainingState) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.total_steps, initial=state.step, unit="step", **self.kwargs)

    def on_step_end(self, state: TrainingState) -> None:
        if self.bar is None:
            return
        self.bar.update(state.step - self.bar.n)
        postfix = {"epoch": f"{state.epoch:.2f}"}
        if state.loss is not None:
            postfix["loss"] = f"{state.loss:.4f}"
        self.bar.set_postfix(postfix, refresh=False)

    def on_log(self, state: TrainingState, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def on_train_end(self, state: TrainingState) -> None:
        if self.bar is not None:
            self.bar.close()

