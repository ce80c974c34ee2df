"""The serving runtime: loaded model versions, their batchers, and the tasks they answer.

One runtime lives in each serving process (the Jupyter server, or each ``jupyter automl serve``
process). Everything it shares with other processes is in the store: deployments and keys are
read from it per request (with a short cache), async tasks are rows that one process at a time
holds under a lease. A process that dies leaves its tasks to be taken again when their lease
runs out, by another process or by itself after a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from traitlets import Bool, Float, Int, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import AutoMLError, InvalidInput, NotFound, Unauthorized
from ..schemas import DeploymentInfo, PlaygroundInfo
from ..store import Store, orm
from ..store.orm import utcnow as now
from . import batches, history, playground
from .batching import Batcher, Streamed
from .continuous import ContinuousBatcher
from .deployments import COMPLETE, DEPLOYING, FAILED, Caller, DeploymentRegistry
from .inputs import TaskRequest
from .models import ServedModel, load_served
from .tasks import ASYNC, BATCH, PLAYGROUND, QUEUED, SUCCEEDED, SYNC, task_json
from .tasks import FAILED as FAILED_TASK


@dataclass(frozen=True)
class Work:
    """One request on its way through a batch."""

    target: Caller
    kind: str
    request: TaskRequest
    prepared: Any
    created_at: datetime
    task_id: str | None = None  # async tasks have their row already


class ServingRuntime(LoggingConfigurable):
    """Loads versions, batches their requests, records tasks, and runs async tasks."""

    batching = Bool(
        True, help="Group concurrent requests to one model into one call; an LLM's requests join its "
        "running generation between tokens (continuous batching). Off: one request per call."
    ).tag(config=True)
    prefix_cache = Bool(
        True, help="With batching on, an LLM keeps the keys and values of prompt beginnings that "
        "requests share (a system prompt, a chat template) and prefills only the rest of a prompt."
    ).tag(config=True)
    batch_window_ms = Float(
        20.0, help="How long a model call waits for requests known to be on their way (being "
        "checked, or from the clients of the last call). A lone request does not wait."
    ).tag(config=True)
    max_batch_wait_ms = Float(
        100.0, help="After a long call (an LLM's generation), a tenth of its length is waited for "
        "returning clients, but never longer than this."
    ).tag(config=True)
    max_batch_size = Int(
        32, help="The most requests in one model call (for an LLM: generating at once)."
    ).tag(config=True)
    max_queue = Int(
        512, help="Requests waiting per model before new ones are refused with 503 and Retry-After."
    ).tag(config=True)
    playground_max_requests = Int(
        500, help="Requests a trained version answers in the playground before it must be deployed."
    ).tag(config=True)
    playground_days = Float(
        15.0, help="Days after training during which the playground answers."
    ).tag(config=True)
    allow_url_inputs = Bool(
        True, help="Let image tasks name their image by an http(s) url that the server downloads."
    ).tag(config=True)
    max_media_bytes = Int(50 * 1024**2, help="Largest media file or downloaded image.").tag(config=True)
    task_lease_seconds = Float(
        30.0, help="How long a process holds an async task without renewing it; after that "
        "another process (or this one after a restart) takes it again."
    ).tag(config=True)
    task_max_attempts = Int(3, help="Attempts at an async task before it is failed.").tag(config=True)
    sweep_seconds = Float(
        2.0, help="How often the runtime renews its leases, takes orphaned async tasks and "
        "unloads versions that are no longer deployed."
    ).tag(config=True)
    key_cache_seconds = Float(
        1.0, help="How long a checked API key is trusted before the store is asked again "
        "(a revoked key stops working within this time)."
    ).tag(config=True)
    callback_attempts = Int(3, help="Tries at POSTing a finished async task to its callback_url.").tag(config=True)
    callback_timeout = Float(10.0, help="Seconds per callback try.").tag(config=True)
    task_retention_days = Float(
        30.0, help="Days a finished task (its input, output and metadata) is kept in the history; "
        "older ones are deleted, with their media files, by the periodic sweep. 0 keeps them forever."
    ).tag(config=True)
    task_cleanup_seconds = Float(
        3600.0, help="How often the sweep deletes tasks past task_retention_days."
    ).tag(config=True)
    device = Unicode("", help="Device for models ('cuda', 'cpu'); empty picks CUDA when present.").tag(
        config=True
    )

    def __init__(self, store: Store, root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.root = Path(root)
        self.registry = DeploymentRegistry(store)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._served: dict[str, ServedModel] = {}
        self._batchers: dict[str, Batcher] = {}
        self._generators: dict[str, ContinuousBatcher] = {}
        self._loading: dict[str, Future] = {}
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[Caller, float]] = {}
        self._held: set[str] = set()
        self._sweeper: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._next_cleanup = 0.0  # monotonic time of the next retention clean-up
        self._driving: set[str] = set()  # batches this process is running

    # ----------------------------------------------------------------- loading
    def served(self, version_id: str) -> ServedModel:
        """The loaded version (loading it once, whoever asks first; others wait for it)."""
        self._last_used[version_id] = time.monotonic()
        model = self._served.get(version_id)
        if model is not None:
            return model
        with self._lock:
            future = self._loading.get(version_id)
            owner = future is None
            if owner:
                future = self._loading[version_id] = Future()
        if not owner:
            return future.result()
        try:
            model = self._load(version_id)
            with self._lock:
                self._served[version_id] = model
            future.set_result(model)
            return model
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._lock:
                self._loading.pop(version_id, None)

    def _load(self, version_id: str) -> ServedModel:
        with self.store.session() as session:
            version = session.get(orm.ModelVersion, version_id)
            if version is None or not version.artifacts_path:
                raise NotFound(f"version {version_id} has no artifacts to load")
            name, number, kind, path = (version.model.name, version.version,
                                        version.model.model_type, version.artifacts_path)
        if not Path(path).is_dir():
            raise NotFound(f"the artifacts of version {number} of {name!r} are missing at {path}")
        started = time.perf_counter()
        model = load_served(path, version_id=version_id, model_type=kind, model_name=name,
                            version=number, device=self.device)
        self.log.info("jupyter_automl: loaded version %s of %r in %.1f s", number, name,
                      time.perf_counter() - started)
        return model

    def unload(self, version_id: str) -> None:
        with self._lock:
            self._served.pop(version_id, None)
            lanes = [self._batchers.pop(version_id, None), self._generators.pop(version_id, None)]
        for lane in lanes:
            if lane is not None:
                lane.close()

    def activate(self, deployment_id: str) -> DeploymentInfo:
        """Finish deploying: load the version here, then ``complete``, or ``failed`` with the
        reason the artifacts did not load."""
        version_id, _, _ = self.registry.artifacts(deployment_id)
        try:
            self.served(version_id)
        except Exception as error:
            reason = error.message if isinstance(error, AutoMLError) else f"{type(error).__name__}: {error}"
            self.log.warning("jupyter_automl: deployment %s failed: %s", deployment_id, reason)
            self.registry.mark(deployment_id, FAILED, f"the version did not load: {reason}")
        else:
            self.registry.mark(deployment_id, COMPLETE)
        return self.registry.get(deployment_id)

    def _batcher(self, version_id: str) -> Batcher:
        """The version's batcher; it exists before the version is loaded, so requests that wait
        for the load are already expected by it."""
        batcher = self._batchers.get(version_id)
        if batcher is None:
            with self._lock:
                batcher = self._batchers.get(version_id)
                if batcher is None:
                    batcher = self._batchers[version_id] = Batcher(
                        lambda works: self._run_batch(self._served[version_id], works),
                        window=self.batch_window_ms / 1000 if self.batching else 0.0,
                        max_wait=self.max_batch_wait_ms / 1000,
                        max_batch=self.max_batch_size if self.batching else 1,
                        max_pending=self.max_queue,
                        name=f"version {version_id[:8]}",
                    )
        return batcher

    def _lane(self, version_id: str) -> Batcher | ContinuousBatcher:
        """What answers a loaded version's requests: for an LLM whose cache rows can join and
        leave a running generation, with batching on, its continuous batcher; else its batcher."""
        generator = self._generators.get(version_id)
        if generator is not None:
            return generator
        model = self._served[version_id]
        if not (self.batching and getattr(model, "continuous", False)):
            return self._batcher(version_id)
        with self._lock:
            generator = self._generators.get(version_id)
            if generator is None:
                generator = self._generators[version_id] = ContinuousBatcher(
                    model, lambda works, answers, starts: self._record(model, works, answers, starts),
                    max_rows=self.max_batch_size, max_pending=self.max_queue,
                    prefix_cache=self.prefix_cache, name=f"version {version_id[:8]}",
                )
        return generator

    async def _prepared(self, target: Caller, request: TaskRequest) -> tuple[Batcher | ContinuousBatcher, Any]:
        """Check a request off the event loop, announced to its batcher meanwhile; returns
        what answers it (see :meth:`_lane`) and the prepared request."""
        batcher = self._batcher(target.version_id)
        batcher.expect()
        try:
            _, prepared = await asyncio.get_running_loop().run_in_executor(
                None, self.prepare, target, request)
        finally:
            batcher.arrived()
        return self._lane(target.version_id), prepared

    # ---------------------------------------------------------------- callers
    def caller(self, key: str | None) -> Caller:
        """The deployment a key belongs to (cached for ``key_cache_seconds``)."""
        if key:
            cached = self._keys.get(key)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
        found = self.registry.authenticate(key)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[key] = (found, time.monotonic() + self.key_cache_seconds)
        return found

    def playground_target(self, version_id: str) -> tuple[Caller, bool]:
        """Who answers a playground request: the version's deployment when it has one (no
        limit, counted as its usage), else the version itself (limited). ``True`` = limited."""
        with self.store.session() as session:
            version = playground.usage(session, version_id, limit=self.playground_max_requests,
                                       days=self.playground_days)
            row = session.get(orm.ModelVersion, version_id)
            kind, path = row.model.model_type, row.artifacts_path or ""
        target = Caller(version.deployment_id or "", "", version_id, kind, path)
        return target, version.deployment_id is None

    def playground_usage(self, version_id: str) -> PlaygroundInfo:
        with self.store.session() as session:
            return playground.usage(session, version_id, limit=self.playground_max_requests,
                                    days=self.playground_days)

    def _take_playground(self, version_id: str) -> None:
        with self.store.session() as session:
            playground.take_request(session, version_id, limit=self.playground_max_requests,
                                    days=self.playground_days)

    # --------------------------------------------------------------- answering
    def prepare(self, target: Caller, request: TaskRequest) -> tuple[ServedModel, Any]:
        model = self.served(target.version_id)
        prepared = model.prepare(request, allow_urls=self.allow_url_inputs,
                                 max_media_bytes=self.max_media_bytes)
        return model, prepared

    async def answer(self, target: Caller, request: TaskRequest, kind: str = SYNC) -> dict[str, Any]:
        """Answer a request now (sync task or playground) through the model's batcher."""
        arrived = now()
        lane, prepared = await self._prepared(target, request)
        if kind == PLAYGROUND and not target.deployment_id:
            await asyncio.get_running_loop().run_in_executor(None, self._take_playground, target.version_id)
        return await lane.submit(Work(target, kind, request, prepared, arrived))

    def answer_sync(self, target: Caller, request: TaskRequest, kind: str = SYNC) -> dict[str, Any]:
        """The same answer for faces without an event loop (the Python API, the CLI)."""
        arrived = now()
        _, prepared = self.prepare(target, request)
        if kind == PLAYGROUND and not target.deployment_id:
            self._take_playground(target.version_id)
        answer = self._lane(target.version_id).run_now([Work(target, kind, request, prepared, arrived)])[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def stream(self, target: Caller, request: TaskRequest, kind: str = SYNC) -> Streamed:
        """Answer an LLM request piece by piece: ``async for`` the completion's text as it is
        generated, then ``await result()`` for the recorded task (what :meth:`answer` returns).
        A bad request is refused here, before any piece. It is a row of the running generation
        (for models without continuous batching, it runs alone on the model's thread);
        ``close()`` stops it, and the task is then recorded as failed."""
        arrived = now()
        lane, prepared = await self._prepared(target, request)
        model = self._served[target.version_id]
        if not callable(getattr(model, "stream", None)):
            raise InvalidInput("this deployment cannot stream its answers")
        work = Work(target, kind, request, prepared, arrived)
        if isinstance(lane, ContinuousBatcher):
            return lane.stream(work)

        def generate(streamed: Streamed) -> Any:
            started = now()
            try:
                answer = model.stream(prepared, streamed.put, streamed.cancelled)
                if streamed.cancelled.is_set():
                    answer = AutoMLError("the client left before the streamed answer ended")
            except Exception as error:
                self.log.exception("jupyter_automl: %s v%s failed on a streamed request",
                                   model.model_name, model.version)
                answer = error
            return self._record(model, [work], [answer], [started])[0]

        return lane.stream(generate)

    def _run_batch(self, model: ServedModel, works: Sequence[Work]) -> list[Any]:
        """One model call for a batch, then one transaction that records its tasks."""
        started = now()
        try:
            answers = model.call([w.prepared for w in works])
        except Exception as error:
            self.log.exception("jupyter_automl: %s v%s failed on a batch of %d",
                               model.model_name, model.version, len(works))
            answers = [error] * len(works)
        return self._record(model, works, answers, [started] * len(works))

    def _record(self, model: ServedModel, works: Sequence[Work], answers: Sequence[Any],
                starts: Sequence[datetime]) -> list[Any]:
        """Store the batch's tasks and count usage, in one transaction. The answers carry the
        whole task; the rows of a metadata-only deployment keep no input or output text (an
        async task's input, kept while it was queued, is replaced by its metadata here)."""
        finished = now()
        results: list[Any] = []
        usage: dict[tuple[str, str], list[int]] = {}
        media_to_remove: list[str] = []
        with self.store.session() as session:
            for work, answer, started in zip(works, answers, starts):
                keep_text = history.keeps_text(session, work.target.deployment_id)
                failed = isinstance(answer, BaseException)
                if failed:
                    error = answer.message if isinstance(answer, AutoMLError) else "the model failed on this request"
                    values = {"status": FAILED_TASK, "error": error, "output": None,
                              "prompt_tokens": 0, "completion_tokens": 0}
                else:
                    values = {"status": SUCCEEDED, "error": None, "output": {"output": answer.output},
                              "prompt_tokens": answer.prompt_tokens,
                              "completion_tokens": answer.completion_tokens}
                values.update(started_at=started, finished_at=finished)
                if work.task_id:
                    row = session.get(orm.Task, work.task_id)
                    if row is None or row.status != QUEUED or row.claimed_by != self.id:
                        # Its lease ran out and another process took it: that one records it.
                        results.append(AutoMLError("this task was taken over by another process"))
                        continue
                    for name, value in {**values, "claimed_by": None, "lease_expires_at": None}.items():
                        setattr(row, name, value)
                else:
                    row = orm.Task(
                        id=orm.new_id(),
                        deployment_id=work.target.deployment_id or None,
                        version_id=work.target.version_id, api_key_id=work.target.key_id or None,
                        kind=work.kind, created_at=work.created_at,
                        input={**work.request.stored_input(), "hash": work.request.input_hash()},
                        **values,
                    )
                    session.add(row)
                # Shaped before the text is dropped (nothing is flushed in between).
                shaped = task_json(row, model_name=model.model_name, version=model.version)
                if not keep_text:
                    row.input, row.output = history.metadata_input(row.input), None
                    if work.task_id:
                        media_to_remove.append(work.task_id)
                session.flush()
                if work.target.deployment_id:
                    counts = usage.setdefault((work.target.deployment_id, work.target.key_id), [0, 0, 0])
                    counts[0] += 1
                    counts[1] += 0 if failed else answer.prompt_tokens + answer.completion_tokens
                    counts[2] += int(failed)
                if failed and work.kind != ASYNC:
                    results.append(answer if isinstance(answer, AutoMLError) else AutoMLError(error))
                else:
                    results.append(shaped)
            for (deployment_id, key_id), (requests, tokens, errors) in usage.items():
                self.registry.count_usage(session, deployment_id, key_id, requests, tokens, errors)
        for task_id in media_to_remove:
            self.forget_media(task_id)
        return results

    # ------------------------------------------------------------- async tasks
    def _task_folder(self, task_id: str) -> Path:
        return self.root / "tasks" / task_id

    def save_media(self, task_id: str, data: bytes) -> None:
        """Keep a queued task's media file beside it until the task has run."""
        folder = self._task_folder(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "media").write_bytes(data)

    def forget_media(self, task_id: str) -> None:
        shutil.rmtree(self._task_folder(task_id), ignore_errors=True)

    def _forget_text(self, session, task_id: str) -> bool:
        """Drop a finished task's text when its deployment keeps metadata only (inside the
        transaction that finishes it); True when its media file is to be deleted after it."""
        row = session.get(orm.Task, task_id)
        if row is None or history.keeps_text(session, row.deployment_id):
            return False
        row.input, row.output = history.metadata_input(row.input), None
        return True

    def create_async(self, target: Caller, request: TaskRequest, *, claim: bool) -> tuple[str, dict[str, Any]]:
        """Store an async task (checked first, so a bad request is refused now, not failed
        later). ``claim`` holds it for this process at once; otherwise any server takes it.

        A deployment that keeps metadata only stores the input while the task is queued (it is
        needed to run it) and drops it when the task finishes; the output is never stored, so
        such a task's result reaches the client only through its ``callback_url``, which is
        then required."""
        model, _ = self.prepare(target, request)
        if not request.callback_url:
            with self.store.session() as session:
                if not history.keeps_text(session, target.deployment_id):
                    raise InvalidInput(
                        "this deployment keeps no task text (metadata_only), so an async task's "
                        "result cannot be read back later; give a callback_url to receive it"
                    )
        task_id = orm.new_id()
        if request.media is not None:
            self.save_media(task_id, request.media)
        row = orm.Task(
            id=task_id, deployment_id=target.deployment_id, version_id=target.version_id,
            api_key_id=target.key_id or None, kind=ASYNC, status=QUEUED,
            input={**request.stored_input(), "hash": request.input_hash()},
            callback_url=request.callback_url,
            claimed_by=self.id if claim else None,
            lease_expires_at=now() + timedelta(seconds=self.task_lease_seconds) if claim else None,
            attempts=1 if claim else 0,
        )
        with self.store.session() as session:
            session.add(row)
            session.flush()
            shaped = task_json(row, model_name=model.model_name, version=model.version)
        return task_id, shaped

    async def submit_async(self, target: Caller, request: TaskRequest) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        task_id, shaped = await loop.run_in_executor(None, lambda: self.create_async(target, request, claim=True))
        self._spawn(self._run_async(task_id, target, request))
        return shaped

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run_async(self, task_id: str, target: Caller, request: TaskRequest) -> None:
        self._held.add(task_id)
        loop = asyncio.get_running_loop()
        try:
            try:
                lane, prepared = await self._prepared(target, request)
                shaped = await lane.submit(Work(target, ASYNC, request, prepared, now(), task_id=task_id))
            except AutoMLError as error:
                if error.http_status == 503:  # the queue is full: leave it for a later sweep
                    await loop.run_in_executor(None, self._release, task_id)
                    return
                shaped = await loop.run_in_executor(None, self._fail_task, task_id, error.message)
            if shaped.get("id") and request.callback_url:
                await self._callback(request.callback_url, shaped)
        except Exception:
            self.log.exception("jupyter_automl: async task %s failed", task_id)
        finally:
            self._held.discard(task_id)

    # ----------------------------------------------------------------- batches
    def _claim_batch(self, batch_id: str, limit: int) -> list[tuple[str, Caller, TaskRequest]]:
        """Take up to ``limit`` of a batch's queued rows that nobody holds, in row order, with
        two statements whatever ``limit`` is (a row whose attempts are used up is failed)."""
        at = now()
        orphaned = or_(orm.Task.claimed_by.is_(None), orm.Task.lease_expires_at < at)
        queued_here = (orm.Task.batch_id == batch_id, orm.Task.status == QUEUED)
        with self.store.session() as session:
            batch = session.get(orm.Batch, batch_id)
            deployment = session.get(orm.Deployment, batch.deployment_id) if batch else None
            if deployment is None or deployment.status != COMPLETE:
                return []
            candidates = select(orm.Task.id).where(*queued_here, orphaned).order_by(
                orm.Task.batch_row).limit(limit).scalar_subquery()
            session.execute(
                update(orm.Task).where(orm.Task.id.in_(candidates), orphaned,
                                       orm.Task.attempts >= self.task_max_attempts)
                .values(status=FAILED_TASK, finished_at=at, claimed_by=None, lease_expires_at=None,
                        error=f"gave up after {self.task_max_attempts} attempts (the serving processes stopped)")
                .execution_options(synchronize_session=False))
            ids = list(session.scalars(select(orm.Task.id).where(*queued_here, orphaned)
                                       .order_by(orm.Task.batch_row).limit(limit)).all())
            if not ids:
                return []
            session.execute(
                update(orm.Task).where(orm.Task.id.in_(ids), *queued_here, orphaned)
                .values(claimed_by=self.id, attempts=orm.Task.attempts + 1,
                        lease_expires_at=at + timedelta(seconds=self.task_lease_seconds))
                .execution_options(synchronize_session=False))
            rows = session.scalars(select(orm.Task).where(orm.Task.id.in_(ids), orm.Task.claimed_by == self.id,
                                                          orm.Task.status == QUEUED)
                                   .order_by(orm.Task.batch_row)).all()
            version = session.get(orm.ModelVersion, deployment.version_id)
            target = Caller(deployment.id, batch.api_key_id or "", version.id, version.model.model_type,
                            version.artifacts_path or "")
            taken = []
            for row in rows:
                try:
                    taken.append((row.id, target, self._request_of(row)))
                except AutoMLError as error:
                    row.status, row.error, row.finished_at, row.claimed_by = FAILED_TASK, error.message, at, None
            return taken

    async def drive_batch(self, batch_id: str) -> None:
        """Run a batch's rows through the model's batcher, keeping a few model calls' worth in
        flight, until none is left to take (rows other processes hold are theirs to finish)."""
        if batch_id in self._driving:
            return
        self._driving.add(batch_id)
        loop = asyncio.get_running_loop()
        window = self.max_batch_size * 4 if self.batching else 4
        running: set[asyncio.Task] = set()
        try:
            while True:
                if len(running) <= window // 2:
                    taken = await loop.run_in_executor(None, self._claim_batch, batch_id, window - len(running))
                    for task_id, target, request in taken:
                        self._held.add(task_id)
                        running.add(loop.create_task(self._run_async(task_id, target, request)))
                if not running:
                    return
                _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._driving.discard(batch_id)
            for task in running:
                task.cancel()

    def run_batch(self, batch_id: str, on_progress: Any = None) -> None:
        """:meth:`drive_batch` for faces without an event loop (the CLI, a notebook): model
        calls of up to ``max_batch_size`` rows in this thread, leases renewed meanwhile; other
        processes may take part of the batch at the same time. ``on_progress()`` after each
        call."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.task_lease_seconds / 3):
                self._renew()

        renewer = threading.Thread(target=renew, daemon=True, name=f"batch-{batch_id[:8]}-leases")
        renewer.start()
        try:
            while True:
                taken = self._claim_batch(batch_id, self.max_batch_size)
                if not taken:
                    return
                self._held.update(task_id for task_id, _, _ in taken)
                works = []
                for task_id, target, request in taken:
                    try:
                        _, prepared = self.prepare(target, request)
                    except AutoMLError as error:
                        self._fail_task(task_id, error.message)
                        continue
                    works.append(Work(target, BATCH, request, prepared, now(), task_id=task_id))
                try:
                    if works:
                        self._lane(works[0].target.version_id).run_now(works)
                finally:
                    self._held.difference_update(task_id for task_id, _, _ in taken)
                if on_progress is not None:
                    on_progress()
        finally:
            stop.set()

    def _waiting_batches(self) -> list[str]:
        """Batches with rows nobody holds (just submitted, or their process died)."""
        at = now()
        with self.store.session() as session:
            return list(session.scalars(
                select(orm.Task.batch_id).distinct()
                .join(orm.Deployment, orm.Task.deployment_id == orm.Deployment.id)
                .where(orm.Task.kind == BATCH, orm.Task.status == QUEUED, orm.Deployment.status == COMPLETE,
                       or_(orm.Task.claimed_by.is_(None), orm.Task.lease_expires_at < at))
            ).all())

    def start_batch(self, batch_id: str) -> None:
        """Start running a batch on this event loop (the server's faces, after submitting it)."""
        self._spawn(self.drive_batch(batch_id))

    def _release(self, task_id: str) -> None:
        with self.store.session() as session:
            session.execute(update(orm.Task).where(orm.Task.id == task_id, orm.Task.claimed_by == self.id)
                            .values(claimed_by=None, lease_expires_at=None))

    def _fail_task(self, task_id: str, reason: str) -> dict[str, Any]:
        with self.store.session() as session:
            session.execute(update(orm.Task).where(
                orm.Task.id == task_id, orm.Task.status == QUEUED, orm.Task.claimed_by == self.id
            ).values(status=FAILED_TASK, error=reason, finished_at=now(), claimed_by=None,
                     lease_expires_at=None))
            shaped = self._task_shape(session, session.get(orm.Task, task_id))
            forget = self._forget_text(session, task_id)
        if forget:
            self.forget_media(task_id)
        return shaped

    @staticmethod
    def _task_shape(session, row: orm.Task) -> dict[str, Any]:
        version = session.get(orm.ModelVersion, row.version_id)
        return task_json(row, model_name=version.model.name, version=version.version)

    async def _callback(self, url: str, shaped: dict[str, Any]) -> None:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError

        client = AsyncHTTPClient()
        body = json.dumps(shaped)
        for attempt in range(self.callback_attempts):
            try:
                await client.fetch(url, method="POST", body=body, request_timeout=self.callback_timeout,
                                   headers={"Content-Type": "application/json"})
                return
            except (HTTPClientError, OSError) as error:
                self.log.warning("jupyter_automl: callback to %s failed (try %d): %s", url, attempt + 1, error)
                await asyncio.sleep(0.5 * 2**attempt)

    def get_task(self, caller: Caller, task_id: str) -> dict[str, Any]:
        with self.store.session() as session:
            row = session.get(orm.Task, task_id)
            if row is None:
                raise NotFound(f"no task with id {task_id!r}")
            if row.deployment_id != caller.deployment_id:
                raise Unauthorized(f"this key's deployment has no task {task_id!r}")
            return self._task_shape(session, row)

    def _request_of(self, row: orm.Task) -> TaskRequest:
        """The request of a stored task, to run it again after a restart."""
        stored = row.input or {}
        fields = {k: stored[k] for k in ("text_data", "url") if stored.get(k) is not None}
        media = None
        if stored.get("media") is not None:
            path = self._task_folder(row.id) / "media"
            if not path.is_file():
                raise InvalidInput("the media file of this task is gone")
            media = ((stored["media"] or {}).get("filename") or "media", path.read_bytes())
        return TaskRequest.from_fields({**fields, "options": stored.get("options") or {},
                                        "callback_url": row.callback_url}, media,
                                       max_media_bytes=self.max_media_bytes)

    def _claim_orphans(self, limit: int = 64) -> list[tuple[str, Caller, TaskRequest]]:
        """Async tasks nobody holds (their process died, or none was running): take them."""
        at = now()
        orphaned = or_(orm.Task.claimed_by.is_(None), orm.Task.lease_expires_at < at)
        taken = []
        with self.store.session() as session:
            candidates = session.execute(
                select(orm.Task.id, orm.Task.attempts)
                .join(orm.Deployment, orm.Task.deployment_id == orm.Deployment.id)
                .where(orm.Task.kind == ASYNC, orm.Task.status == QUEUED, orphaned,
                       orm.Deployment.status == COMPLETE)
                .order_by(orm.Task.created_at).limit(limit)
            ).all()
        for task_id, attempts in candidates:
            with self.store.session() as session:
                if attempts >= self.task_max_attempts:
                    gave_up = session.execute(update(orm.Task).where(orm.Task.id == task_id, orphaned).values(
                        status=FAILED_TASK, finished_at=at, claimed_by=None, lease_expires_at=None,
                        error=f"gave up after {attempts} attempts (the serving processes stopped)")).rowcount
                    if gave_up and self._forget_text(session, task_id):
                        self.forget_media(task_id)
                    continue
                won = session.execute(
                    update(orm.Task).where(orm.Task.id == task_id, orm.Task.status == QUEUED, orphaned)
                    .values(claimed_by=self.id, attempts=orm.Task.attempts + 1,
                            lease_expires_at=at + timedelta(seconds=self.task_lease_seconds))
                ).rowcount
                if not won:
                    continue
                row = session.get(orm.Task, task_id)
                deployment = session.get(orm.Deployment, row.deployment_id)
                version = session.get(orm.ModelVersion, deployment.version_id)
                target = Caller(deployment.id, row.api_key_id or "", version.id,
                                version.model.model_type, version.artifacts_path or "")
                try:
                    request = self._request_of(row)
                except AutoMLError as error:
                    row.status, row.error, row.finished_at, row.claimed_by = FAILED_TASK, error.message, at, None
                    if self._forget_text(session, task_id):
                        self.forget_media(task_id)
                    continue
            taken.append((task_id, target, request))
        return taken

    def _renew(self) -> None:
        if not self._held:
            return
        with self.store.session() as session:
            session.execute(
                update(orm.Task)
                .where(orm.Task.id.in_(list(self._held)), orm.Task.claimed_by == self.id)
                .values(lease_expires_at=now() + timedelta(seconds=self.task_lease_seconds))
            )

    # ------------------------------------------------------------- background
    def start(self) -> None:
        """Start the sweeper on the running event loop: it restores deployments at once, then
        keeps leases, takes orphaned tasks and unloads what is no longer deployed."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.restore)
        except Exception:
            self.log.exception("jupyter_automl: restoring deployments failed")
        while True:
            try:
                await loop.run_in_executor(None, self._renew)
                for task_id, target, request in await loop.run_in_executor(None, self._claim_orphans):
                    self._held.add(task_id)
                    self._spawn(self._run_async(task_id, target, request))
                for batch_id in await loop.run_in_executor(None, self._waiting_batches):
                    if batch_id not in self._driving:
                        self._spawn(self.drive_batch(batch_id))
                await loop.run_in_executor(None, self._unload_idle)
                if time.monotonic() >= self._next_cleanup:
                    self._next_cleanup = time.monotonic() + self.task_cleanup_seconds
                    await loop.run_in_executor(None, self.delete_expired_tasks)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("jupyter_automl: the serving sweep failed; trying again")
            await asyncio.sleep(self.sweep_seconds)

    def delete_expired_tasks(self, *, batch: int = 500) -> int:
        """Delete the tasks that finished more than ``task_retention_days`` ago, with their
        media files; how many. Queued tasks are kept. Several processes may run it at once."""
        if self.task_retention_days <= 0:
            return 0
        cutoff = now() - timedelta(days=self.task_retention_days)
        deleted = 0
        while True:
            with self.store.session() as session:
                ids = history.expired_ids(session, cutoff, batch)
                if ids:
                    history.delete_ids(session, ids)
            for task_id in ids:
                self.forget_media(task_id)
            deleted += len(ids)
            if len(ids) < batch:
                break
        with self.store.session() as session:
            batches.delete_empty_batches(session, cutoff)
        if deleted:
            self.log.info("jupyter_automl: deleted %d tasks older than %g days", deleted,
                          self.task_retention_days)
        return deleted

    def restore(self) -> None:
        """Load every deployment that was complete (and finish any left deploying) when the
        last process stopped."""
        for deployment_id in self.registry.ids_in(COMPLETE):
            version_id, _, _ = self.registry.artifacts(deployment_id)
            try:
                self.served(version_id)
            except Exception as error:
                reason = error.message if isinstance(error, AutoMLError) else str(error)
                self.log.error("jupyter_automl: deployment %s does not load: %s", deployment_id, reason)
        for deployment_id in self.registry.ids_in(DEPLOYING):
            self.activate(deployment_id)

    def _unload_idle(self, idle_seconds: float = 600.0) -> None:
        deployed = set()
        with self.store.session() as session:
            deployed = set(session.scalars(
                select(orm.Deployment.version_id).where(orm.Deployment.status.in_((COMPLETE, DEPLOYING)))
            ).all())
        cutoff = time.monotonic() - idle_seconds
        for version_id in list(self._served):
            lanes = (self._batchers.get(version_id), self._generators.get(version_id))
            busy = any(lane is not None and lane.pending > 0 for lane in lanes)
            if version_id not in deployed and not busy and self._last_used.get(version_id, 0) < cutoff:
                self.unload(version_id)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._background):
            task.cancel()
        for version_id in list(self._served):
            self.unload(version_id)

    def close(self) -> None:
        """Unload every model (for faces without an event loop; the server uses :meth:`stop`)."""
        for version_id in list(self._served):
            self.unload(version_id)

    def forget_keys(self) -> None:
        """Drop cached keys (after a rotation or revocation in this process)."""
        self._keys.clear()
