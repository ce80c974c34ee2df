"""The Dask executor: a job claimed by a worker runs on a real `LocalCluster`'s worker process."""

from __future__ import annotations

import os

import pytest

from jupyter_automl.kernel_jobs import DaskExecutor
from tests.kernel_jobs.conftest import LONG_EPOCHS, alive, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as c:
        yield c


def _dask_worker_pid(cluster) -> int:
    from distributed import Client

    with Client(cluster) as client:
        return next(iter(client.run(os.getpid).values()))


def test_a_job_runs_on_a_dask_worker_and_can_be_cancelled_there(chat_model, thread_worker, cluster):
    automl = chat_model
    worker = thread_worker(automl, dask_address=cluster.scheduler_address, max_concurrent_jobs=2)
    assert isinstance(worker.worker.executor, DaskExecutor)

    done = automl.train("support-bot").result(timeout=300)
    assert done.status == "trained" and done.metrics["comparison"]["loss"]["tuned"] is not None
    log = automl.list_jobs(model="support-bot")[0]
    assert log.executor == "dask"
    assert f"(pid {_dask_worker_pid(cluster)})" in automl.job_logs(log.id)  # it ran in the Dask worker

    job = automl.train("support-bot", options={"max_epochs": LONG_EPOCHS})
    running = wait_for(lambda: (i := job.info()).status == "running" and (i.step or 0) > 0 and i)
    job.cancel()
    info = job.wait(timeout=60)
    assert info.status == "cancelled" and not alive(running.pid)
