"""API shapes (pydantic): what the Python API returns and the REST API serializes.

They are separate from the ORM rows (store/orm.py); the public API converts one to the other.
"""

from __future__ import annotations

from datetime import datetime
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
