"""The job queue kept in the store (DESIGN §2): jobs are rows, and every change of state is
one guarded UPDATE, so two workers never run the same job and a dead worker's job is never
left ``running``.

A worker claims the oldest queued job and holds it by a lease that its heartbeat renews.
Everything it later writes is fenced on (job, worker, attempt): a worker that lost its lease
(it stalled, and the job was reaped and perhaps claimed again) can no longer change the job,
and in particular cannot register a version.

Job states: ``queued -> running -> succeeded | failed | cancelled``. The version a job trains
follows it: ``queued -> training -> trained | failed | cancelled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from ..errors import Conflict, NotFound
from ..store import Store, orm
from ..store.orm import utcnow as now

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
VERSION_STATE = {
    QUEUED: "queued", RUNNING: "training", SUCCEEDED: "trained", FAILED: "failed",
    CANCELLED: "cancelled",
}
LOG_TAIL_CHARS = 8000


@dataclass(frozen=True)
class Claim:
    """A job held by one worker for one attempt; the fence on every later write."""

    job_id: str
    version_id: str
    worker_id: str
    attempt: int


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learned: whether the lease is still ours, and whether to cancel."""

    owned: bool
    cancel_requested: bool = False


class JobQueue:
    def __init__(self, store: Store, *, lease_seconds: float = 60.0) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_seconds)

    def _fence(self, claim: Claim):
        return (
            (orm.Job.id == claim.job_id)
            & (orm.Job.worker_id == claim.worker_id)
            & (orm.Job.attempts == claim.attempt)
            & (orm.Job.status == RUNNING)
        )

    def claim(self, worker_id: str, *, executor: str = "") -> Claim | None:
        """Take the oldest queued job, or None. One statement: on PostgreSQL the candidate row is
        locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers take different jobs; on SQLite
        the write lock makes the UPDATE atomic, and the ``status = 'queued'`` guard does the rest."""
        candidate = (
            select(orm.Job.id)
            .where(orm.Job.status == QUEUED)
            .order_by(orm.Job.created_at, orm.Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        at = now()
        with self.store.session() as session:
            row = session.execute(
                update(orm.Job)
                .where(orm.Job.id == candidate, orm.Job.status == QUEUED)
                .values(
                    status=RUNNING, worker_id=worker_id, executor=executor,
                    attempts=orm.Job.attempts + 1, started_at=at, heartbeat_at=at,
                    lease_expires_at=at + self.lease, error=None, finished_at=None,
                )
                .returning(orm.Job.id, orm.Job.version_id, orm.Job.attempts)
                .execution_options(synchronize_session=False)
            ).first()
            if row is None:
                return None
            self._set_version(session, row.version_id, RUNNING)
        return Claim(job_id=row.id, version_id=row.version_id, worker_id=worker_id, attempt=row.attempts)

    def heartbeat(
        self,
        claim: Claim,
        *,
        progress: dict[str, Any] | None = None,
        log_tail: str | None = None,
        pid: int | None = None,
    ) -> Beat:
        """Renew the lease and record progress; ``owned=False`` means stop: the job is not ours."""
        at = now()
        values: dict[str, Any] = {"heartbeat_at": at, "lease_expires_at": at + self.lease,
                                  **_progress_columns(progress)}
        if log_tail is not None:
            values["log_tail"] = log_tail[-LOG_TAIL_CHARS:]
        if pid is not None:
            values["pid"] = pid
        with self.store.session() as session:
            row = session.execute(
                update(orm.Job)
                .where(self._fence(claim))
                .values(**values)
                .returning(orm.Job.cancel_requested)
                .execution_options(synchronize_session=False)
            ).first()
        if row is None:
            return Beat(owned=False)
        return Beat(owned=True, cancel_requested=bool(row.cancel_requested))

    def finish(
        self,
        claim: Claim,
        status: str,
        *,
        error: str | None = None,
        notebook_path: str | None = None,
        log_tail: str | None = None,
        version: dict[str, Any] | None = None,
        progress: dict[str, Any] | None = None,
    ) -> bool:
        """End a job we hold, and its version in the same transaction, with its last
        ``progress`` (a run shorter than a heartbeat has no other). False when the lease was
        lost: then nothing is written, and a succeeded run is not registered."""
        if status not in FINISHED:
            raise ValueError(f"not a final state: {status!r}")
        values: dict[str, Any] = {"status": status, "error": error, "finished_at": now(),
                                  "lease_expires_at": None, **_progress_columns(progress)}
        if notebook_path is not None:
            values["notebook_path"] = notebook_path
        if log_tail is not None:
            values["log_tail"] = log_tail[-LOG_TAIL_CHARS:]
        with self.store.session() as session:
            done = session.execute(
                update(orm.Job).where(self._fence(claim)).values(**values)
                .returning(orm.Job.id).execution_options(synchronize_session=False)
            ).first()
            if done is None:
                return False
            self._set_version(session, claim.version_id, status, **{"error": error, **(version or {})})
        return True

    def request_cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one is flagged, and its runner ends the
        kernel at its next heartbeat. Returns the job's status after the request."""
        with self.store.session() as session:
            job = session.get(orm.Job, job_id)
            if job is None:
                raise NotFound(f"no job with id {job_id!r}")
            if job.status in FINISHED:
                raise Conflict(f"job {job_id} has already {job.status}; there is nothing to cancel")
            cancelled = session.execute(
                update(orm.Job)
                .where(orm.Job.id == job_id, orm.Job.status == QUEUED)
                .values(status=CANCELLED, finished_at=now(), error="cancelled before it started")
                .returning(orm.Job.version_id)
                .execution_options(synchronize_session=False)
            ).first()
            if cancelled is not None:
                self._set_version(session, cancelled.version_id, CANCELLED,
                                  error="cancelled before it started")
                return CANCELLED
            session.execute(
                update(orm.Job).where(orm.Job.id == job_id, orm.Job.status == RUNNING)
                .values(cancel_requested=True).execution_options(synchronize_session=False)
            )
            return RUNNING

    def reap(self, *, requeue: bool = False, max_attempts: int = 3) -> list[str]:
        """Jobs whose lease ran out (their worker died or hung) become failed, with the reason,
        or queued again when ``requeue`` and attempts remain; a cancel request wins."""
        at = now()
        reaped = []
        with self.store.session() as session:
            stale = session.scalars(
                select(orm.Job)
                .where(orm.Job.status == RUNNING, orm.Job.lease_expires_at < at)
                .with_for_update(skip_locked=True)
            ).all()
            for job in stale:
                reason = (
                    f"worker {job.worker_id} stopped sending heartbeats; its lease expired at "
                    f"{job.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC (attempt {job.attempts})"
                )
                if job.cancel_requested:
                    status, error = CANCELLED, "cancelled; " + reason
                elif requeue and job.attempts < max_attempts:
                    status, error = QUEUED, None
                    job.log_tail = (job.log_tail + f"\n[re-queued] {reason}\n")[-LOG_TAIL_CHARS:]
                else:
                    status, error = FAILED, reason
                job.status = status
                job.error = error
                job.lease_expires_at = None
                job.worker_id = None if status == QUEUED else job.worker_id
                job.finished_at = None if status == QUEUED else at
                self._set_version(session, job.version_id, status, error=error)
                reaped.append(job.id)
        return reaped

    @staticmethod
    def _set_version(session, version_id: str, job_status: str, **values: Any) -> None:
        values = {k: v for k, v in values.items() if v is not None or k == "error"}
        session.execute(
            update(orm.ModelVersion)
            .where(orm.ModelVersion.id == version_id)
            .values(status=VERSION_STATE[job_status], **values)
            .execution_options(synchronize_session=False)
        )


def _progress_columns(progress: dict[str, Any] | None) -> dict[str, Any]:
    """A job row's progress and the step, total and epoch columns drawn from it."""
    if not progress:
        return {}
    values: dict[str, Any] = {"progress": progress}
    state = progress.get("state") or {}
    if state.get("step") is not None:
        values["step"] = int(state["step"])
    if state.get("total_steps"):
        values["total_steps"] = int(state["total_steps"])
    if state.get("epoch") is not None:
        values["epoch"] = int(state["epoch"])
    return values
