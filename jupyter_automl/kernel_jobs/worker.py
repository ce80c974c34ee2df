"""The worker loop: reap jobs whose lease ran out, claim queued jobs while the executor has
room, and keep a heartbeat row so the faces can tell whether anybody is working.

``jupyter automl worker`` runs it without JupyterLab; any number of workers may share a store.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from traitlets import Bool, Dict, Float, Int, Type, Unicode
from traitlets.config import LoggingConfigurable

from ..store import Store, orm
from .executors import DaskExecutor, Executor, LocalProcessExecutor, visible_gpus
from .queue import JobQueue, now
from .runner import RunnerSettings


class JobWorker(LoggingConfigurable):
    """Runs queued training jobs. Configure it as ``c.JobWorker.<trait>``."""

    executor_class = Type(
        default_value=LocalProcessExecutor, klass=Executor,
        help="Where jobs run: LocalProcessExecutor (a child process per job) or DaskExecutor.",
    ).tag(config=True)
    dask_address = Unicode(
        "", help="A Dask scheduler address (tcp://host:8786). When set, jobs run on that cluster "
        "through the DaskExecutor unless executor_class says otherwise.",
    ).tag(config=True)
    max_concurrent_jobs = Int(
        0, help="Jobs run at once by this worker; 0 means one per GPU (gpus_per_job each), or one "
        "on a machine without GPUs.",
    ).tag(config=True)
    gpus_per_job = Int(1, help="GPUs each local job gets (CUDA_VISIBLE_DEVICES).").tag(config=True)
    standby_kernel = Bool(
        True, help="Keep a runner with a started kernel (the engine imported) ready for the next "
        "local job: a job then starts in about a second instead of the kernel's start-up time.",
    ).tag(config=True)
    kernel_name = Unicode("python3", help="Jupyter kernel that runs the templates.").tag(config=True)
    lease_seconds = Float(60.0, help="A job whose heartbeat is older than this is reaped.").tag(
        config=True
    )
    heartbeat_seconds = Float(2.0, help="How often a running job renews its lease and progress.").tag(
        config=True
    )
    poll_seconds = Float(0.5, help="How often an idle worker looks for queued jobs.").tag(config=True)
    requeue_expired = Bool(
        False, help="Queue a job again when its worker died (up to max_attempts), instead of "
        "failing it. A re-queued run resumes from its last checkpoint.",
    ).tag(config=True)
    max_attempts = Int(3, help="Attempts a job gets when requeue_expired is on.").tag(config=True)
    templates = Dict(
        {}, help="Your own training template per model type, e.g. {'llm_chat': '/path/train.ipynb'}."
    ).tag(config=True)
    kernel_start_timeout = Float(120.0, help="Seconds a kernel may take to start.").tag(config=True)

    def __init__(self, *, store_url: str, data_dir: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_url = store_url
        self.data_dir = Path(data_dir)
        self.store = Store(store_url)
        self.queue = JobQueue(self.store, lease_seconds=self.lease_seconds)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.executor = self._make_executor()
        self._stopping = threading.Event()
        self._next_renewal = 0.0

    def _capacity(self) -> int:
        if self.max_concurrent_jobs > 0:
            return self.max_concurrent_jobs
        if self.dask_address or self.executor_class is not LocalProcessExecutor:
            return 1
        return max(1, visible_gpus() // max(1, self.gpus_per_job))

    def _make_executor(self) -> Executor:
        settings = RunnerSettings(
            store_url=self.store_url,
            kernel_name=self.kernel_name,
            lease_seconds=self.lease_seconds,
            heartbeat_seconds=self.heartbeat_seconds,
            start_timeout=self.kernel_start_timeout,
            templates=dict(self.templates),
        )
        common = dict(capacity=self._capacity(), log_dir=self.data_dir / "logs")
        cls = self.executor_class
        if self.dask_address and cls is LocalProcessExecutor:
            cls = DaskExecutor
        if issubclass(cls, DaskExecutor):
            if not self.dask_address:
                raise ValueError("the DaskExecutor needs c.JobWorker.dask_address")
            return cls(settings, address=self.dask_address, **common)
        if issubclass(cls, LocalProcessExecutor):
            return cls(settings, gpus_per_job=self.gpus_per_job, standby=self.standby_kernel, **common)
        return cls(settings, **common)

    # -- the loop ------------------------------------------------------------------------------

    def _register(self) -> None:
        with self.store.session() as session:
            session.add(orm.Worker(
                id=self.id, host=socket.gethostname(), pid=os.getpid(),
                executor=self.executor.name, capacity=self.executor.capacity,
            ))

    def _beat(self) -> None:
        with self.store.session() as session:
            session.execute(
                update(orm.Worker).where(orm.Worker.id == self.id).values(heartbeat_at=now())
            )

    def _unregister(self) -> None:
        with self.store.session() as session:
            session.execute(
                update(orm.Worker).where(orm.Worker.id == self.id).values(stopped_at=now())
            )

    def _renew(self) -> None:
        """Hold the leases of this worker's jobs while their runners start (a runner heartbeats
        itself once its job is under way; a kernel can take a while to start)."""
        if time.monotonic() < self._next_renewal:
            return
        self._next_renewal = time.monotonic() + self.heartbeat_seconds
        for claim in self.executor.in_flight():
            self.queue.heartbeat(claim)

    def step(self) -> int:
        """One pass: hold our jobs' leases, reap expired ones, then claim and start as many
        jobs as fit."""
        self._renew()
        self.queue.reap(requeue=self.requeue_expired, max_attempts=self.max_attempts)
        started = 0
        while not self._stopping.is_set() and self.executor.free() > 0:
            claim = self.queue.claim(self.id, executor=self.executor.name)
            if claim is None:
                break
            self.log.info("job %s: attempt %d starts", claim.job_id, claim.attempt)
            self.executor.submit(claim)
            started += 1
        if not self._stopping.is_set():
            self.executor.tick()
        return started

    def _anything_queued(self) -> bool:
        with self.store.session() as session:
            return session.scalar(
                select(orm.Job.id).where(orm.Job.status == "queued").limit(1)
            ) is not None

    def run(self, *, exit_when_idle: float | None = None, max_seconds: float | None = None) -> None:
        """Work until :meth:`stop`; with ``exit_when_idle``, also stop after that many seconds
        with no job running here and none queued. Running jobs are waited for."""
        self._register()
        started = idle_since = time.monotonic()
        try:
            while not self._stopping.is_set():
                self._beat()
                self.step()
                if self.executor.running() or self._anything_queued():
                    idle_since = time.monotonic()
                elif exit_when_idle is not None and time.monotonic() - idle_since > exit_when_idle:
                    break
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
                self._stopping.wait(self.poll_seconds)
            while self.executor.running():
                self._beat()
                self._renew()
                time.sleep(self.poll_seconds)
        finally:
            self._unregister()
            self.executor.close()

    def stop(self) -> None:
        """Claim nothing more; :meth:`run` returns once the running jobs have ended."""
        self._stopping.set()

    def close(self) -> None:
        self.store.dispose()


def live_workers(store: Store, *, within_seconds: float = 30.0) -> list[orm.Worker]:
    """Workers that sent a heartbeat recently and have not stopped."""
    cutoff = now() - timedelta(seconds=within_seconds)
    with store.session() as session:
        return list(session.scalars(
            select(orm.Worker).where(orm.Worker.stopped_at.is_(None), orm.Worker.heartbeat_at > cutoff)
        ))
