"""Training jobs: ``train(model)`` queues version n+1; a worker runs it as a notebook."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import AutoMLError, InvalidInput, NotFound
from ..kernel_jobs import JobQueue, JobWorker, live_workers
from ..kernel_jobs.queue import FINISHED, QUEUED, RUNNING
from ..kernel_jobs.runner import LOG_NAME, REPORT_NAME
from ..schemas import JobInfo, WorkerInfo
from ..store import orm
from .models import ModelsAPI


JOB_STATES = (QUEUED, RUNNING, *FINISHED)


class JobFailed(AutoMLError):
    """``Job.result()`` of a job that failed or was cancelled."""


class Job:
    """A handle on one training job; every call reads the store, so it is always current."""

    def __init__(self, automl: "JobsAPI", job_id: str) -> None:
        self.automl = automl
        self.id = job_id

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status()}>"

    def info(self) -> JobInfo:
        return self.automl.get_job(self.id)

    def status(self) -> str:
        return self.info().status

    def cancel(self) -> JobInfo:
        return self.automl.cancel_job(self.id)

    def logs(self) -> str:
        return self.automl.job_logs(self.id)

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll_seconds: float = 1.0,
        on_update: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Block until the job has ended (succeeded, failed or cancelled) and return it;
        ``on_update`` is called whenever its status, phase or step changes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            info = self.info()
            state = (info.progress or {}).get("state") or {}
            now_seen = (info.status, state.get("phase"), state.get("step"))
            if on_update is not None and now_seen != seen:
                on_update(info)
                seen = now_seen
            if info.done:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} is still {info.status} after {timeout} s")
            time.sleep(poll_seconds)

    def result(self, timeout: float | None = None):
        """Wait, then return the trained version; raise :class:`JobFailed` if it did not succeed."""
        info = self.wait(timeout)
        if info.status != "succeeded":
            raise JobFailed(f"job {self.id} {info.status}: {info.error}", details=info.to_json())
        return self.automl.get_version(info.model_id, info.version)


def _jobs_query():
    """Jobs with their model and version number, in one query."""
    return (
        select(orm.Job, orm.ModelVersion.version, orm.Model.id, orm.Model.name)
        .join(orm.ModelVersion, orm.ModelVersion.id == orm.Job.version_id)
        .join(orm.Model, orm.Model.id == orm.ModelVersion.model_id)
    )


def _job_info(row) -> JobInfo:
    job, version, model_id, model_name = row
    return JobInfo.model_validate({
        **{c: getattr(job, c) for c in JobInfo.model_fields if hasattr(job, c)},
        "model_id": model_id, "model_name": model_name, "version": version,
    })


class JobsAPI(ModelsAPI):
    """Queue, watch, cancel and run training jobs."""

    spawn_worker: bool
    spawned_worker_idle_seconds: float
    store_url: str
    config: Any

    def train(
        self,
        model: str,
        *,
        options: dict[str, Any] | None = None,
        snapshot_id: str | None = None,
        test_snapshot_id: str | None = None,
        test_percent: int | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Job:
        """Queue the training of the model's next version ("Update Model" when it has one).

        New ``options`` or data change the model's settings first. A worker runs the job; when
        none is alive and ``spawn_worker`` is on, a detached ``jupyter automl worker`` starts,
        so training survives this process. ``wait=True`` blocks until the job has ended.
        """
        if any(v is not None for v in (options, snapshot_id, test_snapshot_id, test_percent)):
            self.update_model(
                model, options=options, snapshot_id=snapshot_id,
                test_snapshot_id=test_snapshot_id, test_percent=test_percent,
            )
        for attempt in range(5):
            try:
                with self.store.session() as session:
                    row = self._model_row(session, model)
                    version = self._new_version(session, row)
                    job = orm.Job(version_id=version.id, status="queued")
                    session.add(job)
                    session.flush()
                    job.job_dir = str(self.root / "jobs" / job.id)
                    job_id = job.id
                break
            except IntegrityError:  # another process took this version number first
                if attempt == 4:
                    raise
        if self.spawn_worker:
            self.ensure_worker(exit_when_idle=self.spawned_worker_idle_seconds)
        handle = Job(self, job_id)
        if wait:
            handle.wait(timeout)
        return handle

    def get_job(self, job_id: str) -> JobInfo:
        with self.store.session() as session:
            row = session.execute(_jobs_query().where(orm.Job.id == job_id)).first()
            if row is None:
                raise NotFound(f"no job with id {job_id!r}")
            return _job_info(row)

    def job(self, job_id: str) -> Job:
        self.get_job(job_id)
        return Job(self, job_id)

    def list_jobs(self, *, status: str | None = None, model: str | None = None,
                  limit: int = 100) -> list[JobInfo]:
        """The newest ``limit`` jobs (1 to 1000), of one status or model when given."""
        if status and status not in JOB_STATES:
            raise InvalidInput(f"unknown job status {status!r}; choose one of: {', '.join(JOB_STATES)}")
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, got {limit}")
        query = _jobs_query().order_by(orm.Job.created_at.desc()).limit(limit)
        if status:
            query = query.where(orm.Job.status == status)
        with self.store.session() as session:
            if model:
                query = query.where(orm.Model.id == self._model_row(session, model).id)
            return [_job_info(row) for row in session.execute(query)]

    def cancel_job(self, job_id: str) -> JobInfo:
        """A queued job is cancelled at once; a running one when its runner next checks in
        (within a heartbeat), which ends its kernel."""
        JobQueue(self.store).request_cancel(job_id)
        return self.get_job(job_id)

    def job_logs(self, job_id: str) -> str:
        """The job's whole log where its folder is readable here, else the tail in the store."""
        with self.store.session() as session:
            job = session.get(orm.Job, job_id)
            if job is None:
                raise NotFound(f"no job with id {job_id!r}")
            folder, log_tail = job.job_dir, job.log_tail
        path = Path(folder) / LOG_NAME if folder else None
        if path is not None and path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
        return log_tail

    def version_notebook(self, model: str, version: int) -> Path:
        """The executed notebook of a version: the trained version's own copy, else the one its
        newest job is writing or left behind (a failed run's shows the error)."""
        info = self.get_version(model, version)
        if info.notebook_path and Path(info.notebook_path).is_file():
            return Path(info.notebook_path)
        with self.store.session() as session:
            job_dir = session.scalar(
                select(orm.Job.job_dir).where(orm.Job.version_id == info.id)
                .order_by(orm.Job.created_at.desc()).limit(1)
            )
        if job_dir and (Path(job_dir) / REPORT_NAME).is_file():
            return Path(job_dir) / REPORT_NAME
        raise NotFound(
            f"version {version} of model {model!r} is {info.status} and has no executed notebook yet"
        )

    # -- workers -------------------------------------------------------------------------------

    def worker(self, **traits: Any) -> JobWorker:
        """A job worker on this store and data folder, configured like this AutoML."""
        return JobWorker(store_url=self.store_url, data_dir=self.root, config=self.config, **traits)

    def list_workers(self, *, alive_only: bool = True) -> list[WorkerInfo]:
        if alive_only:
            rows = live_workers(self.store)
        else:
            with self.store.session() as session:
                rows = list(session.scalars(select(orm.Worker).order_by(orm.Worker.started_at.desc())))
        return [WorkerInfo.model_validate(r) for r in rows]

    def ensure_worker(self, *, exit_when_idle: float = 60.0) -> int | None:
        """Start a detached worker unless one is alive (or was just started from this data
        folder and is still starting); return its pid, or None."""
        if live_workers(self.store):
            return None
        pid_file = self.root / "logs" / "worker.pid"
        if pid_file.is_file() and _alive(int(pid_file.read_text() or 0)):
            return None
        log_dir = pid_file.parent
        log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, JUPYTER_AUTOML_STORE_URL=self.store_url)
        with (log_dir / "worker.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_automl.cli", "--data-dir", str(self.root),
                 "worker", "--exit-when-idle", str(exit_when_idle)],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pid_file.write_text(str(process.pid))
        return process.pid


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that exited but was not waited for is a zombie: not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
