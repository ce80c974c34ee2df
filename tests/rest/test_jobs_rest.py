"""Training jobs and workers over REST. No worker runs here (spawn_worker is off), so a
queued job stays queued until a test cancels it or registers a run for it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jupyter_automl.kernel_jobs.queue import now
from jupyter_automl.store import orm
from tests.rest.trained import LOG_LINE, OPTIONS, reviews_snapshot


@pytest.fixture
def queued(automl, tmp_path):
    """Two models, "alpha" with two queued jobs and "beta" with one; their job ids, oldest first."""
    snapshot = reviews_snapshot(automl, tmp_path)
    for name in ("alpha", "beta"):
        automl.create_model(name, snapshot, base_model="tiny-encoder", options=OPTIONS)
    return [automl.train(name).id for name in ("alpha", "alpha", "beta")]


async def test_jobs_are_listed_newest_first_and_filtered(api, queued):
    jobs = (await api("GET", "jobs")).json["jobs"]
    assert [j["id"] for j in jobs] == queued[::-1]
    assert [(j["model_name"], j["version"]) for j in jobs] == [("beta", 1), ("alpha", 2), ("alpha", 1)]
    alpha = (await api("GET", "jobs", params={"model": "alpha"})).json["jobs"]
    assert [j["id"] for j in alpha] == queued[1::-1]
    assert len((await api("GET", "jobs", params={"status": "queued", "limit": 2})).json["jobs"]) == 2
    assert (await api("GET", "jobs", params={"status": "running"})).json == {"jobs": []}


@pytest.mark.parametrize(
    "params, code, message",
    [
        ({"status": "sleeping"}, 400, "unknown job status 'sleeping'"),
        ({"limit": "many"}, 400, "'limit' must be a whole number"),
        ({"limit": 0}, 400, "limit must be between 1 and 1000"),
        ({"model": "nope"}, 404, "no model named or with id 'nope'"),
    ],
)
async def test_bad_job_filters(api, params, code, message):
    answer = await api("GET", "jobs", params=params, expect=code, bad_request=True)
    assert message in answer.message


async def test_a_job_shows_its_progress(api, queued):
    job = (await api("GET", f"jobs/{queued[0]}")).json
    assert (job["status"], job["attempts"], job["step"], job["started_at"]) == ("queued", 0, None, None)
    assert job["model_name"] == "alpha" and job["cancel_requested"] is False
    assert "no job" in (await api("GET", f"jobs/{'0' * 32}", expect=404)).message


async def test_a_queued_job_is_cancelled_once(api, queued):
    job = (await api("POST", f"jobs/{queued[0]}/cancel")).json
    assert (job["status"], job["error"]) == ("cancelled", "cancelled before it started")
    assert job["finished_at"]
    version = (await api("GET", "models/alpha/versions/1")).json
    assert version["status"] == "cancelled"
    again = await api("POST", f"jobs/{queued[0]}/cancel", expect=409)
    assert "has already cancelled" in again.message
    cancelled = (await api("GET", "jobs", params={"status": "cancelled"})).json["jobs"]
    assert [j["id"] for j in cancelled] == [queued[0]]
    assert "no job" in (await api("POST", f"jobs/{'0' * 32}/cancel", expect=404)).message


async def test_a_finished_job_cannot_be_cancelled(api, trained_model):
    job = (await api("GET", "jobs", params={"model": trained_model})).json["jobs"][0]
    assert job["status"] == "succeeded"
    answer = await api("POST", f"jobs/{job['id']}/cancel", expect=409)
    assert "has already succeeded" in answer.message


async def test_a_job_that_has_not_started_has_an_empty_log(api, queued):
    assert (await api("GET", f"jobs/{queued[0]}/logs")).json == {"log": ""}
    assert "no job" in (await api("GET", f"jobs/{'0' * 32}/logs", expect=404)).message


async def test_the_log_of_a_job_is_its_log_file(api, trained_model):
    job = (await api("GET", "jobs", params={"model": trained_model})).json["jobs"][0]
    assert (await api("GET", f"jobs/{job['id']}/logs")).json == {"log": LOG_LINE}


async def test_workers_alive_and_all(api, automl):
    with automl.store.session() as session:
        session.add(orm.Worker(id="host:1", host="host", pid=1, executor="local", capacity=1,
                               heartbeat_at=now()))
        session.add(orm.Worker(id="host:2", host="host", pid=2, executor="local", capacity=1,
                               heartbeat_at=now() - timedelta(hours=1), stopped_at=now()))
    alive = (await api("GET", "workers")).json["workers"]
    assert [w["id"] for w in alive] == ["host:1"]
    every = (await api("GET", "workers", params={"all": "true"})).json["workers"]
    assert {w["id"] for w in every} == {"host:1", "host:2"}
    answer = await api("GET", "workers", params={"all": "maybe"}, expect=400, bad_request=True)
    assert "'all' must be true or false" in answer.message
