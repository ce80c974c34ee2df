"""The queue in the store: claims with a lease, fenced writes, cancel, and reaping dead workers,
on SQLite and on PostgreSQL. No kernels here; tests/kernel_jobs/test_jobs.py runs real ones."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jupyter_automl.errors import Conflict, NotFound
from jupyter_automl.kernel_jobs.queue import JobQueue, now
from jupyter_automl.store import Store, orm


def _seed_jobs(store: Store, count: int) -> list[str]:
    """A model with ``count`` versions, each with a queued job, created in order."""
    ids = []
    with store.session() as session:
        snapshot = orm.Snapshot(name="s", model_type="llm_chat", content_hash=orm.new_id() * 2,
                                path="/nowhere", rows=1)
        session.add(snapshot)
        session.flush()
        model = orm.Model(name=f"m-{orm.new_id()[:6]}", model_type="llm_chat", base_model="b",
                          train_snapshot_id=snapshot.id)
        session.add(model)
        session.flush()
        start = now()
        for n in range(count):
            version = orm.ModelVersion(model_id=model.id, version=n + 1, status="queued",
                                       base_model="b", train_snapshot_id=snapshot.id)
            session.add(version)
            session.flush()
            job = orm.Job(version_id=version.id, created_at=start + timedelta(milliseconds=n))
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


def _job(store: Store, job_id: str) -> orm.Job:
    with store.session() as session:
        return session.get(orm.Job, job_id)


def _version_status(store: Store, job_id: str) -> str:
    with store.session() as session:
        return session.get(orm.ModelVersion, session.get(orm.Job, job_id).version_id).status


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    yield store
    store.dispose()


def test_claim_takes_the_oldest_queued_job_once(store):
    first, second = _seed_jobs(store, 2)
    queue = JobQueue(store, lease_seconds=30)
    a = queue.claim("worker-a")
    b = queue.claim("worker-b")
    assert (a.job_id, a.attempt, b.job_id) == (first, 1, second)
    assert queue.claim("worker-c") is None
    job = _job(store, first)
    assert job.status == "running" and job.worker_id == "worker-a"
    assert job.lease_expires_at > now() + timedelta(seconds=25)
    assert _version_status(store, first) == "training"


def test_heartbeat_renews_the_lease_and_records_progress(store):
    (job_id,) = _seed_jobs(store, 1)
    queue = JobQueue(store, lease_seconds=30)
    claim = queue.claim("w")
    before = _job(store, job_id).lease_expires_at
    time.sleep(0.05)
    beat = queue.heartbeat(claim, progress={"state": {"step": 7, "total_steps": 20, "epoch": 1.4}},
                           log_tail="x" * 10_000)
    job = _job(store, job_id)
    assert beat.owned and not beat.cancel_requested
    assert job.lease_expires_at > before
    assert (job.step, job.total_steps, job.epoch) == (7, 20, 1)
    assert len(job.log_tail) == 8000


def test_a_worker_that_lost_its_lease_can_no_longer_write(store):
    (job_id,) = _seed_jobs(store, 1)
    queue = JobQueue(store, lease_seconds=30)
    stale = queue.claim("slow-worker")
    with store.session() as session:  # its lease runs out while it hangs
        session.execute(update(orm.Job).values(lease_expires_at=now() - timedelta(seconds=1)))
    assert queue.reap(requeue=True) == [job_id]
    fresh = queue.claim("other-worker")
    assert fresh.attempt == 2

    assert queue.heartbeat(stale).owned is False
    assert queue.finish(stale, "succeeded", version={"metrics": {"x": 1}}) is False
    assert _job(store, job_id).status == "running"
    assert _version_status(store, job_id) == "training"
    assert queue.finish(fresh, "succeeded", version={"metrics": {"x": 2}}) is True
    with store.session() as session:
        version = session.get(orm.ModelVersion, fresh.version_id)
        assert (version.status, version.metrics) == ("trained", {"x": 2})


def test_reap_fails_a_dead_workers_job_with_the_reason(store):
    (job_id,) = _seed_jobs(store, 1)
    queue = JobQueue(store, lease_seconds=30)
    queue.claim("gone-worker")
    assert queue.reap() == []  # the lease is still good
    with store.session() as session:
        session.execute(update(orm.Job).values(lease_expires_at=now() - timedelta(seconds=1)))
    assert queue.reap() == [job_id]
    job = _job(store, job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert "gone-worker stopped sending heartbeats" in job.error
    assert _version_status(store, job_id) == "failed"


def test_requeue_stops_after_max_attempts(store):
    (job_id,) = _seed_jobs(store, 1)
    queue = JobQueue(store, lease_seconds=30)
    for attempt in (1, 2):
        assert queue.claim(f"w{attempt}").attempt == attempt
        with store.session() as session:
            session.execute(update(orm.Job).values(lease_expires_at=now() - timedelta(seconds=1)))
        queue.reap(requeue=True, max_attempts=2)
    job = _job(store, job_id)
    assert job.status == "failed" and "attempt 2" in job.error
    assert "[re-queued]" in job.log_tail


def test_cancel_a_queued_job_at_once_and_a_running_one_through_its_heartbeat(store):
    queued, running = _seed_jobs(store, 2)
    queue = JobQueue(store, lease_seconds=30)
    with store.session() as session:  # make `running` the oldest, so it is claimed
        session.execute(update(orm.Job).where(orm.Job.id == running)
                        .values(created_at=now() - timedelta(hours=1)))
    claim = queue.claim("w")
    assert claim.job_id == running
    assert queue.request_cancel(queued) == "cancelled"
    assert _job(store, queued).status == "cancelled"
    assert _version_status(store, queued) == "cancelled"
    assert queue.claim("w2") is None  # a cancelled job is never claimed

    assert queue.request_cancel(running) == "running"
    assert queue.heartbeat(claim).cancel_requested is True
    assert queue.finish(claim, "cancelled", error="cancelled on request") is True
    with pytest.raises(Conflict, match="already cancelled"):
        queue.request_cancel(running)
    with pytest.raises(NotFound):
        queue.request_cancel("no-such-job")


def test_reaping_a_job_whose_cancel_was_requested_cancels_it(store):
    (job_id,) = _seed_jobs(store, 1)
    queue = JobQueue(store, lease_seconds=30)
    queue.claim("w")
    queue.request_cancel(job_id)
    with store.session() as session:
        session.execute(update(orm.Job).values(lease_expires_at=now() - timedelta(seconds=1)))
    queue.reap(requeue=True)
    assert _job(store, job_id).status == "cancelled"


def _claim_all(url: str, name: str, out) -> None:
    store = Store(url, upgrade=False)
    queue = JobQueue(store, lease_seconds=60)
    got = []
    while (claim := queue.claim(name)) is not None:
        got.append(claim.job_id)
    store.dispose()
    out.put(got)


def test_concurrent_workers_never_claim_the_same_job(store_url, store):
    """Four processes race for 60 jobs: every job is claimed exactly once."""
    jobs = _seed_jobs(store, 60)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_claim_all, args=(store_url, f"w{i}", out)) for i in range(4)]
    for p in workers:
        p.start()
    claimed = [job for _ in workers for job in out.get(timeout=120)]
    for p in workers:
        p.join(timeout=60)
    assert sorted(claimed) == sorted(jobs)
    with store.session() as session:
        attempts = session.scalars(select(orm.Job.attempts)).all()
    assert set(attempts) == {1}
