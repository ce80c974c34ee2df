"""Deployment usage in the core, on SQLite and PostgreSQL: tasks stored with chosen times on
several days, by two keys and without one, counted per day, per key and in all, checked against
hand-computed figures and numpy.percentile; the range's edges, empty days, bad arguments; and
the ``deployments usage`` command."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pytest

from jupyter_automl.errors import InvalidInput, NotFound
from jupyter_automl.serve.keys import SHOWN_PREFIX
from jupyter_automl.serve.usage import deployment_usage
from jupyter_automl.store import orm
from tests.data import cli_runner

TODAY = date(2024, 5, 10)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, micro, tzinfo=timezone.utc)


def store_tasks(automl, deployment_id: str, tasks: list[tuple]) -> None:
    """``tasks``: (key id, status, prompt tokens, completion tokens, created, latency ms or None)."""
    with automl.store.session() as session:
        for key_id, status, prompt, completion, created, latency in tasks:
            finished = None if latency is None else created + timedelta(milliseconds=latency)
            session.add(orm.Task(deployment_id=deployment_id, api_key_id=key_id, kind="sync",
                                 status=status, prompt_tokens=prompt, completion_tokens=completion,
                                 created_at=created, finished_at=finished))


def figures(entry) -> dict:
    return entry.figures.model_dump()


def expected(tasks: list[tuple]) -> dict:
    """The figures of ``tasks`` computed the plain way, numpy for the percentiles."""
    latencies = [t[5] for t in tasks if t[5] is not None]
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (None, None)
    prompt, completion = sum(t[2] for t in tasks), sum(t[3] for t in tasks)
    return {"requests": len(tasks), "prompt_tokens": prompt, "completion_tokens": completion,
            "tokens": prompt + completion, "errors": sum(t[1] == "failed" for t in tasks),
            "p50_ms": None if p50 is None else pytest.approx(p50, abs=1e-3),
            "p99_ms": None if p99 is None else pytest.approx(p99, abs=1e-3)}


ZERO = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "tokens": 0, "errors": 0,
        "p50_ms": None, "p99_ms": None}


def test_figures_per_day_per_key_and_in_all(served):
    automl, deploy = served
    created, other = deploy("reviews"), deploy("other")
    k1, k2 = (key.id for key in created.new_keys)
    rng = random.Random(7)
    may7 = [(k1, "succeeded", 3, 5, at(7), 100), (k1, "failed", 2, 0, at(7, 12), 300),
            (None, "succeeded", 4, 6, at(7, 23, 59, 59, 500000), 900)]  # answered on the 8th
    may9_k2 = [(k2, "succeeded", 1, 1, at(9, 10, n), round(rng.uniform(5, 2000), 3))
               for n in range(25)]
    may9 = may9_k2 + [(k1, "queued", 4, 0, at(9, 9), None), (None, "failed", 0, 0, at(9, 11), 50)]
    may10 = [(k1, "queued", 7, 0, at(10, 23, 59, 59, 999999), None)]
    outside = [(k1, "succeeded", 100, 100, at(6, 23, 59, 59, 999999), 10),  # the day before
               (k2, "succeeded", 100, 100, at(11), 10)]  # tomorrow
    store_tasks(automl, created.id, may7 + may9 + may10 + outside)
    store_tasks(automl, other.id, [(other.new_keys[0].id, "succeeded", 9, 9, at(9), 10)])

    with automl.store.session() as session:
        report = deployment_usage(session, created.name, 4, today=TODAY)
    assert (report.deployment_id, report.deployment_name) == (created.id, created.name)
    assert (report.since, report.until) == (date(2024, 5, 7), TODAY)
    assert [d.day for d in report.days] == [date(2024, 5, n) for n in (7, 8, 9, 10)]

    seventh, eighth, ninth, tenth = report.days
    # By hand: latencies 100, 300, 900; p99 = 300 + 0.98 * (900 - 300).
    assert figures(seventh) == {"requests": 3, "prompt_tokens": 9, "completion_tokens": 11,
                                "tokens": 20, "errors": 1, "p50_ms": 300.0, "p99_ms": 888.0}
    assert figures(eighth) == ZERO and eighth.keys == []
    assert figures(ninth) == expected(may9)
    assert figures(tenth) == {**ZERO, "requests": 1, "prompt_tokens": 7, "tokens": 7}

    slots = {k1: 1, k2: 2}
    prefixes = {key.id: key.key[:SHOWN_PREFIX] for key in created.new_keys}
    assert [(k.api_key_id, k.api_key_slot, k.api_key_prefix) for k in report.keys] == [
        (k1, 1, prefixes[k1]), (k2, 2, prefixes[k2]), (None, None, None)]
    for day, tasks in ((seventh, may7), (ninth, may9), (tenth, may10)):
        assert [k.api_key_id for k in day.keys] == [k for k in (k1, k2, None)
                                                    if any(t[0] == k for t in tasks)]
        for entry in day.keys:
            assert entry.api_key_slot == slots.get(entry.api_key_id)
            assert figures(entry) == expected([t for t in tasks if t[0] == entry.api_key_id])
    # By hand: key 1 asked 100 ms and 300 ms (failed), and twice still queued.
    assert figures(report.keys[0]) == {"requests": 4, "prompt_tokens": 16, "completion_tokens": 5,
                                       "tokens": 21, "errors": 1, "p50_ms": 200.0, "p99_ms": 298.0}
    assert figures(report.keys[1]) == expected(may9_k2)
    assert figures(report.keys[2]) == {"requests": 2, "prompt_tokens": 4, "completion_tokens": 6,
                                       "tokens": 10, "errors": 1, "p50_ms": 475.0, "p99_ms": 891.5}
    assert report.total.model_dump() == expected(may7 + may9 + may10)
    assert report.total.requests == 31

    json.dumps(report.to_json())  # dates as ISO text
    assert report.to_json()["days"][0]["day"] == "2024-05-07"


def test_range_edges_empty_days_and_bad_arguments(served):
    automl, deploy = served
    created = deploy("reviews")
    store_tasks(automl, created.id, [(None, "succeeded", 0, 0, at(9, 23, 59, 59, 999999), 20),
                                     (None, "succeeded", 0, 0, at(10), 40)])
    with automl.store.session() as session:
        one = deployment_usage(session, created.id, 1, today=TODAY)
        assert one.since == one.until == TODAY and len(one.days) == 1
        assert figures(one.days[0]) == {**ZERO, "requests": 1, "p50_ms": 40.0, "p99_ms": 40.0}
        year = deployment_usage(session, created.id, 366, today=TODAY)
        assert len(year.days) == 366 and year.since == TODAY - timedelta(days=365)
        assert year.total.requests == 2 and sum(d.figures.requests for d in year.days) == 2
        quiet = deployment_usage(session, created.id, 5, today=date(2024, 6, 1))
        assert [figures(d) for d in quiet.days] == [ZERO] * 5
        assert quiet.total.model_dump() == ZERO and quiet.keys == []
        for bad in (0, 367, -1, 2.5, "7", True):
            with pytest.raises(InvalidInput, match=r"days must be a whole number from 1 to 366"):
                deployment_usage(session, created.id, bad, today=TODAY)
        with pytest.raises(NotFound, match="no-such-deployment"):
            deployment_usage(session, "no-such-deployment", 7)

    default = automl.usage(created.name)  # through the Python API: 14 days ending today
    today = orm.utcnow().date()
    assert default.until == today and default.since == today - timedelta(days=13)
    assert len(default.days) == 14


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_usage_command(served, tmp_path, monkeypatch, capsys, tiny_base_models):
    automl, deploy = served
    created = deploy("reviews")
    today = datetime.combine(orm.utcnow().date(), time(0, 0, 1), tzinfo=timezone.utc)
    key = created.new_keys[1]
    store_tasks(automl, created.id, [(key.id, "succeeded", 2, 3, today, 120),
                                     (key.id, "failed", 1, 0, today, 80),
                                     (None, "succeeded", 0, 0, today - timedelta(days=2), 10)])
    run = cli_runner(tmp_path, monkeypatch, capsys, {"AutoML": {"base_models": tiny_base_models}})
    store = ["--store-url", automl.store_url, "--data-dir", str(automl.root)]

    code, out, _ = run(*store, "deployments", "usage", created.name, "--days", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["day", "requests", "tokens", "errors", "p50", "ms", "p99", "ms"]
    days = [(today.date() - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert [line.split() for line in lines[2:6]] == [
        [days[0], "1", "0", "0", "10.0", "10.0"], [days[1], "0", "0", "0", "-", "-"],
        [days[2], "2", "6", "1", "100.0", "119.6"], ["total", "3", "6", "1", "80.0", "119.2"]]
    per_key = out.split("\nkey ")[1]
    assert f"slot 2 ({key.key[:SHOWN_PREFIX]}...)" in per_key and "no key" in per_key

    code, out, _ = run(*store, "deployments", "usage", created.id, "--json")
    assert code == 0 and len(json.loads(out)["days"]) == 14
    code, _, err = run(*store, "deployments", "usage", created.name, "--days", "0")
    assert code == 2 and "days must be" in err
    code, _, err = run(*store, "deployments", "usage", "nowhere")
    assert code != 0 and "nowhere" in err


def test_batch_rows_count_as_requests_but_not_in_the_latency(served):
    automl, deploy = served
    deployment = deploy("reviews")
    store_tasks(automl, deployment.id, [(None, "succeeded", 3, 0, at(9, 12), 40.0)])
    with automl.store.session() as session:  # a batch row that waited an hour in its batch
        session.add(orm.Task(deployment_id=deployment.id, kind="batch", status="failed", prompt_tokens=5,
                             completion_tokens=0, created_at=at(9, 12),
                             finished_at=at(9, 12) + timedelta(hours=1)))
    with automl.store.session() as session:
        report = deployment_usage(session, deployment.id, 2, today=TODAY)
    day = report.days[0]
    assert (day.figures.requests, day.figures.prompt_tokens, day.figures.errors) == (2, 8, 1)
    assert day.figures.p50_ms == day.figures.p99_ms == 40.0
