"""Datasets and snapshots: upload, validate, freeze, split."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from sqlalchemy import select

from ..base_models import load_tokenizer
from ..base_models.entry import BaseModelEntry
from ..datasets import snapshots as snapshot_files
from ..datasets.examples import EXAMPLES
from ..datasets.report import ValidationReport
from ..datasets.split import split_rows
from ..datasets.staging import staging_folder, sweep
from ..datasets.validation import ValidationSettings, validate_file
from ..errors import DataValidationError, InvalidInput, NotFound, TooLarge
from ..model_types import ModelType
from ..schemas import DatasetDetail, DatasetInfo, SnapshotDetail, SnapshotInfo, SplitInfo
from ..store import orm
from .part import APIPart

CHUNK = 1 << 20
MODERATION_MIN_EXAMPLES = 50
DEFAULT_MIN_EXAMPLES = 10


def _copy_hashing(source: Path | BinaryIO, dest: Path, limit: int) -> tuple[int, str]:
    """Stream ``source`` into ``dest`` once, returning (size, sha256); refuse past ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    reader = source.open("rb") if isinstance(source, Path) else source
    try:
        with dest.open("wb") as out:
            while chunk := reader.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{dest.name} is larger than the upload limit of {limit:,} bytes")
                digest.update(chunk)
                out.write(chunk)
    finally:
        if isinstance(source, Path):
            reader.close()
    return size, digest.hexdigest()


class DatasetsAPI(APIPart):
    """Uploads are stored byte for byte with their validation report; snapshots freeze them."""

    def validation_settings(
        self,
        model_type: str | ModelType,
        *,
        base_model: str | None = None,
        max_tokens: int | None = None,
        max_invalid_row_percent: int = 5,
    ) -> ValidationSettings:
        """The rules a file of this type is checked against with this base model."""
        kind = ModelType.parse(model_type)
        return self.entry_validation_settings(kind, self._base_model(kind, base_model), max_tokens=max_tokens,
                                              max_invalid_row_percent=max_invalid_row_percent)

    def entry_validation_settings(self, kind: ModelType, entry: BaseModelEntry, *, max_tokens: int | None = None,
                                  max_invalid_row_percent: int = 5, prediction: bool = False) -> ValidationSettings:
        """:meth:`validation_settings` for a base model entry (a version's own, which may no
        longer be registered); ``prediction`` for a file of inputs to a deployment."""
        needs_tokenizer = kind is not ModelType.IMAGE_CLASSIFICATION
        return ValidationSettings(
            model_type=kind,
            tokenizer=load_tokenizer(entry, cache_dir=self.cache_dir) if needs_tokenizer else None,
            tokenizer_name=entry.name,
            max_tokens=max_tokens if max_tokens is not None else (entry.default_max_tokens or 2048),
            token_limit=entry.token_limit or 512,
            min_examples_per_class=(
                MODERATION_MIN_EXAMPLES if entry.is_moderation else DEFAULT_MIN_EXAMPLES
            ),
            builtin_heads=tuple(entry.builtin_heads),
            max_invalid_row_percent=max_invalid_row_percent,
            allow_downloads=self.allow_downloads,
            max_image_pixels=self.max_image_pixels,
            prediction=prediction,
        )


    # -- datasets ----------------------------------------------------------------------------

    def sweep_staging(self) -> int:
        """Delete what uploads that never ended left in the staging folder, once nothing has
        written to it for ``staging_max_age_hours``; how many files and folders."""
        deleted = sweep(staging_folder(self.root), self.staging_max_age_hours * 3600)
        if deleted:
            self.log.info("jupyter_automl: deleted %d entries that unfinished uploads left in %s",
                          len(deleted), staging_folder(self.root))
        return len(deleted)

    def check_upload_size(self, size: int, what: str = "the upload") -> None:
        """Refuse ``size`` bytes past ``max_upload_bytes``; faces that stream an upload call it
        as the bytes arrive, before anything is stored."""
        if size > self.max_upload_bytes:
            raise TooLarge(
                f"{what} is larger than the upload limit of {self.max_upload_bytes:,} bytes "
                "(c.AutoML.max_upload_bytes)"
            )

    def validate(
        self,
        path: str | Path,
        model_type: str | ModelType,
        *,
        images: str | Path | None = None,
        base_model: str | None = None,
        max_tokens: int | None = None,
        max_invalid_row_percent: int = 5,
    ) -> ValidationReport:
        """Check a file against the rules without storing anything."""
        settings = self.validation_settings(
            model_type,
            base_model=base_model,
            max_tokens=max_tokens,
            max_invalid_row_percent=max_invalid_row_percent,
        )
        return validate_file(Path(path), settings, images_zip=Path(images) if images else None).report

    def upload_dataset(
        self,
        source: str | Path | BinaryIO,
        model_type: str | ModelType,
        *,
        name: str | None = None,
        filename: str | None = None,
        images: str | Path | BinaryIO | None = None,
        images_filename: str | None = None,
        base_model: str | None = None,
        max_tokens: int | None = None,
        max_invalid_row_percent: int = 5,
    ) -> DatasetDetail:
        """Store an upload byte for byte and validate it; the report is kept with it.

        An upload that breaks the rules is still stored (so its report can be read), but it
        cannot be frozen into a snapshot.
        """
        kind = ModelType.parse(model_type)
        settings = self.validation_settings(
            kind,
            base_model=base_model,
            max_tokens=max_tokens,
            max_invalid_row_percent=max_invalid_row_percent,
        )
        if isinstance(source, (str, Path)):
            source = Path(source)
            if not source.is_file():
                raise NotFound(f"no file at {source}")
            filename = filename or source.name
        if not filename:
            raise InvalidInput("an upload from a stream needs a filename")
        filename = Path(filename).name
        dataset_id = orm.new_id()
        folder = self.root / "uploads" / dataset_id
        try:
            size, sha256 = _copy_hashing(source, folder / filename, self.max_upload_bytes)
            images_path = None
            if images is not None:
                if isinstance(images, (str, Path)):
                    images = Path(images)
                    if not images.is_file():
                        raise NotFound(f"no file at {images}")
                    images_filename = images_filename or images.name
                images_path = folder / Path(images_filename or "images.zip").name
                _copy_hashing(images, images_path, self.max_upload_bytes)
            result = validate_file(
                folder / filename, settings, images_zip=images_path, display_name=filename
            )
            snapshot_files.write_table(folder / "validated.jsonl", result.table)
            if result.images_zip is not None:
                images_path = result.images_zip
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        report = result.report
        row = orm.Dataset(
            id=dataset_id,
            name=name or Path(filename).stem,
            model_type=kind.value,
            filename=filename,
            path=str(folder / filename),
            images_path=str(images_path) if images_path else None,
            size_bytes=size,
            sha256=sha256,
            base_model=settings.tokenizer_name,
            rows=report.rows,
            valid_rows=report.valid_rows,
            valid=report.valid,
            report=report.to_dict(),
        )
        with self.store.session() as session:
            session.add(row)
        return DatasetDetail.model_validate(row)

    def list_datasets(self, model_type: str | ModelType | None = None) -> list[DatasetInfo]:
        query = select(orm.Dataset).order_by(orm.Dataset.created_at.desc())
        if model_type:
            query = query.where(orm.Dataset.model_type == ModelType.parse(model_type).value)
        with self.store.session() as session:
            return [DatasetInfo.model_validate(r) for r in session.scalars(query)]

    def get_dataset(self, dataset_id: str) -> DatasetDetail:
        with self.store.session() as session:
            return DatasetDetail.model_validate(self._dataset_row(session, dataset_id))

    @staticmethod
    def _dataset_row(session, dataset_id: str) -> orm.Dataset:
        row = session.get(orm.Dataset, dataset_id)
        if row is None:
            raise NotFound(f"no dataset with id {dataset_id!r}")
        return row

    # -- snapshots ---------------------------------------------------------------------------

    def create_snapshot(
        self, dataset_id: str, *, name: str | None = None, role: str = "train"
    ) -> SnapshotInfo:
        """Freeze a valid dataset's rows. The same rows give back the same snapshot."""
        if role not in ("train", "test"):
            raise InvalidInput(f"snapshot role must be 'train' or 'test', got {role!r}")
        dataset = self.get_dataset(dataset_id)
        report = dataset.validation
        if not report.valid:
            first = "; ".join(str(e) for e in report.file_errors[:3])
            raise DataValidationError(
                f"dataset {dataset.name!r} cannot be frozen: {first}", details=report.to_dict()
            )
        with self.store.session() as session:
            images = self._dataset_row(session, dataset_id).images_path
            folder = Path(self._dataset_row(session, dataset_id).path).parent
        table = snapshot_files.read_table(folder / "validated.jsonl")
        return self._freeze(
            table,
            model_type=ModelType(dataset.model_type),
            name=name or dataset.name,
            report=report,
            images_zip=Path(images) if images else None,
            base_model=dataset.base_model,
            dataset_id=dataset.id,
            role=role,
        )

    def _freeze(
        self,
        table: pd.DataFrame,
        *,
        model_type: ModelType,
        name: str,
        report: ValidationReport | None,
        images_zip: Path | None = None,
        image_dir: Path | None = None,
        base_model: str | None,
        dataset_id: str | None = None,
        parent_id: str | None = None,
        role: str = "train",
        split_percent: int | None = None,
        seed: int | None = None,
        is_example: bool = False,
    ) -> SnapshotInfo:
        frozen = snapshot_files.freeze(
            table,
            model_type=model_type,
            root=self.root / "snapshots",
            report=report,
            images_zip=images_zip,
            image_dir=image_dir,
            base_model=base_model,
        )
        with self.store.session() as session:
            existing = session.scalar(
                select(orm.Snapshot).where(orm.Snapshot.content_hash == frozen.content_hash)
            )
            if existing is not None:
                return SnapshotInfo.model_validate(existing)
            row = orm.Snapshot(
                name=name,
                dataset_id=dataset_id,
                parent_id=parent_id,
                model_type=model_type.value,
                content_hash=frozen.content_hash,
                path=str(frozen.path),
                rows=frozen.rows,
                role=role,
                split_percent=split_percent,
                seed=seed,
                base_model=base_model,
                heads=frozen.heads,
                report=report.to_dict() if report else {},
                is_example=is_example,
            )
            session.add(row)
            session.flush()
            return SnapshotInfo.model_validate(row)

    def split_snapshot(
        self,
        snapshot_id: str,
        test_percent: int,
        *,
        seed: int = 42,
        stratify_by: str | None = None,
    ) -> SplitInfo:
        """Split a snapshot into train and test snapshots (stratified on a head by default)."""
        if not 0 <= seed < 2**31:
            raise InvalidInput(f"seed must be between 0 and {2**31 - 1}, got {seed}")
        parent = self.get_snapshot(snapshot_id)
        kind = ModelType(parent.model_type)
        if stratify_by is None and parent.heads:
            stratify_by = next(iter(parent.heads))
        if stratify_by is not None and stratify_by not in parent.heads:
            heads = ", ".join(parent.heads) or "none"
            raise InvalidInput(f"{stratify_by!r} is not a head of this snapshot (heads: {heads})")
        table = snapshot_files.read_rows(Path(parent.path))
        train, test = split_rows(table, test_percent, seed=seed, stratify_by=stratify_by)
        parts = {}
        for role, part, share in (("train", train, 100 - test_percent), ("test", test, test_percent)):
            parts[role] = self._freeze(
                part,
                model_type=kind,
                name=f"{parent.name} ({role} {share}%)",
                report=None,
                image_dir=Path(parent.path) / "images",
                base_model=parent.base_model,
                dataset_id=parent.dataset_id,
                parent_id=parent.id,
                role=role,
                split_percent=test_percent,
                seed=seed,
            )
        return SplitInfo(**parts)

    def list_snapshots(
        self, model_type: str | ModelType | None = None, *, role: str | None = None
    ) -> list[SnapshotInfo]:
        query = select(orm.Snapshot).order_by(orm.Snapshot.created_at.desc())
        if model_type:
            query = query.where(orm.Snapshot.model_type == ModelType.parse(model_type).value)
        if role:
            query = query.where(orm.Snapshot.role == role)
        with self.store.session() as session:
            return [SnapshotInfo.model_validate(r) for r in session.scalars(query)]

    def get_snapshot(self, snapshot_id: str) -> SnapshotDetail:
        with self.store.session() as session:
            row = session.get(orm.Snapshot, snapshot_id)
            if row is None:
                raise NotFound(f"no snapshot with id {snapshot_id!r}")
            return SnapshotDetail.model_validate(row)

    def snapshot_rows(self, snapshot_id: str) -> pd.DataFrame:
        return snapshot_files.read_rows(Path(self.get_snapshot(snapshot_id).path))

    def ensure_example_snapshots(
        self, model_types: Iterable[str | ModelType] | None = None
    ) -> list[SnapshotInfo]:
        """Freeze the example datasets shipped with the package (once; later calls find them)."""
        kinds = [ModelType.parse(t) for t in model_types] if model_types else list(EXAMPLES)
        made = []
        for kind in kinds:
            example = EXAMPLES[kind]
            settings = self.validation_settings(kind)
            result = validate_file(
                example.csv_path, settings, images_zip=example.images_zip,
                display_name=example.csv_path.name,
            )
            if not result.report.valid:
                raise DataValidationError(
                    f"example {example.name!r} no longer passes validation: "
                    + "; ".join(str(e) for e in result.report.file_errors[:3]),
                    details=result.report.to_dict(),
                )
            made.append(
                self._freeze(
                    result.table,
                    model_type=kind,
                    name=f"Example: {example.name}",
                    report=result.report,
                    images_zip=result.images_zip,
                    base_model=settings.tokenizer_name,
                    is_example=True,
                )
            )
        return made
