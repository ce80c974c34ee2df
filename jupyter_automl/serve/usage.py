"""A deployment's usage (DESIGN §7): requests, tokens, errors and p50/p99 latency per UTC day
and per key, counted from the task history.

SQLite has no percentile function, so the few columns needed of each task in the range are
fetched (through the ``(deployment_id, created_at)`` index) and added up here; percentiles
are ``numpy.percentile``'s default (linear interpolation). A task counts on the UTC day it
arrived; its latency is from arrival to the answer, and only tasks that finished (succeeded
or failed) have one. The rows of a batch count as requests, tokens and errors, but not in the
latency: they wait their turn in their batch by design, which is not how fast it answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..schemas import KeyUsage, UsageDay, UsageFigures, UsageReport
from ..store import orm
from .deployments import deployment_row
from .tasks import BATCH, FAILED, QUEUED

DEFAULT_DAYS = 14
MAX_DAYS = 366


def check_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}; got {days!r}")
    return days


@dataclass
class _Tally:
    """The figures of one key on one day; :meth:`merged` adds such up (a day, a key, all)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, status: str, prompt: int, completion: int, latency: float | None) -> None:
        self.requests += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.errors += status == FAILED
        if latency is not None:
            self.latencies.append(latency)

    @classmethod
    def merged(cls, tallies: Iterable[_Tally]) -> _Tally:
        out = cls()
        for tally in tallies:
            out.requests += tally.requests
            out.prompt_tokens += tally.prompt_tokens
            out.completion_tokens += tally.completion_tokens
            out.errors += tally.errors
            out.latencies += tally.latencies
        return out

    def figures(self) -> UsageFigures:
        p50 = p99 = None
        if self.latencies:
            p50, p99 = (round(float(v), 3) for v in np.percentile(self.latencies, [50, 99]))
        return UsageFigures(
            requests=self.requests, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            tokens=self.prompt_tokens + self.completion_tokens, errors=self.errors,
            p50_ms=p50, p99_ms=p99,
        )


def _tallies(session: Session, deployment_id: str, start: datetime,
             end: datetime) -> dict[tuple[date, str | None], _Tally]:
    """The tasks created in ``[start, end)`` tallied per (UTC day, key id): only the columns
    needed, read through the ``(deployment_id, created_at)`` index without ORM objects."""
    found = session.connection().execute(
        select(orm.Task.api_key_id, orm.Task.status, orm.Task.prompt_tokens,
               orm.Task.completion_tokens, orm.Task.created_at, orm.Task.finished_at, orm.Task.kind)
        .where(orm.Task.deployment_id == deployment_id, orm.Task.created_at >= start,
               orm.Task.created_at < end)
    )
    tallies: dict[tuple[date, str | None], _Tally] = defaultdict(_Tally)
    for key_id, status, prompt, completion, created_at, finished_at, kind in found:
        latency = None
        if status != QUEUED and finished_at is not None and kind != BATCH:
            latency = max(0.0, (finished_at - created_at).total_seconds() * 1000)
        tallies[created_at.date(), key_id].add(status, prompt or 0, completion or 0, latency)
    return tallies


def deployment_usage(session: Session, deployment: str, days: int = DEFAULT_DAYS, *,
                     today: date | None = None) -> UsageReport:
    """The usage of a deployment (id or name) over the ``days`` UTC days ending ``today``
    (default: today in UTC). Every day is listed, oldest first; keys are listed by slot (a
    rotated slot's keys oldest first), tasks asked without a key last."""
    days = check_days(days)
    row = deployment_row(session, deployment)
    until = today or orm.utcnow().date()
    since = until - timedelta(days=days - 1)
    start = datetime.combine(since, time.min, tzinfo=timezone.utc)
    tallies = _tallies(session, row.id, start, start + timedelta(days=days))
    per_day: dict[date, dict[str | None, _Tally]] = defaultdict(dict)
    per_key: dict[str | None, list[_Tally]] = defaultdict(list)
    for (day, key_id), tally in tallies.items():
        per_day[day][key_id] = tally
        per_key[key_id].append(tally)

    keys = session.scalars(select(orm.ApiKey).where(orm.ApiKey.deployment_id == row.id)
                           .order_by(orm.ApiKey.slot, orm.ApiKey.created_at)).all()
    rank = {key.id: n for n, key in enumerate(keys)}
    by_id = {key.id: key for key in keys}

    def listed(figures: dict[str | None, UsageFigures]) -> list[KeyUsage]:
        ordered = sorted(figures, key=lambda k: (k is None, rank.get(k, len(rank)), k or ""))
        return [KeyUsage(api_key_id=k, api_key_slot=by_id[k].slot if k in by_id else None,
                         api_key_prefix=by_id[k].prefix if k in by_id else None,
                         figures=figures[k]) for k in ordered]

    return UsageReport(
        deployment_id=row.id, deployment_name=row.name or row.id, since=since, until=until,
        total=_Tally.merged(tallies.values()).figures(),
        days=[UsageDay(day=day, figures=_Tally.merged(per_day[day].values()).figures(),
                       keys=listed({k: t.figures() for k, t in per_day[day].items()}))
              for day in (since + timedelta(days=n) for n in range(days))],
        keys=listed({k: _Tally.merged(t).figures() for k, t in per_key.items()}),
    )
