"""The shared training loop: selection, early stopping, stop requests, resume, accumulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.training.callbacks import Callback, CallbackList, StopSignal
from jupyter_automl.training.devices import choose_placement, seed_everything
from jupyter_automl.training.loop import run_loop
from jupyter_automl.training.options import resolve_options
from jupyter_automl.training.task import Batch, Preparation, Task

ENTRY = BaseModelEntry.from_dict(
    {"name": "toy", "model_types": ["text_classification"], "source": "local", "location": "/toy"}
)


class ToyTask(Task):
    """Logistic regression on fixed data; validation scores may follow a script."""

    def __init__(self, options, script=None, rows=32):
        empty = pd.DataFrame()
        super().__init__(options, choose_placement("fp32"), entry=ENTRY, train_rows=empty,
                         validation_rows=empty, test_rows=empty)
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(rows, 4, generator=generator)
        self.y = (self.x[:, 0] > 0).long()
        self.script = list(script or [])
        self.evaluations = 0
        self.weights_at_eval: list[torch.Tensor] = []

    def prepare(self):
        seed_everything(self.options.seed)
        self.model = torch.nn.Linear(4, 2)
        return Preparation(rows=len(self.x))

    def train_batches(self, epoch):
        order = np.random.default_rng((self.options.seed, epoch)).permutation(len(self.x))
        size = self.options.batch_size
        return [order[i : i + size].tolist() for i in range(0, len(order), size)]

    def load_batch(self, spec):
        return Batch({"x": self.x[spec], "y": self.y[spec]}, count=len(spec), samples=len(spec))

    def loss_sum(self, inputs):
        return torch.nn.functional.cross_entropy(self.model(inputs["x"]), inputs["y"], reduction="sum")

    def evaluate(self, split):
        self.weights_at_eval.append(self.model.weight.detach().clone())
        with torch.no_grad():
            accuracy = float((self.model(self.x).argmax(1) == self.y).float().mean())
        value = self.script[self.evaluations] if self.evaluations < len(self.script) else accuracy
        self.evaluations += 1
        head = {"balanced_accuracy": value, "macro_f1": value, "accuracy": accuracy, "per_class": {}}
        return {"loss": 1 - value, "heads": {"y": head}}

    def save(self, model_dir: Path):
        return {}


def options(**values):
    values.setdefault("batch_size", 8)
    values.setdefault("validation_percent", 0)
    return resolve_options(values, model_type="text_classification", base_model=ENTRY, heads=["y"])


def run(task, tmp_path, *, callbacks=(), stop=None, resume=False):
    task.prepare()
    return run_loop(task, task.options, checkpoint_dir=tmp_path / "ck", callbacks=CallbackList(callbacks),
                    stop=stop or StopSignal(), resume=resume)


def test_the_selected_weights_are_the_best_evaluations_not_the_last(tmp_path):
    task = ToyTask(options(max_epochs=4), script=[0.5, 0.9, 0.6, 0.7])
    outcome = run(task, tmp_path)
    assert [e["selection_value"] for e in outcome.state.history] == [0.5, 0.9, 0.6, 0.7]
    assert outcome.state.best_step == outcome.state.history[1]["step"] == 8
    assert outcome.best_metrics["epoch"] == 2.0
    assert torch.equal(task.model.weight, task.weights_at_eval[1])
    assert not torch.equal(task.model.weight, task.weights_at_eval[3])


def test_loss_selection_keeps_the_lowest_loss(tmp_path):
    task = ToyTask(options(max_epochs=3, selection_rule="loss"), script=[0.2, 0.4, 0.3])
    outcome = run(task, tmp_path)  # loss = 1 - value: 0.8, 0.6, 0.7
    assert outcome.state.best_value == pytest.approx(0.6)
    assert torch.equal(task.model.weight, task.weights_at_eval[1])


def test_early_stopping_stops_after_n_evaluations_without_improvement(tmp_path):
    task = ToyTask(options(max_epochs=10, early_stopping=2), script=[0.5, 0.8, 0.6, 0.7, 0.9, 0.95])
    outcome = run(task, tmp_path)
    assert outcome.stopped_early and len(outcome.state.history) == 4
    assert outcome.state.step == 16 and outcome.state.best_step == 8


def test_evaluation_every_n_steps(tmp_path):
    task = ToyTask(options(max_epochs=2, eval_steps=3))  # 4 steps per epoch, 8 in all
    outcome = run(task, tmp_path)
    assert [e["step"] for e in outcome.state.history] == [3, 6, 8]


def test_a_stop_request_ends_training_at_the_next_step_and_keeps_the_best(tmp_path):
    signal = StopSignal()

    class StopAtFive(Callback):
        def on_step_end(self, state):
            if state.step == 5:
                signal.request()

    task = ToyTask(options(max_epochs=5), script=[0.9, 0.1])
    outcome = run(task, tmp_path, callbacks=[StopAtFive()], stop=signal)
    assert outcome.stop_requested and outcome.state.step == 5
    assert [e["step"] for e in outcome.state.history] == [4, 5]
    assert torch.equal(task.model.weight, task.weights_at_eval[0])


def test_a_stop_file_from_another_process_stops_the_run(tmp_path):
    flag = tmp_path / "stop"

    class TouchAtTwo(Callback):
        def on_step_end(self, state):
            if state.step == 2:
                flag.touch()

    outcome = run(ToyTask(options(max_epochs=3)), tmp_path, callbacks=[TouchAtTwo()], stop=StopSignal(flag))
    assert outcome.stop_requested and outcome.state.step == 2


def test_resuming_an_interrupted_run_ends_where_an_uninterrupted_run_ends(tmp_path):
    whole = ToyTask(options(max_epochs=3))
    run(whole, tmp_path / "a")

    signal = StopSignal()

    class StopAtSix(Callback):
        def on_step_end(self, state):
            if state.step == 6:
                signal.request()

    first = ToyTask(options(max_epochs=3))
    run(first, tmp_path / "b", callbacks=[StopAtSix()], stop=signal)
    second = ToyTask(options(max_epochs=3))
    outcome = run(second, tmp_path / "b", resume=True)
    assert outcome.resumed_from_step == 6 and outcome.state.step == 12
    assert [e["step"] for e in outcome.state.history][-1] == 12
    assert torch.allclose(second.model.weight, whole.model.weight, atol=1e-6)


def test_gradient_accumulation_matches_one_larger_batch(tmp_path):
    big = ToyTask(options(max_epochs=1, batch_size=16, max_steps=1, warmup_ratio=0))
    run(big, tmp_path / "a")
    small = ToyTask(options(max_epochs=1, batch_size=8, gradient_accumulation=2, max_steps=1, warmup_ratio=0))
    small.train_batches = lambda epoch: [b for b in big.train_batches(epoch)[0:1] for b in (b[:8], b[8:])]
    run(small, tmp_path / "b")
    assert torch.allclose(small.model.weight, big.model.weight, atol=1e-6)


def test_progress_reports_steps_epochs_loss_and_eta(tmp_path):
    seen = []

    class Record(Callback):
        def on_step_end(self, state):
            seen.append((state.step, state.total_steps, state.epoch, state.loss, state.eta_seconds))

    run(ToyTask(options(max_epochs=2)), tmp_path, callbacks=[Record()])
    assert [s[0] for s in seen] == list(range(1, 9)) and all(s[1] == 8 for s in seen)
    assert seen[3][2] == 1.0 and seen[-1][2] == 2.0
    assert all(s[3] is not None and s[3] > 0 for s in seen)
    assert seen[-1][4] == 0 and all(s[4] >= 0 for s in seen)
