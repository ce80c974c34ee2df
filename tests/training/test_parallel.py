"""One run in several processes (training/launcher.py, training/parallel.py), on the CPU with
gloo as on GPUs with NCCL: the same updates as one process, rank 0's progress in the caller,
stop requests, errors and a killed caller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_automl.errors import DataValidationError, InvalidInput
from jupyter_automl.training import StopSignal, train
from jupyter_automl.training.callbacks import Callback
from jupyter_automl.training.launcher import EVENTS, LAUNCH_SUFFIX, processes_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[2]
# No dropout, so that two processes and one can be compared number for number.
EXACT = {"max_epochs": 2, "learning_rate": 5e-3, "batch_size": 4, "lora_dropout": 0.0}


class Seen(Callback):
    def __init__(self, stop_at: int | None = None, stop: StopSignal | None = None) -> None:
        self.hooks: list[str] = []
        self.steps: list[int] = []
        self.logs: list[str] = []
        self.evaluations: list[dict] = []
        self.stop_at, self.stop = stop_at, stop

    def on_prepared(self, state, preparation):
        self.hooks.append("prepared")
        self.splits = preparation["splits"]

    def on_train_begin(self, state):
        self.hooks.append("begin")
        self.total_steps = state.total_steps

    def on_step_end(self, state):
        self.steps.append(state.step)
        if self.stop_at is not None and state.step >= self.stop_at:
            self.stop.request()

    def on_evaluate(self, state, metrics):
        self.evaluations.append(metrics)
        self.history = list(state.history)

    def on_log(self, state, message):
        self.logs.append(message)

    def on_train_end(self, state):
        self.hooks.append("end")


def test_two_processes_make_the_updates_of_one_with_twice_the_accumulation(tiny_llm, chat_snapshot, tmp_path):
    seen = Seen()
    two = train(chat_snapshot, tiny_llm, EXACT, out_dir=tmp_path / "two", processes=2, callbacks=[seen])
    one = train(chat_snapshot, tiny_llm, {**EXACT, "gradient_accumulation": 2}, out_dir=tmp_path / "one")

    # Each step shares its micro-batches between the processes and sums their gradients: the
    # same step count, the same losses at every evaluation, the same test scores.
    assert two.metrics["steps"] == one.metrics["steps"] > 0
    assert [e["step"] for e in two.history] == [e["step"] for e in one.history]
    for a, b in zip(two.history, one.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert two.metrics["test"]["loss"] == pytest.approx(one.metrics["test"]["loss"], rel=1e-5)
    assert two.metrics["base"]["loss"] == pytest.approx(one.metrics["base"]["loss"], rel=1e-6)
    assert two.metrics["processes"] == 2 and two.metrics["device"] == "2 x CPU (float32)"
    assert one.metrics["processes"] == 1 and one.metrics["device"] == "CPU (float32)"

    # Rank 0's progress reached the caller's callbacks, in order.
    assert seen.hooks == ["prepared", "begin", "end"]
    assert seen.steps == list(range(1, two.metrics["steps"] + 1)) == list(range(1, seen.total_steps + 1))
    assert len(seen.evaluations) == len(two.history) and seen.history == two.history
    assert any("scoring the base model" in m for m in seen.logs)
    assert seen.splits == {"train": 108, "validation": 12, "test": 30}
    assert not Path(str(tmp_path / "two") + LAUNCH_SUFFIX).exists()
    assert not (tmp_path / "two.partial").exists()


def test_a_stop_request_in_the_caller_stops_every_process_and_keeps_the_best(tiny_llm, chat_snapshot, tmp_path):
    stop = StopSignal()
    seen = Seen(stop_at=3, stop=stop)
    result = train(chat_snapshot, tiny_llm, {**EXACT, "max_epochs": 30}, out_dir=tmp_path / "v",
                   processes=2, callbacks=[seen], stop=stop)
    assert result.stop_requested and "stopped on request" in result.selection["why"]
    assert 3 <= result.metrics["steps"] < seen.total_steps
    assert (result.version_dir / "model" / "adapter" / "adapter_config.json").is_file()


def test_a_data_error_in_the_processes_is_raised_in_the_caller_with_its_details(tiny_llm, chat_snapshot, tmp_path):
    with pytest.raises(DataValidationError) as raised:
        train(chat_snapshot, tiny_llm, {**EXACT, "max_tokens": 16}, out_dir=tmp_path / "v", processes=2)
    assert "max_invalid_row_percent" in raised.value.message
    assert raised.value.details["invalid_rows"] and raised.value.details["limit"] == 5
    assert not (tmp_path / "v").exists() and not Path(str(tmp_path / "v") + LAUNCH_SUFFIX).exists()


def test_killing_the_caller_ends_every_process_and_a_resumed_run_goes_on_from_its_checkpoint(
        tiny_llm, chat_snapshot, tmp_path):
    out = tmp_path / "v"
    options = {"max_epochs": 200, "batch_size": 4, "eval_steps": 2, "max_steps": 60}
    script = (
        "import json, sys, torch\n"
        "from jupyter_automl.base_models.entry import BaseModelEntry\n"
        "from jupyter_automl.training import train\n"
        "entry = BaseModelEntry.from_dict(json.loads(sys.argv[1]))\n"
        "train(sys.argv[2], entry, json.loads(sys.argv[3]), out_dir=sys.argv[4], processes=2)\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", script, json.dumps(tiny_llm.to_dict()),
                               str(chat_snapshot), json.dumps(options), str(out)], cwd=ROOT)
    events = Path(str(out) + LAUNCH_SUFFIX) / EVENTS
    deadline = time.monotonic() + 120
    while not (events.exists() and b"on_evaluate" in events.read_bytes()):
        assert caller.poll() is None and time.monotonic() < deadline, "training never evaluated"
        time.sleep(0.05)
    assert len(_processes_of(out)) == 3  # torch.distributed.run and its two ranks
    os.kill(caller.pid, signal.SIGKILL)  # as the job system ends a cancelled job's kernel
    caller.wait()
    deadline = time.monotonic() + 30
    while _processes_of(out):
        assert time.monotonic() < deadline, f"still running: {_processes_of(out)}"
        time.sleep(0.2)
    assert not out.exists() and (tmp_path / "v.partial" / "checkpoints" / "last.pt").is_file()

    # A re-queued job's new attempt: every process starts from rank 0's last checkpoint.
    seen = Seen()
    result = train(chat_snapshot, tiny_llm, options, out_dir=out, processes=2, resume=True,
                   callbacks=[seen])
    resumed = [m for m in seen.logs if m.startswith("resumed from the checkpoint at step")]
    assert len(resumed) == 1 and int(resumed[0].split()[6]) >= 2
    assert result.metrics["steps"] == 60 and seen.steps[0] > 2 and seen.steps[-1] == 60


def _processes_of(out: Path) -> list[int]:
    """The launcher and rank processes of the run writing ``out``."""
    marker = (str(out) + LAUNCH_SUFFIX).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_process_count_is_checked_before_anything_starts():
    assert processes_for(None, None) == 1  # no GPU here: one process
    assert processes_for(None, "cpu") == 1 and processes_for(3, None) == 3
    with pytest.raises(InvalidInput, match="processes: at least 1"):
        processes_for(0, None)
    with pytest.raises(InvalidInput, match="leave device out"):
        processes_for(2, "cpu")
