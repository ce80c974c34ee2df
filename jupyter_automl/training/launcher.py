"""One training run on several GPUs: the caller starts a process per GPU and follows rank 0.

``train(..., processes=N)`` (by default: every GPU this process sees, which the job system
sets per job with ``CUDA_VISIBLE_DEVICES``) starts ``torch.distributed.run`` with N processes
(what ``accelerate launch --multi_gpu`` runs). Each process joins the group through
accelerate's ``PartialState`` (NCCL between GPUs, gloo on a CPU) and runs the same training,
sharing each step's micro-batches (``parallel.py``). The caller stays what it was, a notebook
kernel or a script:

- rank 0 writes its progress events to a file that the caller replays into its own callbacks,
  so the notebook's progress bar and live curve and the job's progress work as in one process;
- a stop request in the caller reaches every rank (a file they check at each step);
- an error in a rank is raised in the caller with its type and message (a data error stays a
  ``DataValidationError`` with its details);
- if the caller dies (a cancelled job's kernel is killed), the ranks end themselves.

The processes work in ``<out_dir>.launch``, removed when the run ends.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .. import errors
from ..errors import AutoMLError, InvalidInput
from .callbacks import CallbackList, Forwarding, StopSignal, TrainingState

LAUNCH_SUFFIX = ".launch"
EVENTS = "events.jsonl"
STOP = "stop"
LOG = "ranks.log"
# Rank 0 evaluates while the others wait in a collective; that wait must outlast the longest
# evaluation (the base model's, on every test row).
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)


def processes_for(processes: int | None, device: str | None) -> int:
    """How many processes a run gets: as asked, else one per visible GPU (one without GPUs)."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if processes is None:
        return 1 if device is not None else max(1, gpus)
    if processes < 1:
        raise InvalidInput(f"processes: at least 1, got {processes}")
    if processes > 1 and device is not None:
        raise InvalidInput("device: a run of several processes gives each its own GPU; leave device out")
    if gpus and processes > gpus:
        raise InvalidInput(f"processes: {processes} asked for, but this process sees {gpus} GPU(s)")
    return processes


class Relay(Forwarding):
    """Rank 0's callback: every hook becomes a line in the events file."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")
        self.history_sent = -1

    def forward(self, hook: str, state: TrainingState, *args: Any) -> None:
        fields = dataclasses.asdict(state)
        if len(state.history) == self.history_sent:
            del fields["history"]  # unchanged: the caller keeps the last one it got
        self.history_sent = len(state.history)
        self.file.write(json.dumps({"hook": hook, "state": fields, "args": list(args)},
                                   default=_plain) + "\n")
        self.file.flush()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class _Replay:
    """The caller's side of the relay: new events go to its callbacks, with one live state."""

    def __init__(self, path: Path, callbacks: CallbackList) -> None:
        self.path = path
        self.callbacks = callbacks
        self.state = TrainingState()
        self.offset = 0

    def pump(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next pump
        self.offset += end
        for line in chunk[:end].splitlines():
            event = json.loads(line)
            for key, value in event["state"].items():
                setattr(self.state, key, value)
            self.callbacks.forward(event["hook"], self.state, *event["args"])


def launch(spec: dict[str, Any], *, processes: int, out_dir: Path, callbacks: CallbackList,
           stop: StopSignal) -> None:
    """Run ``spec`` (``run.py``'s arguments, as JSON) in ``processes`` processes; return when
    rank 0 has written the version directory, raise what a rank raised otherwise."""
    folder = Path(str(out_dir) + LAUNCH_SUFFIX)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({**spec, "caller": os.getpid()}), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
               f"--nproc-per-node={processes}", "-m", __name__, str(folder)]
    replay = _Replay(folder / EVENTS, callbacks)
    try:
        with (folder / LOG).open("wb") as log:
            ranks = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            try:
                while ranks.poll() is None:
                    replay.pump()
                    if stop.requested and not (folder / STOP).exists():
                        (folder / STOP).touch()
                    time.sleep(0.2)
            except BaseException:
                _end(ranks)
                raise
        replay.pump()
        if ranks.returncode != 0:
            raise _rank_error(folder, ranks.returncode)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _end(ranks: subprocess.Popen) -> None:
    """Stop the launcher and its ranks (they share its session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(ranks.pid, sig)
        except ProcessLookupError:
            return
        try:
            ranks.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _rank_error(folder: Path, code: int) -> BaseException:
    """The error of the lowest rank that wrote one, as its own type where it is one of ours."""
    written = sorted(folder.glob("error-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    if written:
        error = json.loads(written[0].read_text(encoding="utf-8"))
        kind = getattr(errors, error["type"], None)
        if isinstance(kind, type) and issubclass(kind, AutoMLError) and kind is not errors.Unavailable:
            return kind(error["message"], details=error["details"])
        return RuntimeError(f"training process {written[0].stem.split('-')[1]} failed: "
                            f"{error['type']}: {error['message']}\n{error['traceback']}")
    tail = (folder / LOG).read_bytes()[-4000:].decode("utf-8", "replace") if (folder / LOG).exists() else ""
    return RuntimeError(f"the training processes ended with exit code {code}:\n{tail}")


def _watch_caller(pid: int) -> None:
    """End this rank when the process that launched the run is gone (its kernel was killed)."""
    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, name="watch-caller", daemon=True).start()


def _rank_main(folder: Path) -> int:
    import torch
    import torch.distributed as dist
    from accelerate import PartialState

    from ..base_models.entry import BaseModelEntry
    from . import parallel
    from .run import run_here

    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    _watch_caller(spec.pop("caller"))
    spec["base_model"] = BaseModelEntry.from_dict(spec["base_model"])
    state = PartialState(cpu=not torch.cuda.is_available(), timeout=COLLECTIVE_TIMEOUT)
    group = parallel.Group(state.process_index, state.num_processes)
    try:
        run_here(**spec, group=group, device=str(state.device),
                 callbacks=[Relay(folder / EVENTS)] if group.leader else [],
                 stop=StopSignal(folder / STOP))
        group.barrier()  # no rank leaves while rank 0 still writes the version
        dist.destroy_process_group()
        code = 0
    except Exception as error:
        (folder / f"error-{group.rank}.json").write_text(json.dumps({
            "type": type(error).__name__,
            "message": getattr(error, "message", str(error)),
            "details": getattr(error, "details", None),
            "traceback": "".join(traceback.format_exception(error)[-8:]),
        }, default=_plain), encoding="utf-8")
        code = 1
    return code


if __name__ == "__main__":
    # Out without the interpreter's shutdown: there, a rank once aborted ("terminate called
    # without an active exception") on threads of the process group it had left.
    exit_code = _rank_main(Path(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
