"""Batches: a file of inputs submitted to a deployment at once (DESIGN §7, issue 9).

The file is checked with the dataset rules (``ValidationSettings(prediction=True)``): the same
messages with rows and columns, and any invalid row refuses the whole file before anything is
stored. A valid file becomes one ``batches`` row and one queued task of kind ``batch`` per input
row, all in one transaction, so a batch is either wholly queued or not at all.

The rows are then ordinary tasks: a serving process claims them under a lease (in chunks, see
``ServingRuntime.drive_batch``), runs them through the deployment's batcher with any other
traffic, and records each in the transaction that finishes its model call. A process that dies
leaves its claimed rows to be claimed again when their lease runs out, so every row is recorded
exactly once (a row in flight when the process died is run again: at least once, recorded once).

Results are read back in input order (``batch_row``) as CSV or JSON Lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound
from ..model_types import ModelType
from ..schemas import BatchInfo
from ..store import orm
from ..store.orm import utcnow as now
from .deployments import deployment_row
from .inputs import CLASSIFIER_OPTIONS, LLM_GENERATION_OPTIONS, TaskRequest, check_options
from .tasks import BATCH, FAILED, QUEUED, SUCCEEDED

FORMATS = ("csv", "jsonl")
LLM_INPUT_COLUMNS = ("prompt", "system_prompt", "prompt_history", "roles")


def check_batch_options(options: dict[str, Any] | str | bytes | None, model_type: ModelType) -> dict[str, Any]:
    """Options applied to every row (generation settings for LLMs, ``top_k`` for classifiers),
    a dict or its JSON text (a form's field), checked before anything is queued."""
    if isinstance(options, (str, bytes)):
        try:
            options = json.loads(options) if options.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"options is not JSON: {error}") from None
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise InvalidInput("options must be a JSON object")
    if model_type.is_llm:
        from ..training.predictor import generation_settings

        check_options(options, LLM_GENERATION_OPTIONS, "batch of an LLM")
        generation_settings(options)
    else:
        check_options(options, CLASSIFIER_OPTIONS, model_type.value.replace("_", " "))
        top_k = options.get("top_k")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InvalidInput(f"options.top_k must be a positive integer, got {top_k!r}")
    return options


def input_columns(table: pd.DataFrame, model_type: ModelType) -> list[str]:
    """The input columns a results file repeats: those the file filled in."""
    if model_type.is_llm:
        return [c for c in LLM_INPUT_COLUMNS if c == "prompt" or (table[c] != "").any()]
    if model_type is ModelType.TEXT_CLASSIFICATION:
        return ["text_data"]
    return ["image"]


def row_requests(table: pd.DataFrame, model_type: ModelType, options: dict[str, Any],
                 read_image: Any = None) -> list[tuple[int, TaskRequest]]:
    """``(row number, request)`` per valid row. ``read_image(name)`` gives the bytes of a zip
    entry (image rows name either a zip entry or an http(s) URL)."""
    requests: list[tuple[int, TaskRequest]] = []
    if model_type.is_llm:
        for record in table.to_dict("records"):
            extra = {}
            if record["system_prompt"]:
                extra["system_prompt"] = record["system_prompt"]
            if model_type is ModelType.LLM_CHAT:
                if record["prompt_history"]:
                    extra["prompt_history"] = json.loads(record["prompt_history"])
                if record["roles"]:
                    extra["roles"] = json.loads(record["roles"])
            requests.append((int(record["row"]), TaskRequest(text_data=record["prompt"],
                                                            options={**options, **extra})))
    elif model_type is ModelType.TEXT_CLASSIFICATION:
        for number, text in zip(table["row"], table["text_data"]):
            requests.append((int(number), TaskRequest(text_data=text, options=dict(options))))
    else:
        for number, image in zip(table["row"], table["image"]):
            if image.startswith(("http://", "https://")):
                request = TaskRequest(url=image, options=dict(options))
            else:
                request = TaskRequest(media=read_image(image), media_name=image.rpartition("/")[2],
                                      options=dict(options))
            requests.append((int(number), request))
    return requests


def insert_batch(session: Session, *, deployment_id: str, version_id: str, key_id: str | None,
                 file_name: str, columns: list[str], options: dict[str, Any],
                 warnings: list[dict[str, Any]], rows: Sequence[tuple[str, int, TaskRequest]]) -> str:
    """Store a batch and its queued rows (``(task id, row number, request)``) in the caller's
    transaction; no process holds them yet, so any serving process may take them."""
    batch = orm.Batch(id=orm.new_id(), deployment_id=deployment_id, api_key_id=key_id,
                      file_name=file_name, rows=len(rows), input_columns=columns, options=options,
                      warnings=warnings, created_at=now())
    session.add(batch)
    session.flush()
    if rows:
        session.execute(insert(orm.Task), [
            {"id": task_id, "deployment_id": deployment_id, "version_id": version_id,
             "api_key_id": key_id, "kind": BATCH, "status": QUEUED,
             "input": {**request.stored_input(), "hash": request.input_hash()},
             "created_at": batch.created_at, "attempts": 0, "prompt_tokens": 0,
             "completion_tokens": 0, "batch_id": batch.id, "batch_row": number}
            for task_id, number, request in rows
        ])
    return batch.id


def _counts(session: Session, batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    found = session.execute(
        select(orm.Task.batch_id, orm.Task.status, func.count(), func.max(orm.Task.finished_at))
        .where(orm.Task.batch_id.in_(batch_ids)).group_by(orm.Task.batch_id, orm.Task.status)
    ).all()
    counts: dict[str, dict[str, Any]] = {b: {QUEUED: 0, SUCCEEDED: 0, FAILED: 0, "last": None}
                                         for b in batch_ids}
    for batch_id, status, n, last in found:
        counts[batch_id][status] = n
        if last is not None and (counts[batch_id]["last"] is None or last > counts[batch_id]["last"]):
            counts[batch_id]["last"] = last
    return counts


def _info(batch: orm.Batch, counts: dict[str, Any]) -> BatchInfo:
    done = counts[SUCCEEDED] + counts[FAILED]
    running = counts[QUEUED] > 0
    return BatchInfo(
        id=batch.id, deployment_id=batch.deployment_id, file_name=batch.file_name, rows=batch.rows,
        queued=counts[QUEUED], succeeded=counts[SUCCEEDED], failed=counts[FAILED], done=done,
        state="running" if running else "completed", created_at=batch.created_at,
        finished_at=None if running else counts["last"] or batch.created_at,
        warnings=batch.warnings or [],
    )


def _batch_row(session: Session, deployment: str, batch_id: str) -> orm.Batch:
    owner = deployment_row(session, deployment)
    batch = session.get(orm.Batch, batch_id)
    if batch is None or batch.deployment_id != owner.id:
        raise NotFound(f"deployment {owner.name or owner.id!r} has no batch {batch_id!r}")
    return batch


def get_batch(session: Session, deployment: str, batch_id: str) -> BatchInfo:
    batch = _batch_row(session, deployment, batch_id)
    return _info(batch, _counts(session, [batch.id])[batch.id])


def list_batches(session: Session, deployment: str, limit: int = 50) -> list[BatchInfo]:
    owner = deployment_row(session, deployment)
    rows = session.scalars(select(orm.Batch).where(orm.Batch.deployment_id == owner.id)
                           .order_by(orm.Batch.created_at.desc(), orm.Batch.id.desc()).limit(limit)).all()
    counts = _counts(session, [b.id for b in rows])
    return [_info(b, counts[b.id]) for b in rows]


def delete_empty_batches(session: Session, cutoff: datetime) -> int:
    """Batches created before ``cutoff`` whose every row the retention clean-up deleted."""
    has_rows = select(orm.Task.id).where(orm.Task.batch_id == orm.Batch.id).exists()
    return session.execute(
        delete(orm.Batch).where(orm.Batch.created_at < cutoff, ~has_rows)
        .execution_options(synchronize_session=False)
    ).rowcount


# -- results ---------------------------------------------------------------------------------------


def _input_cells(stored: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    options = stored.get("options") or {}
    cells: dict[str, Any] = {}
    for column in columns:
        if column in ("prompt", "text_data"):
            cells[column] = stored.get("text_data", "")
        elif column == "image":
            cells[column] = stored.get("url") or (stored.get("media") or {}).get("filename", "")
        else:
            value = options.get(column, "")
            cells[column] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return cells


def result_records(session: Session, deployment: str, batch_id: str,
                   chunk: int = 1000) -> tuple[orm.Batch, list[str], Iterator[dict[str, Any]]]:
    """The batch, the heads its answers have (classifiers; none when no row succeeded) and its
    rows in input order, read ``chunk`` at a time; refused (409) while a row is still queued."""
    batch = _batch_row(session, deployment, batch_id)
    info = _info(batch, _counts(session, [batch.id])[batch.id])
    if info.state != "completed":
        raise Conflict(f"batch {batch_id} is still running ({info.done:,} of {info.rows:,} rows done); "
                       "its results download when every row is done")

    def records() -> Iterator[dict[str, Any]]:
        after = -1
        while True:
            page = session.execute(
                select(orm.Task.batch_row, orm.Task.input, orm.Task.status, orm.Task.error,
                       orm.Task.output, orm.Task.prompt_tokens, orm.Task.completion_tokens)
                .where(orm.Task.batch_id == batch.id, orm.Task.batch_row > after)
                .order_by(orm.Task.batch_row).limit(chunk)
            ).all()
            for number, stored, status, error, output, prompt_tokens, completion_tokens in page:
                yield {"row": number, "input": _input_cells(stored or {}, batch.input_columns),
                       "status": status, "error": error,
                       "output": (output or {}).get("output") if status == SUCCEEDED else None,
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}
            if len(page) < chunk:
                return
            after = page[-1][0]

    first = session.scalars(select(orm.Task.output).where(
        orm.Task.batch_id == batch.id, orm.Task.status == SUCCEEDED).limit(1)).first()
    heads = [h["head"] for h in (first or {}).get("output") or [] if "head" in h]
    return batch, heads, records()


def _output_cells(output: list[dict[str, Any]] | None, llm: bool) -> dict[str, Any]:
    if not output:
        return {}
    if llm:
        return {"completion": output[0].get("completion", "")}
    cells: dict[str, Any] = {}
    for head in output:
        top = head["classes"][0] if head.get("classes") else {}
        cells[head["head"]] = top.get("class", "")
        cells[f"{head['head']}_score"] = top.get("score", "")
    return cells


def write_results(records: Iterator[dict[str, Any]], columns: list[str], heads: list[str],
                  model_type: ModelType, fmt: str) -> Iterator[str]:
    """The results as text pieces of a CSV or JSON Lines file (see the OpenAPI document):
    ``columns`` are the input columns, ``heads`` a classifier's heads."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    llm = model_type.is_llm
    outputs = ["completion", "prompt_tokens", "completion_tokens"] if llm else [
        part for head in heads for part in (head, f"{head}_score")]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["row", *columns, "status", "error", *outputs],
                            restval="", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        cells = {"row": record["row"], **record["input"], "status": record["status"],
                 "error": record["error"] or "", **_output_cells(record["output"], llm)}
        if llm:
            cells.update(record["usage"])
        writer.writerow(cells)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
