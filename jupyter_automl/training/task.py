"""What the training loop needs from a model type: its model, batches, loss, metrics and saving.

The loop (``loop.py``) owns the optimizer, the schedule, evaluation, selection, early
stopping, stop requests and checkpoints; a task owns everything specific to its model type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..base_models.entry import BaseModelEntry

from .devices import Placement
from .options import ResolvedOptions


@dataclass
class Batch:
    """One micro-batch: model inputs on the device and what it counts.

    ``count`` is the number of units its loss is summed over (completion tokens for LLMs,
    labelled (row, head) pairs for classifiers): the loop divides the summed loss of an
    accumulation window by the window's total count, so accumulation does not change the loss.
    """

    inputs: dict[str, Any]
    count: int
    samples: int
    tokens: int = 0


@dataclass
class Preparation:
    """What a task found in the data before training: the rows it left out and why."""

    rows: int
    invalid_rows: list[dict[str, Any]] = field(default_factory=list)  # {"row", "reason"}
    summary: dict[str, Any] = field(default_factory=dict)
    # Rows left to train on; a task that has none returns at once, and ``train`` refuses the
    # run with the list of invalid rows.
    training_rows: int | None = None


class Task(ABC):
    """One model type's side of a run. Built by ``train`` and driven by ``run_loop``."""

    def __init__(
        self,
        options: ResolvedOptions,
        placement: Placement,
        *,
        entry: BaseModelEntry,
        train_rows: pd.DataFrame,
        validation_rows: pd.DataFrame,
        test_rows: pd.DataFrame,
        cache_dir: str | Path | None = None,
    ) -> None:
        """Every task trains ``entry`` on the snapshot rows of three splits; subclasses add what
        their model type needs and pass these through."""
        self.options = options
        self.placement = placement
        self.entry = entry
        self.tables = {
            "train": train_rows.reset_index(drop=True),
            "validation": validation_rows.reset_index(drop=True),
            "test": test_rows.reset_index(drop=True),
        }
        self.cache_dir = cache_dir
        self.model: torch.nn.Module | None = None

    @abstractmethod
    def prepare(self) -> Preparation:
        """Load the model and encode the data; report rows left out (too long, unreadable)."""

    @abstractmethod
    def train_batches(self, epoch: int) -> list[Any]:
        """The batches of one epoch, as cheap descriptions; the same for the same seed and epoch."""

    @abstractmethod
    def load_batch(self, spec: Any) -> Batch:
        """Materialise one batch description on the device."""

    @abstractmethod
    def loss_sum(self, inputs: dict[str, Any]) -> torch.Tensor:
        """The training loss of one batch, summed over its ``count`` units."""

    @abstractmethod
    def evaluate(self, split: str) -> dict[str, Any]:
        """Metrics on ``"validation"`` or ``"test"`` rows (DESIGN §6), as plain JSON data."""

    def test_predictions(self) -> pd.DataFrame | None:
        """One line per test row as the last ``evaluate("test")`` scored it, kept in the version
        directory (``heads.prediction_table`` for classifiers); None where a model type has no
        per-row prediction to keep (LLMs)."""
        return None

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What training changes, copied to the CPU: trainable weights and every buffer
        (BatchNorm running statistics change in training too; buffers are small)."""
        assert self.model is not None
        names = {n for n, p in self.model.named_parameters() if p.requires_grad}
        names |= {n for n, _ in self.model.named_buffers()}
        return {
            k: v.detach().to("cpu", copy=True)
            for k, v in self.model.state_dict().items()
            if k in names
        }

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        assert self.model is not None
        missing = set(state) - set(self.model.state_dict())
        if missing:
            raise RuntimeError(f"checkpoint does not fit this model: {sorted(missing)[:3]}")
        self.model.load_state_dict(state, strict=False)

    @abstractmethod
    def save(self, model_dir: Path) -> dict[str, Any]:
        """Write the trained model to ``model_dir``; return what the predictor needs to know."""

    def describe(self) -> dict[str, Any]:
        """Parameter counts for the report."""
        assert self.model is not None
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"parameters": total, "trainable_parameters": trainable}
