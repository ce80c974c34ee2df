"""Where a claimed job runs. The worker owns the queue and the state machine; an executor
only starts :func:`~jupyter_automl.kernel_jobs.runner.run_job` somewhere and says how many of
its jobs are still running.

- :class:`LocalProcessExecutor` (default): a child process per job, each with its own kernel.
  On a machine with GPUs each job gets GPUs of its own through ``CUDA_VISIBLE_DEVICES``.
- :class:`DaskExecutor`: the job runs on a worker of a Dask cluster (``distributed.Client``);
  that machine needs the package and access to the store and the data folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import replace
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

    def free(self) -> int:
        return max(0, self.capacity - self.running())

    def close(self) -> None:
        """Let go of resources; running jobs are not touched."""


class LocalProcessExecutor(Executor):
    name = "local"

    def __init__(self, settings: RunnerSettings, *, capacity: int, log_dir: Path,
                 gpus_per_job: int = 1) -> None:
        super().__init__(settings, capacity=capacity, log_dir=log_dir)
        gpus = visible_gpus()
        self.gpu_slots = [
            ",".join(str(g) for g in range(i, i + gpus_per_job))
            for i in range(0, gpus - gpus_per_job + 1, gpus_per_job)
        ] if gpus else []
        self.processes: dict[str, tuple[subprocess.Popen, str | None]] = {}

    def submit(self, claim: Claim) -> None:
        env = dict(os.environ)
        settings = replace(self.settings, parent_pid=os.getpid())
        env["JUPYTER_AUTOML_RUNNER"] = settings.to_json()
        busy = {slot for _, slot in self.processes.values()}
        slot = next((s for s in self.gpu_slots if s not in busy), None)
        if slot is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"runner-{claim.job_id}.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_automl.kernel_jobs",
                 claim.job_id, claim.version_id, claim.worker_id, str(claim.attempt)],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[claim.job_id] = (process, slot)

    def running(self) -> int:
        for job_id, (process, _) in list(self.processes.items()):
            if process.poll() is not None:
                del self.processes[job_id]
        return len(self.processes)

    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.processes.values()]


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, settings: RunnerSettings, *, capacity: int, log_dir: Path,
                 address: str | Any) -> None:
        super().__init__(settings, capacity=capacity, log_dir=log_dir)
        from distributed import Client

        self.client = address if isinstance(address, Client) else Client(address)
        self._own_client = not isinstance(address, Client)
        self.futures: dict[str, Any] = {}

    def submit(self, claim: Claim) -> None:
        from .runner import run_job

        self.futures[claim.job_id] = self.client.submit(
            run_job, claim, self.settings, pure=False,
            key=f"automl-job-{claim.job_id}-{claim.attempt}",
        )

    def running(self) -> int:
        for job_id, future in list(self.futures.items()):
            if future.done():
                # A run that raised (its Dask worker died) stopped heartbeating: the lease
                # expires and the queue fails or re-queues the job.
                del self.futures[job_id]
        return len(self.futures)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
