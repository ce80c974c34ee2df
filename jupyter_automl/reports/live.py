"""Live views of a running training: a loss and metric curve that redraws in place."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any

from ..training.callbacks import Callback, TrainingState


def training_curve_png(losses: Sequence[tuple[int, float]], evaluations: Sequence[tuple[float, float]],
                       *, rule: str = "", title: str = "") -> bytes:
    """Training loss per step (left) and the validation selection value per evaluation (right),
    as PNG: the curve the training notebook redraws and the job view shows."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2), dpi=90)
    loss_ax, metric_ax = figure.subplots(1, 2)
    if losses:
        loss_ax.plot(*zip(*losses), color="tab:blue")
    loss_ax.set(title="Training loss", xlabel="step")
    if evaluations:
        metric_ax.plot(*zip(*evaluations), marker="o", color="tab:orange")
    metric_ax.set(title=f"Validation {rule or 'selection value'}", xlabel="epoch")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class LiveCurve(Callback):
    """Training loss per step and the validation selection metric per evaluation, redrawn in
    one output (a display handle) at most every ``every_seconds`` and at each evaluation."""

    def __init__(self, *, every_seconds: float = 5.0, title: str = "") -> None:
        self.every = every_seconds
        self.title = title
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.evaluations: list[tuple[float, float]] = []  # (epoch, selection value)
        self.rule = ""
        self.handle: Any = None
        self._drawn = 0.0

    def png(self) -> bytes:
        return training_curve_png(list(zip(self.steps, self.losses)), self.evaluations,
                                  rule=self.rule, title=self.title)

    def _draw(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._drawn < self.every:
            return
        self._drawn = time.monotonic()
        from IPython.display import Image, display

        image = Image(data=self.png(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)

    def on_step_end(self, state: TrainingState) -> None:
        if state.loss is not None:
            self.steps.append(state.step)
            self.losses.append(state.loss)
            self._draw()

    def on_evaluate(self, state: TrainingState, metrics: dict[str, Any]) -> None:
        entry = state.history[-1] if state.history else {}
        if entry.get("selection_value") is not None:
            self.evaluations.append((entry["epoch"], entry["selection_value"]))
        self._draw(force=True)

    def on_train_end(self, state: TrainingState) -> None:
        self._draw(force=True)
