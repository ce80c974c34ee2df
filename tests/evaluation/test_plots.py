"""The plots are real PNG files, named after their heads, drawn without pyplot's global state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from jupyter_automl.evaluation import head_metrics, write_plots

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["cat", "dog", "fox", "owl"]


def assert_png(path):
    assert path.read_bytes()[:8] == PNG
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100


@pytest.fixture
def metrics():
    rng = np.random.default_rng(0)
    truth = rng.choice(CLASSES[:3], size=60).tolist()  # owl has no positive: no curve to draw
    return head_metrics(truth, rng.dirichlet([1] * 4, size=60), CLASSES)


def test_write_plots_for_classification_heads(tmp_path, metrics):
    figures_before = plt.get_fignums()
    unlabelled = head_metrics([None] * 3, np.full((3, 4), 0.25), CLASSES)
    heads = {"topic/main": metrics, "topic_main": unlabelled, "unlabelled": unlabelled}
    history = [
        {"epoch": 1.0, "step": 5, "train_loss": 1.0, "loss": 0.9, "topic/main/balanced_accuracy": 0.5,
         "topic/main/macro_f1": None, "topic_main/macro_f1": 0.3, "unlabelled/macro_f1": None},
        {"epoch": 2.0, "step": 10, "train_loss": 0.8, "loss": 0.7, "topic/main/balanced_accuracy": 0.6,
         "topic/main/macro_f1": 0.5, "topic_main/macro_f1": 0.4, "unlabelled/macro_f1": None},
    ]
    paths = write_plots({"heads": heads}, history, tmp_path / "plots", selection={"step": 10})
    # Two heads with the same file-safe name keep apart; a head with nothing to show gets no plot.
    assert [p.name for p in paths] == [
        "pr_topic_main.png", "confusion_topic_main.png", "loss.png",
        "history_topic_main.png", "history_topic_main_2.png",
    ]
    assert all(p.parent == tmp_path / "plots" for p in paths)
    for path in paths:
        assert_png(path)
    assert plt.get_fignums() == figures_before  # nothing left in pyplot's global state
    assert [p.name for p in write_plots({"heads": heads}, [], tmp_path / "no_history")] == [
        "pr_topic_main.png", "confusion_topic_main.png",
    ]


def test_write_plots_for_an_llm(tmp_path):
    history = [
        {"epoch": 1.0, "step": 3, "train_loss": 2.0, "loss": 1.8, "token_accuracy": 0.3},
        {"epoch": 2.0, "step": 6, "train_loss": 1.5, "loss": 1.6, "token_accuracy": 0.35},
    ]
    metrics = {"loss": 1.6, "token_accuracy": 0.35, "tokens": 100}
    paths = write_plots(metrics, history, tmp_path, selection={"step": 6})
    assert [p.name for p in paths] == ["loss.png", "token_accuracy.png"]
    for path in paths:
        assert_png(path)
