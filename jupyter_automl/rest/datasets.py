"""Datasets (upload, validate, list, show) and snapshots (freeze, split, list, show)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from tornado import web

from ..errors import InvalidInput
from .base import AutoMLHandler, Body
from .multipart import FilePart, Form
from .uploads import FormUploadHandler

UPLOAD_FILES = ("file", "images")
UPLOAD_FIELDS = ("model_type", "name", "base_model", "max_tokens", "max_invalid_row_percent")


class UploadForm:
    """The fields of a dataset upload, checked and typed for the core call."""

    def __init__(self, form: Form) -> None:
        unknown = sorted((set(form.fields) | set(form.files)) - {*UPLOAD_FILES, *UPLOAD_FIELDS})
        if unknown:
            known = ", ".join((*UPLOAD_FILES, *UPLOAD_FIELDS))
            raise InvalidInput(f"unknown form field(s) {', '.join(unknown)} (known: {known})")
        for name in UPLOAD_FILES:
            if name in form.fields:
                raise InvalidInput(f"{name!r} must be sent as a file (a part with a filename)")
        for name in UPLOAD_FIELDS:
            if name in form.files:
                raise InvalidInput(f"{name!r} must be a text field, not a file")
        if "file" not in form.files:
            raise InvalidInput("the form has no 'file': send the CSV as the part named 'file'")
        if not form.fields.get("model_type"):
            raise InvalidInput("the form has no 'model_type'")
        self.file: FilePart = form.files["file"]
        self.images: FilePart | None = form.files.get("images")
        self.model_type = form.fields["model_type"]
        self.name = form.fields.get("name") or None
        self.base_model = form.fields.get("base_model") or None
        self.max_tokens = _whole_number(form.fields, "max_tokens")
        self.max_invalid_row_percent = _whole_number(form.fields, "max_invalid_row_percent")

    def settings(self) -> dict[str, Any]:
        """The validation settings given (the core's defaults for those left out)."""
        given = {
            "base_model": self.base_model,
            "max_tokens": self.max_tokens,
            "max_invalid_row_percent": self.max_invalid_row_percent,
        }
        return {k: v for k, v in given.items() if v is not None}


def _whole_number(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"form field {name!r} must be a whole number, got {value!r}") from None


class DatasetsHandler(FormUploadHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(self.automl.list_datasets, self.get_argument("model_type", None))
        self.write_json({"datasets": [d.to_json() for d in items]})

    @web.authenticated
    async def post(self) -> None:
        """Store and validate an upload; an invalid one is stored too, with its report."""
        upload = UploadForm(self.form())
        with ExitStack() as files:
            csv = files.enter_context(upload.file.path.open("rb"))
            images = files.enter_context(upload.images.path.open("rb")) if upload.images else None
            dataset = await self.call(
                self.automl.upload_dataset,
                csv,
                upload.model_type,
                name=upload.name,
                filename=upload.file.filename,
                images=images,
                images_filename=upload.images.filename if upload.images else None,
                **upload.settings(),
            )
        self.write_json(dataset, status=201)


class DatasetValidateHandler(FormUploadHandler):
    @web.authenticated
    async def post(self) -> None:
        """The report an upload would get, without storing it (``name`` is ignored)."""
        upload = UploadForm(self.form())
        report = await self.call(
            self.automl.validate,
            upload.file.path,
            upload.model_type,
            images=upload.images.path if upload.images else None,
            **upload.settings(),
        )
        self.write_json(report.to_dict())


class DatasetHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, dataset_id: str) -> None:
        self.write_json(await self.call(self.automl.get_dataset, dataset_id))


class NewSnapshot(Body):
    dataset_id: str
    name: str | None = None
    role: str = "train"


class SnapshotsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        items = await self.call(
            self.automl.list_snapshots,
            self.get_argument("model_type", None),
            role=self.get_argument("role", None),
        )
        self.write_json({"snapshots": [s.to_json() for s in items]})

    @web.authenticated
    async def post(self) -> None:
        body = self.body(NewSnapshot)
        snapshot = await self.call(
            self.automl.create_snapshot, body.dataset_id, name=body.name, role=body.role
        )
        self.write_json(snapshot, status=201)


class SnapshotHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, snapshot_id: str) -> None:
        self.write_json(await self.call(self.automl.get_snapshot, snapshot_id))


class SplitRequest(Body):
    test_percent: int
    seed: int = 42
    stratify_by: str | None = None


class SnapshotSplitHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, snapshot_id: str) -> None:
        body = self.body(SplitRequest)
        split = await self.call(
            self.automl.split_snapshot,
            snapshot_id,
            body.test_percent,
            seed=body.seed,
            stratify_by=body.stratify_by,
        )
        self.write_json(split, status=201)
