"""Task history per deployment (DESIGN §7): listing with filters and a cursor, one task by id,
the metadata-only mode, and the retention clean-up.

Every task a deployment answers (sync, async, playground) is a row of ``tasks``. A deployment
deployed with ``metadata_only`` keeps no input or output text: its tasks keep their status,
times, token counts, key id and a hash of the input (:func:`metadata_input`). An async task
needs its input until it has run, so that input is stored while the task is queued and replaced
by its metadata in the transaction that finishes the task (its media file is deleted then too).

The cursor is opaque to clients: the ``(created_at, id)`` of the last task of a page. Pages are
newest first and the next page holds tasks strictly older than the cursor, so tasks that arrive
between pages neither repeat nor push others out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..schemas import TaskPage, TaskRecord
from ..store import orm
from .deployments import METADATA_ONLY, deployment_row, is_metadata_only
from .tasks import FAILED, QUEUED, SUCCEEDED

STATUSES = (QUEUED, SUCCEEDED, FAILED)
MAX_LIMIT = 500
PREVIEW_CHARS = 80
INPUTS = ("text_data", "url", "media")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# ------------------------------------------------------------------ metadata-only mode
def keeps_text(session: Session, deployment_id: str | None) -> bool:
    """Whether the tasks of a deployment keep their input and output text (the session's
    identity map makes this one query per deployment and transaction)."""
    if not deployment_id:
        return True
    row = session.get(orm.Deployment, deployment_id)
    return row is None or not is_metadata_only(row.options)


def _input_type(stored: dict[str, Any]) -> str | None:
    if stored.get("type"):
        return stored["type"]
    return next((name for name in INPUTS if stored.get(name) is not None), None)


def metadata_input(stored: dict[str, Any] | None) -> dict[str, Any]:
    """What a metadata-only task keeps of its input: which input it was, its size (characters,
    or bytes of a media file) and its hash; no text, url, file name or options."""
    stored = stored or {}
    if stored.get(METADATA_ONLY):
        return stored
    kind = _input_type(stored)
    value = stored.get(kind) if kind else None
    if kind == "media":
        size = (value or {}).get("bytes")
    else:
        size = len(value) if isinstance(value, str) else None
    return {METADATA_ONLY: True, "hash": stored.get("hash"), "type": kind, "size": size}


# -------------------------------------------------------------------------- arguments
def parse_time(value: datetime | str | None, name: str) -> datetime | None:
    """A time filter: a datetime, an ISO 8601 time (``2024-05-01``, ``2024-05-01T12:00:00Z``;
    UTC when it names no zone) or a duration back from now (``30m``, ``24h``, ``7d``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a time, got {value!r}")
    duration = _DURATION.match(value)
    if duration:
        amount, unit = float(duration.group(1)), duration.group(2)
        return orm.utcnow() - timedelta(**{_UNITS[unit]: amount})
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{name}: expected an ISO 8601 time such as 2024-05-01T12:00:00Z or a duration back "
            f"from now such as 30m, 24h or 7d; got {value!r}"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def encode_cursor(created_at: datetime, task_id: str) -> str:
    raw = json.dumps([created_at.astimezone(timezone.utc).isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, task_id = json.loads(raw)
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None or not re.fullmatch(r"[0-9a-f]{32}", task_id):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"cursor {cursor!r} is not one this API gave; pass the next_cursor of the page before, "
            "or leave cursor out for the newest tasks"
        ) from None
    return created_at, task_id


def check_status(status: str | None) -> str | None:
    if status in (None, ""):
        return None
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    return status


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}; got {limit!r}")
    return limit


# ---------------------------------------------------------------------------- reading
def _preview(stored: dict[str, Any]) -> str | None:
    kind = _input_type(stored)
    if kind == "media":
        media = stored.get("media") or {}
        return f"[{media.get('filename') or 'media'}, {media.get('bytes', 0)} bytes]"
    text = stored.get(kind) if kind else None
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def record(row: orm.Task, key: orm.ApiKey | None, *, deployment_metadata_only: bool) -> TaskRecord:
    """One history entry: never the key itself (its id, slot and prefix), and no text where
    the deployment keeps metadata only (even while an async task still holds its input)."""
    stored = row.input or {}
    hidden = deployment_metadata_only or bool(stored.get(METADATA_ONLY))
    latency = None
    if row.finished_at is not None and row.created_at is not None:
        latency = max(0, round((row.finished_at - row.created_at).total_seconds() * 1000))
    output = (row.output or {}).get("output") if row.output is not None else None
    return TaskRecord(
        id=row.id, deployment_id=row.deployment_id, version_id=row.version_id, kind=row.kind,
        status=row.status, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at, latency_ms=latency,
        prompt_tokens=row.prompt_tokens or 0, completion_tokens=row.completion_tokens or 0,
        api_key_id=row.api_key_id, api_key_slot=key.slot if key else None,
        api_key_prefix=key.prefix if key else None, error=row.error, attempts=row.attempts or 0,
        metadata_only=hidden, input_type=_input_type(stored), input_hash=stored.get("hash"),
        input_preview=None if hidden else _preview(stored),
        input=None if hidden else {k: v for k, v in stored.items() if k != "hash"},
        output=None if hidden else output,
    )


def list_tasks(session: Session, deployment: str, *, status: str | None = None,
               since: datetime | str | None = None, until: datetime | str | None = None,
               limit: int = 50, cursor: str | None = None) -> TaskPage:
    """A deployment's tasks, newest first: created at or after ``since`` and before ``until``."""
    status, limit = check_status(status), check_limit(limit)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    after = decode_cursor(cursor) if cursor else None
    row = deployment_row(session, deployment)
    query = (select(orm.Task, orm.ApiKey)
             .outerjoin(orm.ApiKey, orm.Task.api_key_id == orm.ApiKey.id)
             .where(orm.Task.deployment_id == row.id))
    if status:
        query = query.where(orm.Task.status == status)
    if start:
        query = query.where(orm.Task.created_at >= start)
    if end:
        query = query.where(orm.Task.created_at < end)
    if after:
        at, task_id = after
        query = query.where(or_(orm.Task.created_at < at,
                                and_(orm.Task.created_at == at, orm.Task.id < task_id)))
    found = session.execute(
        query.order_by(orm.Task.created_at.desc(), orm.Task.id.desc()).limit(limit + 1)
    ).all()
    hidden = is_metadata_only(row.options)
    tasks = [record(task, key, deployment_metadata_only=hidden) for task, key in found[:limit]]
    more = len(found) > limit
    last = found[limit - 1][0] if more else None
    return TaskPage(tasks=tasks, next_cursor=encode_cursor(last.created_at, last.id) if last else None)


def get_task(session: Session, deployment: str, task_id: str) -> TaskRecord:
    row = deployment_row(session, deployment)
    found = session.execute(
        select(orm.Task, orm.ApiKey).outerjoin(orm.ApiKey, orm.Task.api_key_id == orm.ApiKey.id)
        .where(orm.Task.id == task_id, orm.Task.deployment_id == row.id)
    ).first()
    if found is None:
        raise NotFound(f"deployment {row.name or row.id!r} has no task {task_id!r}")
    return record(found[0], found[1], deployment_metadata_only=is_metadata_only(row.options))


# -------------------------------------------------------------------------- retention
def expired_ids(session: Session, cutoff: datetime, batch: int) -> list[str]:
    return list(session.scalars(
        select(orm.Task.id).where(orm.Task.finished_at < cutoff).limit(batch)
    ).all())


def delete_ids(session: Session, ids: list[str]) -> None:
    session.execute(delete(orm.Task).where(orm.Task.id.in_(ids)))
