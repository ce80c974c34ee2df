"""LLM loss and token accuracy by hand, the base-vs-tuned comparison, and the PNG plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from jupyter_automl.evaluation import (
    LossAccumulator,
    compare,
    completion_token_stats,
    head_metrics,
    write_plots,
)


def test_loss_and_token_accuracy_count_only_completion_tokens_shifted_by_one():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, -100, -100]])
    loss_sum, correct, count = completion_token_stats(logits, labels)
    # position t predicts token t+1: the targets are labels[:, 1:] where not -100
    pairs = [(0, 1, 3), (0, 2, 4), (1, 0, 1), (1, 1, 2)]
    expected = sum(float(torch.nn.functional.cross_entropy(logits[b, t][None], torch.tensor([y]))) for b, t, y in pairs)
    hits = sum(int(logits[b, t].argmax() == y) for b, t, y in pairs)
    assert count == 4 and correct == hits and loss_sum == pytest.approx(expected, rel=1e-5)
    totals = LossAccumulator()
    totals.add(loss_sum, correct, count)
    totals.add(0.0, 0, 0)
    assert totals.result() == pytest.approx({"loss": expected / 4, "token_accuracy": hits / 4, "tokens": 4})
    assert LossAccumulator().result() == {"loss": None, "token_accuracy": None, "tokens": 0}


def test_compare_gives_absolute_and_percent_change_against_the_base():
    out = compare({"loss": 2.0, "token_accuracy": 0.0}, {"loss": 1.5, "token_accuracy": 0.4})
    assert out["loss"] == {"base": 2.0, "tuned": 1.5, "change": -0.5, "change_percent": -25.0}
    assert out["token_accuracy"]["change"] == pytest.approx(0.4) and out["token_accuracy"]["change_percent"] is None


def test_plots_are_real_png_files(tmp_path):
    rng = np.random.default_rng(0)
    classes = [f"class {i}" for i in range(12)]
    truth = rng.choice(classes, size=300).tolist()
    metrics = {"heads": {"topic/main": head_metrics(truth, rng.dirichlet([1] * 12, size=300), classes)}}
    history = [
        {"epoch": 1.0, "step": 5, "train_loss": 1.0, "loss": 0.9, "topic/main/balanced_accuracy": 0.5, "topic/main/macro_f1": 0.4},
        {"epoch": 2.0, "step": 10, "train_loss": 0.8, "loss": 0.7, "topic/main/balanced_accuracy": 0.6, "topic/main/macro_f1": 0.5},
    ]
    paths = write_plots(metrics, history, tmp_path / "plots", selection={"step": 10})
    names = sorted(p.name for p in paths)
    assert names == ["confusion_topic_main.png", "history_topic_main.png", "loss.png", "pr_topic_main.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            assert image.width > 100 and image.height > 100
