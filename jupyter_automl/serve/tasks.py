"""Stored tasks and their API shape (DESIGN §7, shaped like Hive's task API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

QUEUED, SUCCEEDED, FAILED = "queued", "succeeded", "failed"
SYNC, ASYNC, PLAYGROUND, BATCH = "sync", "async", "playground", "batch"

_CODES = {
    SUCCEEDED: ("0", "SUCCESS"),
    FAILED: ("1", "FAILED"),
    QUEUED: ("2", "QUEUED"),
}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def task_json(task: Any, *, model_name: str, version: int) -> dict[str, Any]:
    """The task object an application reads. ``status`` is Hive's list of one entry: its code
    (``"0"`` success, ``"1"`` failed, ``"2"`` queued), its message (the error when it failed)
    and the response: the input as received (with the model, version and a hash of the input)
    and the output."""
    code, message = _CODES[task.status]
    if task.status == FAILED and task.error:
        message = f"FAILED: {task.error}"
    response = {
        "input": {**(task.input or {}), "model": model_name, "model_version": version},
        "output": (task.output or {}).get("output", []) if task.status == SUCCEEDED else [],
    }
    return {
        "id": task.id,
        "deployment_id": task.deployment_id,
        "version_id": task.version_id,
        "kind": task.kind,
        "state": task.status,
        "status": [{"status": {"code": code, "message": message}, "response": response}],
        "usage": {"prompt_tokens": task.prompt_tokens, "completion_tokens": task.completion_tokens},
        "created_on": _iso(task.created_at),
        "finished_on": _iso(task.finished_at),
    }
