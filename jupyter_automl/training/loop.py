"""The training loop shared by every model type.

It owns what is the same everywhere: AdamW with linear warm-up and decay, gradient
accumulation, mixed precision, evaluation every epoch or every N steps, selection of the best
evaluation by the rule on the label, early stopping, stop requests and resumable checkpoints.
The selected weights are put back into the model at the end: they, not the last ones, are
what gets saved.

In a run of several processes (``parallel.py``), each optimizer step's micro-batches are shared
among them and their gradients summed, so ``batch_size`` is per process; rank 0 alone
evaluates, keeps checkpoints and reports, and tells the others when to stop.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluation import is_better, selection_value
from .callbacks import CallbackList, StopSignal, TrainingState
from .devices import seed_everything
from .options import ResolvedOptions
from .parallel import SINGLE, Group
from .task import Task

CHECKPOINT_FORMAT = 1


@dataclass
class LoopOutcome:
    state: TrainingState
    best_metrics: dict[str, Any] | None
    stopped_early: bool  # no improvement for `early_stopping` evaluations
    stop_requested: bool
    resumed_from_step: int | None


def history_entry(metrics: dict[str, Any]) -> dict[str, Any]:
    """The scalar metrics of one evaluation, flat: ``loss``, ``token_accuracy``, ``<head>/<metric>``."""
    entry: dict[str, Any] = {}
    for key in ("loss", "token_accuracy", "tokens"):
        if key in metrics:
            entry[key] = metrics[key]
    for head, values in (metrics.get("heads") or {}).items():
        for key in ("balanced_accuracy", "macro_f1", "accuracy"):
            entry[f"{head}/{key}"] = values.get(key)
        entry[f"{head}/per_class"] = values.get("per_class")
    return entry


def _linear_schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


class _Checkpoints:
    """``best.pt`` (the selected weights) and ``last.pt`` (everything needed to resume)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        tmp = self.folder / f".{name}.tmp"
        torch.save(payload, tmp)
        os.replace(tmp, self.folder / name)

    def save_best(self, weights: dict[str, torch.Tensor]) -> None:
        self._write("best.pt", {"format": CHECKPOINT_FORMAT, "weights": weights})

    def load_best(self) -> dict[str, torch.Tensor] | None:
        path = self.folder / "best.pt"
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=False)["weights"]

    def save_last(self, payload: dict[str, Any]) -> None:
        self._write("last.pt", {"format": CHECKPOINT_FORMAT, **payload})

    def load_last(self) -> dict[str, Any] | None:
        path = self.folder / "last.pt"
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=False)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_loop(
    task: Task,
    options: ResolvedOptions,
    *,
    checkpoint_dir: Path,
    callbacks: CallbackList,
    stop: StopSignal,
    resume: bool = False,
    group: Group = SINGLE,
) -> LoopOutcome:
    """Train ``task.model`` and leave the selected weights in it (on rank 0 of a group)."""
    model = task.model
    assert model is not None
    placement = task.placement
    device = placement.device
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError("nothing to train: the model has no trainable parameters")
    fused = placement.device.type == "cuda"
    optimizer = torch.optim.AdamW(
        params, lr=options.learning_rate, weight_decay=options.weight_decay, fused=fused
    )
    epochs = [task.train_batches(e) for e in range(options.max_epochs)]
    accumulation = options.gradient_accumulation
    per_step = accumulation * group.size  # micro-batches in one optimizer step
    steps_per_epoch = [math.ceil(len(b) / per_step) for b in epochs]
    total_steps = sum(steps_per_epoch)
    if options.max_steps is not None:
        total_steps = min(total_steps, options.max_steps)
    if total_steps == 0:
        raise RuntimeError("no training batches: the training data is empty")
    warmup = int(options.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total_steps))
    scaler = torch.amp.GradScaler("cuda") if placement.dtype == torch.float16 else None

    checkpoints = _Checkpoints(checkpoint_dir)
    state = TrainingState(total_steps=total_steps, max_epochs=options.max_epochs)
    start_epoch, skip_windows, resumed_from = 0, 0, None
    last = checkpoints.load_last() if resume else None
    if last is not None:
        task.load_trainable_state(last["weights"])
        optimizer.load_state_dict(last["optimizer"])
        scheduler.load_state_dict(last["scheduler"])
        _set_rng_state(last["rng"])
        for key, value in last["state"].items():
            setattr(state, key, value)
        state.total_steps = total_steps
        start_epoch, skip_windows = last["epoch_index"], last["window"]
        resumed_from = state.step
        callbacks.on_log(
            state, f"resumed from the checkpoint at step {state.step} (epoch {state.epoch:.2f})"
        )
    else:
        if not resume and group.leader:
            checkpoints.clear()
            checkpoints = _Checkpoints(checkpoint_dir)
        # Dropout and augmentation draw from here: the same seed gives the same run, whatever
        # ran in this process before.
        seed_everything(options.seed)
    group.same_weights(model)
    if not group.leader:
        seed_everything(options.seed + group.rank)  # its own dropout and augmentations

    rule, label = options.selection_rule, options.selection_label
    stopped_early = stop_requested = False
    window_losses: list[float] = []
    samples_seen = tokens_seen = 0
    started = time.perf_counter()
    elapsed_before = state.elapsed_seconds
    last_eval_step = state.history[-1]["step"] if state.history else None

    def autocast():
        if placement.autocast:
            return torch.autocast(placement.device.type, dtype=placement.dtype)
        return nullcontext()

    def evaluate(position: tuple[int, int]) -> bool:
        """Score the validation rows on rank 0; keep the weights if best. True (on every rank)
        when training should stop."""
        nonlocal last_eval_step
        if not group.leader:
            last_eval_step = state.step
            return group.leaders(False, device)
        state.phase = "evaluating"
        metrics = task.evaluate("validation")
        value = selection_value(metrics, rule, label)
        entry = {
            "epoch": round(state.epoch, 4),
            "step": state.step,
            "train_loss": state.loss,
            "selection_value": value,
            **history_entry(metrics),
        }
        improved = is_better(rule, value, state.best_value)
        if improved:
            state.best_value, state.best_step = value, state.step
            state.evaluations_without_improvement = 0
            checkpoints.save_best(task.trainable_state())
        else:
            state.evaluations_without_improvement += 1
        entry["improved"] = improved
        state.history.append(entry)
        last_eval_step = state.step
        callbacks.on_evaluate(state, metrics)
        checkpoints.save_last(
            {
                "weights": task.trainable_state(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "state": {
                    "step": state.step,
                    "epoch": state.epoch,
                    "loss": state.loss,
                    "elapsed_seconds": state.elapsed_seconds,
                    "best_step": state.best_step,
                    "best_value": state.best_value,
                    "evaluations_without_improvement": state.evaluations_without_improvement,
                    "history": state.history,
                },
                "epoch_index": position[0],
                "window": position[1],
            }
        )
        model.train()
        state.phase = "training"
        patience = options.early_stopping
        return group.leaders(
            patience is not None and state.evaluations_without_improvement >= patience, device
        )

    model.train()
    state.phase = "training"
    callbacks.on_train_begin(state)
    done = False
    position = (start_epoch, skip_windows)  # where a resumed run would go on from
    for epoch_index in range(start_epoch, options.max_epochs):
        batches = epochs[epoch_index]
        windows = [batches[i : i + per_step] for i in range(0, len(batches), per_step)]
        first = skip_windows if epoch_index == start_epoch else 0
        for w, window in enumerate(windows[first:], start=first):
            loaded = [task.load_batch(spec) for spec in group.share(window)]
            count, samples, tokens = group.totals(
                [sum(b.count for b in loaded), sum(b.samples for b in loaded),
                 sum(b.tokens for b in loaded)], device,
            )
            if count == 0:
                continue
            samples_seen += int(samples)
            tokens_seen += int(tokens)
            window_loss = 0.0
            for batch in loaded:
                with autocast():
                    loss = task.loss_sum(batch.inputs) / count
                window_loss += float(loss.detach())
                (scaler.scale(loss) if scaler else loss).backward()
            group.sum_gradients(params)
            (window_loss,) = group.totals([window_loss], device)
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            state.step += 1
            state.epoch = epoch_index + (w + 1) / len(windows)
            window_losses = (window_losses + [window_loss])[-20:]
            state.loss = sum(window_losses) / len(window_losses)
            state.learning_rate = scheduler.get_last_lr()[0]
            run_seconds = time.perf_counter() - started
            state.elapsed_seconds = elapsed_before + run_seconds
            state.samples_per_second = samples_seen / run_seconds if run_seconds else None
            state.tokens_per_second = tokens_seen / run_seconds if tokens_seen and run_seconds else None
            done_here = state.step - (resumed_from or 0)
            state.eta_seconds = run_seconds / done_here * (total_steps - state.step)
            position = (epoch_index, w + 1) if w + 1 < len(windows) else (epoch_index + 1, 0)
            callbacks.on_step_end(state)

            if options.eval_steps and state.step % options.eval_steps == 0:
                if evaluate(position):
                    stopped_early = True
            if group.any(stop.requested, device):
                stop_requested = True
            if options.max_steps is not None and state.step >= options.max_steps:
                done = True
            if stopped_early or stop_requested or done:
                break
        if stopped_early or stop_requested:
            break
        if not options.eval_steps and not done and evaluate(position):
            stopped_early = True
        callbacks.on_epoch_end(state)
        if stopped_early or done:
            break
    if group.leaders(last_eval_step != state.step or state.best_value is None, device):
        evaluate(position)

    best = checkpoints.load_best() if group.leader else None
    if best is not None:
        task.load_trainable_state(best)
    model.eval()
    best_metrics = None
    for entry in state.history:
        if entry["step"] == state.best_step:
            best_metrics = entry
    state.eta_seconds = 0.0
    return LoopOutcome(state, best_metrics, stopped_early, stop_requested, resumed_from)
