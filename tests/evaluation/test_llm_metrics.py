"""LLM loss and token accuracy against a hand computation, and the base-vs-tuned comparison."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jupyter_automl.evaluation import (
    LossAccumulator,
    compare,
    completion_token_stats,
    token_stats_from_selected,
)

LABELS = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, -100, -100]])
# Position t predicts token t + 1: (batch, position of the prediction, target) for each completion token.
PAIRS = [(0, 1, 3), (0, 2, 4), (1, 0, 1), (1, 1, 2)]


def by_hand(logits):
    loss = sum(float(F.cross_entropy(logits[b, t].float()[None], torch.tensor([y]))) for b, t, y in PAIRS)
    hits = sum(int(logits[b, t].argmax() == y) for b, t, y in PAIRS)
    return loss, hits


def test_only_completion_tokens_count_each_predicted_from_the_position_before():
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    logits[0, 1, 3] = logits[1, 0, 1] = 10.0  # two sure hits, so accuracy is not trivially 0
    loss, hits = by_hand(logits)
    loss_sum, correct, count = completion_token_stats(logits, LABELS)
    assert count == 4 and correct == hits and hits >= 2
    assert loss_sum == pytest.approx(loss, rel=1e-5)
    assert isinstance(loss_sum, float) and isinstance(correct, int) and isinstance(count, int)


def test_low_precision_logits_are_scored_in_float32():
    logits = (3 * torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(1))).bfloat16()
    loss, _ = by_hand(logits)  # float32 cross-entropy of the bfloat16 values
    assert completion_token_stats(logits, LABELS)[0] == pytest.approx(loss, rel=1e-6)


def test_gathered_positions_give_the_same_stats():
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(2))
    selected = torch.stack([logits[b, t] for b, t, _ in PAIRS])
    targets = torch.tensor([y for _, _, y in PAIRS])
    expected = completion_token_stats(logits, LABELS)
    assert token_stats_from_selected(selected, targets) == pytest.approx(expected)
    assert token_stats_from_selected(selected[:0], targets[:0]) == (0.0, 0, 0)
    assert completion_token_stats(logits, torch.full((2, 5), -100)) == (0.0, 0, 0)


def test_the_accumulator_averages_over_tokens_not_batches():
    totals = LossAccumulator()
    assert totals.result() == {"loss": None, "token_accuracy": None, "tokens": 0}
    totals.add(6.0, 1, 3)
    totals.add(0.0, 0, 0)
    totals.add(2.0, 1, 1)
    assert totals.result() == {"loss": 2.0, "token_accuracy": 0.5, "tokens": 4}


def test_compare_gives_the_absolute_and_percent_change_against_the_base():
    out = compare({"loss": 2.0, "token_accuracy": 0.25}, {"loss": 1.5, "token_accuracy": 0.4})
    assert out == {
        "loss": {"base": 2.0, "tuned": 1.5, "change": -0.5, "change_percent": -25.0},
        "token_accuracy": {
            "base": 0.25, "tuned": 0.4, "change": pytest.approx(0.15), "change_percent": pytest.approx(60.0)
        },
    }
    zero = compare({"loss": 1.0, "token_accuracy": 0.0}, {"loss": 1.0, "token_accuracy": 0.5})
    assert zero["token_accuracy"] == {"base": 0.0, "tuned": 0.5, "change": 0.5, "change_percent": None}
    assert zero["loss"] == {"base": 1.0, "tuned": 1.0, "change": 0.0, "change_percent": 0.0}
    missing = compare({"loss": None, "token_accuracy": None}, {"loss": 1.0, "token_accuracy": 0.5})
    assert missing["loss"] == {"base": None, "tuned": 1.0, "change": None, "change_percent": None}
