"""Batches: a file of inputs for a deployment, checked, queued, run and read back in order."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from ..base_models.entry import BaseModelEntry
from ..datasets.validation import validate_file
from ..datasets.zipfiles import open_checked
from ..errors import Conflict, DataValidationError, InvalidInput
from ..model_types import ModelType
from ..schemas import BatchInfo
from ..serve import batches
from ..serve.deployments import COMPLETE, is_metadata_only
from ..store import orm
from .deployments import DeploymentsAPI


class BatchesAPI(DeploymentsAPI):
    """Submit a whole file to a deployment: every row becomes a task of one batch.

    The file follows the dataset formats without the answers: ``text_data`` for text
    classifiers; ``prompt`` with optional ``system_prompt``, ``prompt_history`` and ``roles`` for
    LLMs; ``image`` (entries of a zip) or ``image_url`` for image classifiers. It is checked with
    the dataset rules and messages, and any invalid row refuses it whole
    (:class:`DataValidationError` with the report in ``details``) before anything is stored.
    """

    def submit_batch(self, deployment: str, file: str | Path | BinaryIO, *,
                     images: str | Path | BinaryIO | None = None, file_name: str | None = None,
                     options: dict[str, Any] | str | None = None, key_id: str | None = None,
                     wait: bool = False, on_progress: Callable[[BatchInfo], None] | None = None) -> BatchInfo:
        """Check and queue a file of inputs (a path or a binary stream; for image classifiers a
        zip holding the CSV and the images, or the CSV with ``images`` as a zip). ``options`` (a
        dict, or its JSON text as a form sends it) apply to every row (``max_tokens``, ``temperature``... for LLMs; ``top_k`` for
        classifiers).

        Without ``wait`` the rows are left to the serving processes (the Jupyter server or
        ``jupyter automl serve``), which take them within a sweep; with ``wait`` this process
        runs them too, until none is left, calling ``on_progress(info)`` after each model call.
        """
        info = self.serving.registry.get(deployment)
        if info.status != COMPLETE:
            raise Conflict(f"deployment {info.name!r} is {info.status}; only a complete deployment takes batches")
        with tempfile.TemporaryDirectory(prefix="batch-", dir=self.staging) as staging:
            csv_path = _materialize(file, Path(staging), file_name or "inputs.csv")
            images_path = _materialize(images, Path(staging), "images.zip") if images is not None else None
            name = Path(file_name or getattr(file, "name", None) or csv_path.name).name
            batch_id = self._queue(info.id, csv_path, images_path, name, options, key_id)
        if wait:
            self.run_batch(deployment, batch_id, on_progress=on_progress)
        return self.get_batch(deployment, batch_id)

    def _queue(self, deployment_id: str, csv_path: Path, images_path: Path | None, name: str,
               options: dict[str, Any] | str | None, key_id: str | None) -> str:
        with self.store.session() as session:
            deployment = session.get(orm.Deployment, deployment_id)
            if is_metadata_only(deployment.options):
                raise Conflict("this deployment keeps no task text (metadata_only), so a batch's results "
                               "could not be read back; send the rows as async tasks with a callback_url")
            version = session.get(orm.ModelVersion, deployment.version_id)
            kind = ModelType.parse(version.model.model_type)
            entry = (BaseModelEntry.from_dict(version.base_model_entry) if version.base_model_entry
                     else self.registry.get(version.base_model))
            max_tokens = (version.options or {}).get("max_tokens")
            version_id = version.id
        options = batches.check_batch_options(options, kind)
        settings = self.entry_validation_settings(kind, entry, max_tokens=max_tokens, prediction=True)
        result = validate_file(csv_path, settings, images_zip=images_path, display_name=name)
        report = result.report
        if not report.valid:
            first = report.errors[0]
            more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
            raise DataValidationError(f"{name} is refused, nothing was queued: {first}{more}",
                                      details=report.to_dict())
        archive = open_checked(result.images_zip) if result.images_zip is not None else None
        try:
            requests = batches.row_requests(result.table, kind, options,
                                            read_image=archive.read if archive is not None else None)
        finally:
            if archive is not None:
                archive.close()
        rows = [(orm.new_id(), number, request) for number, request in requests]
        written = []
        try:
            for task_id, _, request in rows:
                if request.media is not None:
                    self.serving.save_media(task_id, request.media)
                    written.append(task_id)
            with self.store.session() as session:
                return batches.insert_batch(
                    session, deployment_id=deployment_id, version_id=version_id, key_id=key_id,
                    file_name=name, columns=batches.input_columns(result.table, kind), options=options,
                    warnings=[asdict(w) for w in report.warnings], rows=rows)
        except BaseException:
            for task_id in written:
                self.serving.forget_media(task_id)
            raise

    def run_batch(self, deployment: str, batch_id: str, *,
                  on_progress: Callable[[BatchInfo], None] | None = None) -> BatchInfo:
        """Run a batch's remaining rows in this process (serving processes may share the work),
        then wait for rows other processes hold; the finished batch."""
        self.get_batch(deployment, batch_id)
        report = (lambda: on_progress(self.get_batch(deployment, batch_id))) if on_progress else None
        self.serving.run_batch(batch_id, on_progress=report)
        return self.wait_batch(deployment, batch_id, on_progress=on_progress)

    def wait_batch(self, deployment: str, batch_id: str, *, timeout: float | None = None,
                   poll: float = 1.0, on_progress: Callable[[BatchInfo], None] | None = None) -> BatchInfo:
        """Wait until every row of a batch is done (by whichever process runs it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get_batch(deployment, batch_id)
            if on_progress is not None:
                on_progress(info)
            if info.state == "completed":
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} is not done after {timeout} s "
                                   f"({info.done} of {info.rows} rows)")
            time.sleep(poll)

    def get_batch(self, deployment: str, batch_id: str) -> BatchInfo:
        with self.store.session() as session:
            return batches.get_batch(session, deployment, batch_id)

    def list_batches(self, deployment: str, *, limit: int = 50) -> list[BatchInfo]:
        """A deployment's batches, newest first."""
        if not 1 <= limit <= 500:
            raise InvalidInput(f"limit must be 1 to 500, got {limit}")
        with self.store.session() as session:
            return batches.list_batches(session, deployment, limit)

    def batch_results(self, deployment: str, batch_id: str, fmt: str = "csv") -> Iterator[str]:
        """The results of a finished batch as pieces of a CSV or JSON Lines file, one row per
        input row in input order (:class:`Conflict` while rows are queued)."""
        if fmt not in batches.FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(batches.FORMATS)}, got {fmt!r}")
        scope = self.store.session()
        session = scope.__enter__()
        try:
            batch, heads, records = batches.result_records(session, deployment, batch_id)
            version_id = session.get(orm.Deployment, batch.deployment_id).version_id
            kind = ModelType.parse(session.get(orm.ModelVersion, version_id).model.model_type)
        except BaseException:
            scope.__exit__(None, None, None)
            raise

        def pieces() -> Iterator[str]:  # the session stays open while the file is written
            try:
                yield from batches.write_results(records, list(batch.input_columns), heads, kind, fmt)
            finally:
                scope.__exit__(None, None, None)

        return pieces()

    def save_batch_results(self, deployment: str, batch_id: str, path: str | Path) -> Path:
        """Write the results to ``path``: JSON Lines for a ``.jsonl``/``.ndjson`` name, else CSV."""
        path = Path(path)
        fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as out:
            for piece in self.batch_results(deployment, batch_id, fmt):
                out.write(piece)
        return path


def _materialize(source: str | Path | BinaryIO, folder: Path, name: str) -> Path:
    """A path for the validator: the path itself, or the stream copied into ``folder``."""
    if isinstance(source, (str, Path)):
        return Path(source)
    target = folder / Path(getattr(source, "name", None) or name).name
    with target.open("wb") as out:
        shutil.copyfileobj(source, out)
    return target

