"""LLM metrics (DESIGN §6): teacher-forced loss and token accuracy over completion tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F


def token_stats_from_selected(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, int, int]:
    """(sum of cross-entropy, correct argmax predictions, tokens) for gathered positions.

    ``logits`` is ``[N, vocab]``, the predictions for the ``N`` completion tokens ``targets``.
    The cross-entropy is computed in float32 whatever the model's dtype.
    """
    if targets.numel() == 0:
        return 0.0, 0, 0
    logits = logits.float()
    loss = F.cross_entropy(logits, targets, reduction="sum")
    correct = (logits.argmax(dim=-1) == targets).sum()
    return float(loss), int(correct), int(targets.numel())


def completion_token_stats(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, int, int]:
    """The same from full logits ``[..., T, vocab]`` and ``labels`` ``[..., T]``.

    Teacher forcing: position t predicts token t + 1, so ``logits[..., :-1]`` is scored against
    ``labels[..., 1:]``; labels of -100 (prompt, padding) are not counted. The mask selects the
    completion positions before anything is copied, as the full logits can be large.
    """
    targets = labels[..., 1:]
    keep = targets != -100
    return token_stats_from_selected(logits[..., :-1, :][keep], targets[keep])


class LossAccumulator:
    """Sums token statistics over batches; ``result()`` gives the means."""

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.correct = 0
        self.tokens = 0

    def add(self, loss_sum: float, correct: int, count: int) -> None:
        self.loss_sum += loss_sum
        self.correct += correct
        self.tokens += count

    def result(self) -> dict[str, Any]:
        if not self.tokens:
            return {"loss": None, "token_accuracy": None, "tokens": 0}
        return {
            "loss": self.loss_sum / self.tokens,
            "token_accuracy": self.correct / self.tokens,
            "tokens": self.tokens,
        }


def compare(base: Mapping[str, Any], tuned: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Base model vs fine-tuned: both values, the change and the change in percent of the base."""
    out = {}
    for key in ("loss", "token_accuracy"):
        before, after = base.get(key), tuned.get(key)
        change = after - before if before is not None and after is not None else None
        percent = 100.0 * change / before if change is not None and before else None
        out[key] = {"base": before, "tuned": after, "change": change, "change_percent": percent}
    return out
