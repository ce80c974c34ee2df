"""Where a claimed job runs. The worker owns the queue and the state machine; an executor
only starts :func:`~jupyter_automl.kernel_jobs.runner.run_job` somewhere and says how many of
its jobs are still running.

- :class:`LocalProcessExecutor` (default): a child process per job, each with its own kernel.
  On a machine with GPUs each job gets GPUs of its own through ``CUDA_VISIBLE_DEVICES``; a
  standby runner keeps a warm kernel ready for the next job.
- :class:`DaskExecutor`: the job runs on a worker of a Dask cluster (``distributed.Client``);
  that machine needs the package and access to the store and the data folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .queue import Claim
from .runner import RunnerSettings


def visible_gpus() -> int:
    """GPUs this process may use, counted without initialising CUDA."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


class Executor(ABC):
    """Runs claimed jobs; ``capacity`` is how many at once."""

    name = "executor"

    def __init__(self, settings: RunnerSettings, *, capacity: int, log_dir: Path) -> None:
        self.settings = settings
        self.capacity = capacity
        self.log_dir = log_dir

    @abstractmethod
    def submit(self, claim: Claim) -> None:
        """Start the job and return at once."""

    @abstractmethod
    def running(self) -> int:
        """Jobs started here that have not ended yet."""

    @abstractmethod
    def in_flight(self) -> list[Claim]:
        """The claims of the jobs started here that have not ended yet."""

    def free(self) -> int:
        return max(0, self.capacity - self.running())

    def tick(self) -> None:
        """Housekeeping between the worker's passes (the default has none)."""

    def close(self) -> None:
        """Let go of resources; running jobs are not touched."""


class LocalProcessExecutor(Executor):
    """A runner process per job. With ``standby`` one more runner waits, its kernel started and
    the engine imported, so the next job skips those seconds; it is started while the executor
    has room, and only on machines with at most one GPU slot (its kernel's devices are fixed)."""

    name = "local"

    def __init__(self, settings: RunnerSettings, *, capacity: int, log_dir: Path,
                 gpus_per_job: int = 1, standby: bool = True) -> None:
        super().__init__(settings, capacity=capacity, log_dir=log_dir)
        gpus = visible_gpus()
        self.gpu_slots = [
            ",".join(str(g) for g in range(i, i + gpus_per_job))
            for i in range(0, gpus - gpus_per_job + 1, gpus_per_job)
        ] if gpus else []
        self.standby = standby and len(self.gpu_slots) <= 1
        self.processes: dict[str, tuple[subprocess.Popen, str | None, Claim]] = {}
        self._standby: subprocess.Popen | None = None
        self._started = 0

    def _spawn(self, args: list[str], slot: str | None, name: str) -> subprocess.Popen:
        env = dict(os.environ)
        env["JUPYTER_AUTOML_RUNNER"] = replace(self.settings, parent_pid=os.getpid()).to_json()
        if slot is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"runner-{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "jupyter_automl.kernel_jobs", *args],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                stdin=subprocess.PIPE if args == ["--standby"] else subprocess.DEVNULL,
            )

    def _hand_to_standby(self, claim: Claim) -> subprocess.Popen | None:
        process, self._standby = self._standby, None
        if process is None or process.poll() is not None:
            return None
        try:
            process.stdin.write(json.dumps(asdict(claim)).encode() + b"\n")
            process.stdin.close()
        except OSError:
            return None
        return process

    def submit(self, claim: Claim) -> None:
        busy = {slot for _, slot, _ in self.processes.values()}
        slot = next((s for s in self.gpu_slots if s not in busy), None)
        process = self._hand_to_standby(claim)
        if process is None:
            process = self._spawn(
                [claim.job_id, claim.version_id, claim.worker_id, str(claim.attempt)], slot, claim.job_id
            )
        self.processes[claim.job_id] = (process, slot, claim)

    def in_flight(self) -> list[Claim]:
        return [claim for process, _, claim in self.processes.values() if process.poll() is None]

    def running(self) -> int:
        for job_id, (process, _, _) in list(self.processes.items()):
            if process.poll() is not None:
                del self.processes[job_id]
        return len(self.processes)

    def tick(self) -> None:
        """Start a standby runner when there is room for another job and none is waiting."""
        if self.standby and self.running() < self.capacity and (
            self._standby is None or self._standby.poll() is not None
        ):
            self._started += 1
            slot = self.gpu_slots[0] if self.gpu_slots else None
            self._standby = self._spawn(["--standby"], slot, f"standby-{os.getpid()}-{self._started}")

    def close(self) -> None:
        """Stop the standby runner; its kernel sees its parent gone and exits within a second."""
        if self._standby is not None and self._standby.poll() is None:
            self._standby.kill()
            self._standby.wait()
        self._standby = None


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, settings: RunnerSettings, *, capacity: int, log_dir: Path,
                 address: str | Any) -> None:
        super().__init__(settings, capacity=capacity, log_dir=log_dir)
        from distributed import Client

        self.client = address if isinstance(address, Client) else Client(address)
        self._own_client = not isinstance(address, Client)
        self.futures: dict[str, tuple[Any, Claim]] = {}

    def submit(self, claim: Claim) -> None:
        from .runner import run_job

        self.futures[claim.job_id] = (self.client.submit(
            run_job, claim, self.settings, pure=False,
            key=f"automl-job-{claim.job_id}-{claim.attempt}",
        ), claim)

    def in_flight(self) -> list[Claim]:
        return [claim for future, claim in self.futures.values() if not future.done()]

    def running(self) -> int:
        for job_id, (future, _) in list(self.futures.items()):
            if future.done():
                # A run that raised (its Dask worker died) stopped heartbeating: the lease
                # expires and the queue fails or re-queues the job.
                del self.futures[job_id]
        return len(self.futures)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
