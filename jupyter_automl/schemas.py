"""API shapes (pydantic): what the Python API returns and the REST API serializes.

They are separate from the ORM rows (store/orm.py); the public API converts one to the other.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from .datasets.report import ValidationReport


class Shape(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class DatasetInfo(Shape):
    id: str
    name: str
    model_type: str
    filename: str
    size_bytes: int
    sha256: str
    base_model: str | None
    rows: int
    valid_rows: int
    valid: bool
    created_at: datetime


class DatasetDetail(DatasetInfo):
    report: dict[str, Any]

    @property
    def validation(self) -> ValidationReport:
        return ValidationReport.from_dict(self.report)


class SnapshotInfo(Shape):
    id: str
    name: str
    dataset_id: str | None
    parent_id: str | None
    model_type: str
    content_hash: str
    rows: int
    role: str
    split_percent: int | None
    seed: int | None
    base_model: str | None
    heads: dict[str, dict[str, int]]
    is_example: bool
    created_at: datetime


class SnapshotDetail(SnapshotInfo):
    path: str
    report: dict[str, Any]


class SplitInfo(Shape):
    train: SnapshotInfo
    test: SnapshotInfo


class BaseModelInfo(Shape):
    name: str
    display_name: str
    model_types: list[str]
    source: str
    location: str
    default_max_epochs: int
    default_max_tokens: int | None
    token_limit: int | None
    training_methods: list[str]
    builtin_heads: dict[str, list[str]]
    is_moderation: bool
    description: str
    license: str | None


class VersionInfo(Shape):
    id: str
    model_id: str
    version: int
    status: str
    base_model: str
    options: dict[str, Any]
    train_snapshot_id: str
    test_snapshot_id: str | None
    test_split_percent: int | None
    snapshot_hash: str | None
    artifacts_path: str | None
    notebook_path: str | None
    metrics: dict[str, Any] | None
    error: str | None
    created_at: datetime
    trained_at: datetime | None


class ModelInfo(Shape):
    id: str
    name: str
    description: str
    model_type: str
    base_model: str
    train_snapshot_id: str
    test_snapshot_id: str | None
    test_split_percent: int | None
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ModelDetail(ModelInfo):
    versions: list[VersionInfo]


class JobInfo(Shape):
    id: str
    version_id: str
    model_id: str
    model_name: str
    version: int
    status: str
    epoch: int | None
    step: int | None
    total_steps: int | None
    progress: dict[str, Any]
    log_tail: str
    error: str | None
    notebook_path: str | None
    executor: str | None
    worker_id: str | None
    pid: int | None  # the kernel's, while it runs
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


class WorkerInfo(Shape):
    id: str
    host: str
    pid: int
    executor: str
    capacity: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


class ApiKeyInfo(Shape):
    """A deployment's key as it is listed: its id and first characters, never the key."""

    id: str
    slot: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    requests: int
    tokens: int
    last_used_at: datetime | None


class DeploymentInfo(Shape):
    id: str
    name: str
    version_id: str
    model_id: str
    model_name: str
    model_type: str
    version: int
    status: str
    error: str | None
    requests: int
    tokens: int
    errors: int
    created_at: datetime
    deployed_at: datetime | None
    undeployed_at: datetime | None
    keys: list[ApiKeyInfo]
    metadata_only: bool = False  # its tasks keep no input or output text


class NewApiKey(Shape):
    """A key as it is made: the only time the key itself is shown."""

    id: str
    slot: int
    key: str


class DeploymentCreated(DeploymentInfo):
    new_keys: list[NewApiKey]


class TaskRecord(Shape):
    """A task in a deployment's history: never the key itself (its id, slot and prefix), and
    ``input``, ``input_preview`` and ``output`` null when the deployment keeps metadata only."""

    id: str
    deployment_id: str | None
    version_id: str | None
    kind: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    latency_ms: int | None  # created to finished
    prompt_tokens: int
    completion_tokens: int
    api_key_id: str | None
    api_key_slot: int | None
    api_key_prefix: str | None
    error: str | None
    attempts: int
    metadata_only: bool
    input_type: str | None  # text_data, url or media
    input_hash: str | None
    input_preview: str | None
    input: dict[str, Any] | None
    output: list[Any] | None


class TaskPage(Shape):
    """One page of a task history, newest first; ``next_cursor`` asks for the next (older) page."""

    tasks: list[TaskRecord]
    next_cursor: str | None


class BatchInfo(Shape):
    """A file of inputs submitted to a deployment, and how far its rows are."""

    id: str
    deployment_id: str
    file_name: str
    rows: int
    queued: int
    succeeded: int
    failed: int
    done: int
    state: str  # running while a row is queued, then completed
    created_at: datetime
    finished_at: datetime | None
    warnings: list[dict[str, Any]]


class PlaygroundInfo(Shape):
    version_id: str
    requests: int
    limit: int
    remaining: int
    expires_at: datetime | None
    deployment_id: str | None


class UsageFigures(Shape):
    """Requests, tokens and errors (failed tasks) of a set of tasks, and the latency (arrival
    to answer) percentiles of those that finished: null when none did."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    tokens: int  # prompt + completion
    errors: int
    p50_ms: float | None
    p99_ms: float | None


class KeyUsage(Shape):
    """One key's figures: never the key itself (its id, slot and prefix); all three null for
    the tasks asked without a key (playground, Python API, batches)."""

    api_key_id: str | None
    api_key_slot: int | None
    api_key_prefix: str | None
    figures: UsageFigures


class UsageDay(Shape):
    day: date  # a UTC calendar day
    figures: UsageFigures
    keys: list[KeyUsage]  # the keys that asked that day


class UsageReport(Shape):
    """A deployment's usage per UTC day (every day from ``since`` to ``until``, oldest first)
    and per key over the whole range."""

    deployment_id: str
    deployment_name: str
    since: date
    until: date
    total: UsageFigures
    days: list[UsageDay]
    keys: list[KeyUsage]
