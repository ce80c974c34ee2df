"""Training jobs: a queue kept in the store, a worker loop, and the executors that run the
training templates with papermill (DESIGN §2, §8)."""

from .executors import DaskExecutor, Executor, LocalProcessExecutor
from .queue import CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, Claim, JobQueue
from .runner import RunnerSettings, run_job
from .worker import JobWorker, live_workers

__all__ = [
    "CANCELLED", "FAILED", "FINISHED", "QUEUED", "RUNNING", "SUCCEEDED",
    "Claim", "DaskExecutor", "Executor", "JobQueue", "JobWorker", "LocalProcessExecutor",
    "RunnerSettings", "live_workers", "run_job",
]
