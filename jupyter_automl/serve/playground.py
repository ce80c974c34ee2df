"""The playground: a trained version answers a limited number of requests before it is
deployed (DESIGN §3: 500 within 15 days of training, both configurable).

The count is taken with one conditional UPDATE (``requests < limit``), so it is exact under any
concurrency: PostgreSQL re-checks the condition on the locked row, SQLite runs writes one at a
time. A request is counted before the model answers it, so a burst can never overshoot.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..errors import AutoMLError, Conflict, NotFound
from ..schemas import PlaygroundInfo
from ..store import orm
from .deployments import COMPLETE


class PlaygroundLimit(AutoMLError):
    """The playground of a version is used up or expired: deploy the version to go on."""

    http_status = 403


def _version(session: Session, version_id: str) -> orm.ModelVersion:
    version = session.get(orm.ModelVersion, version_id)
    if version is None:
        raise NotFound(f"no model version with id {version_id!r}")
    if version.status != "trained" or not version.artifacts_path:
        raise Conflict(
            f"version {version.version} of model {version.model.name!r} is {version.status}; "
            "the playground answers with trained versions only"
        )
    return version


def deployment_of(session: Session, version_id: str) -> str | None:
    """The complete deployment serving a version, whose requests are not limited."""
    return session.scalar(
        select(orm.Deployment.id).where(
            orm.Deployment.version_id == version_id, orm.Deployment.status == COMPLETE
        )
    )


def usage(session: Session, version_id: str, *, limit: int, days: float) -> PlaygroundInfo:
    version = _version(session, version_id)
    used = session.scalar(
        select(orm.PlaygroundUsage.requests).where(orm.PlaygroundUsage.version_id == version_id)
    ) or 0
    expires = version.trained_at + timedelta(days=days) if version.trained_at else None
    return PlaygroundInfo(version_id=version_id, requests=used, limit=limit,
                          remaining=max(0, limit - used), expires_at=expires,
                          deployment_id=deployment_of(session, version_id))


def take_request(session: Session, version_id: str, *, limit: int, days: float) -> int:
    """Count one playground request; the requests left after it. Refused past the limit or
    the time, with a message that says to deploy."""
    version = _version(session, version_id)
    label = f"version {version.version} of model {version.model.name!r}"
    at = datetime.now(timezone.utc)
    if version.trained_at and at > version.trained_at + timedelta(days=days):
        raise PlaygroundLimit(
            f"the playground of {label} ended {days:g} days after training; "
            "deploy the version to keep using it"
        )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(orm.PlaygroundUsage)
        .values(version_id=version_id, requests=0)
        .on_conflict_do_nothing(index_elements=["version_id"])
    )
    taken = session.execute(
        update(orm.PlaygroundUsage)
        .where(orm.PlaygroundUsage.version_id == version_id, orm.PlaygroundUsage.requests < limit)
        .values(requests=orm.PlaygroundUsage.requests + 1, last_request_at=at)
        .returning(orm.PlaygroundUsage.requests)
    ).scalar()
    if taken is None:
        raise PlaygroundLimit(
            f"the playground of {label} has answered its {limit} requests; "
            "deploy the version to keep using it"
        )
    if taken == 1:
        session.execute(
            update(orm.PlaygroundUsage)
            .where(orm.PlaygroundUsage.version_id == version_id)
            .values(first_request_at=at)
        )
    return limit - taken
