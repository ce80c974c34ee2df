"""Run one claimed job: papermill executes the training template in a kernel of its own, a
supervisor thread keeps the lease and copies progress into the store, and the version is
registered only when its folder is complete.

The same :func:`run_job` runs in a child process of a local worker
(``python -m jupyter_automl.kernel_jobs``) and inside a Dask worker.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AutoMLError
from ..notebooks import template_for
from ..store import Store, orm
from .progress import read_progress
from .queue import CANCELLED, FAILED, SUCCEEDED, Claim, JobQueue, now

log = logging.getLogger("jupyter_automl.kernel_jobs")

REPORT_NAME = "report.ipynb"
LOG_NAME = "job.log"
PROGRESS_NAME = "progress.json"
LOST = "lost"


@dataclass
class RunnerSettings:
    """How a job runs; a worker passes its own to each runner (it is JSON for child processes)."""

    store_url: str
    kernel_name: str = "python3"
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 2.0
    start_timeout: float = 120.0
    templates: dict[str, str] = field(default_factory=dict)
    parent_pid: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "RunnerSettings":
        return cls(**json.loads(text))


@dataclass
class JobSpec:
    """What one attempt needs, read from the store once."""

    template: Path
    parameters: dict[str, Any]
    job_dir: Path
    version_dir: Path

    @property
    def notebook(self) -> Path:
        return self.job_dir / REPORT_NAME

    @property
    def log(self) -> Path:
        return self.job_dir / LOG_NAME

    @property
    def progress(self) -> Path:
        return self.job_dir / PROGRESS_NAME


def describe(store: Store, claim: Claim, templates: dict[str, str]) -> JobSpec:
    """The template and its parameters for a claimed job. Snapshot ids become folders here, so
    the executed notebook never holds the store's URL (which may carry a password)."""
    with store.session() as session:
        job = session.get(orm.Job, claim.job_id)
        version = session.get(orm.ModelVersion, claim.version_id)
        model = session.get(orm.Model, version.model_id)
        train = session.get(orm.Snapshot, version.train_snapshot_id)
        test = session.get(orm.Snapshot, version.test_snapshot_id) if version.test_snapshot_id else None
        job_dir = Path(job.job_dir)
        version_dir = Path(version.artifacts_path)
        parameters = {
            "model_name": f"{model.name} v{version.version}",
            "snapshot": train.path,
            "test_snapshot": test.path if test else "",
            "test_percent": version.test_split_percent,
            "base_model": json.dumps(version.base_model_entry or version.base_model),
            "options": json.dumps(version.options or {}),
            "output_dir": str(version_dir),
            "progress_file": str(job_dir / PROGRESS_NAME),
            "resume": claim.attempt > 1,
        }
        template = Path(templates.get(model.model_type) or template_for(model.model_type))
    return JobSpec(template=template, parameters=parameters, job_dir=job_dir, version_dir=version_dir)


def tail(path: Path, chars: int = 8000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _kill_group(pid: int | None) -> None:
    """A kernel starts in a session of its own, so its group holds it and whatever it forked."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Supervisor(threading.Thread):
    """Renews the lease, copies progress and the log's tail into the store, and ends the kernel
    when the job is cancelled, the lease is lost, or (local runs) the worker died."""

    def __init__(self, queue: JobQueue, claim: Claim, spec: JobSpec, settings: RunnerSettings):
        super().__init__(name=f"job-{claim.job_id[:8]}", daemon=True)
        self.queue, self.claim, self.spec, self.settings = queue, claim, spec, settings
        self.kernel_pid: int | None = None
        self.cancelled = self.lost = self.orphaned = False
        self._halt = threading.Event()
        self._ending = threading.Event()

    def kernel_manager_class(self) -> type:
        """A kernel manager that tells this supervisor its kernel's pid as soon as it starts."""
        from jupyter_client.manager import AsyncKernelManager

        supervisor = self

        class JobKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kwargs: Any) -> None:
                await super().start_kernel(**kwargs)
                supervisor.kernel_started(getattr(self.provisioner, "pid", None))

        return JobKernelManager

    def kernel_started(self, pid: int | None) -> None:
        self.kernel_pid = pid
        if self._ending.is_set():
            _kill_group(pid)

    def _end(self, why: str) -> None:
        setattr(self, why, True)
        self._ending.set()
        _kill_group(self.kernel_pid)

    def beat(self) -> bool:
        """One heartbeat; False when the kernel has been told to end."""
        beat = self.queue.heartbeat(
            self.claim,
            progress=read_progress(self.spec.progress),
            log_tail=tail(self.spec.log),
            pid=self.kernel_pid,
        )
        if not beat.owned:
            self._end("lost")
        elif beat.cancel_requested:
            self._end("cancelled")
        return not self._ending.is_set()

    def run(self) -> None:
        renewed = next_beat = time.monotonic()
        parent = self.settings.parent_pid
        while not self._halt.wait(0.25):
            if parent and os.getppid() != parent:
                self._end("orphaned")
                return
            if time.monotonic() < next_beat:
                continue
            try:
                if not self.beat():
                    return
                renewed = time.monotonic()
            except Exception:  # the store is unreachable: keep trying until the lease runs out
                log.exception("heartbeat of job %s failed", self.claim.job_id)
                if time.monotonic() - renewed > 0.9 * self.settings.lease_seconds:
                    self._end("lost")
                    return
            next_beat = time.monotonic() + self.settings.heartbeat_seconds

    def halt(self) -> None:
        self._halt.set()
        self.join()


class WarmKernel:
    """A kernel started, with the engine imported, before its job is known, so that a job
    does not wait for the kernel to start and for torch and transformers to import."""

    def __init__(self, kernel_name: str) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self._run_sync = run_sync
        self.km = AsyncKernelManager(kernel_name=kernel_name)
        run_sync(self.km.start_kernel)()
        self.pid: int | None = getattr(self.km.provisioner, "pid", None)
        # What a template imports, and the transformers classes every engine task loads.
        self.execute("from jupyter_automl.reports import TrainingReport\n"
                     "from transformers import AutoConfig, AutoModel, AutoTokenizer")

    def execute(self, code: str) -> None:
        client = self.km.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            reply = client.execute_interactive(code, silent=True, store_history=False, timeout=300)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the warm kernel could not run {code!r}: {reply['content']}")
        finally:
            client.stop_channels()

    def shutdown(self) -> None:
        try:
            self._run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            _kill_group(self.pid)


class IncompleteRun(AutoMLError):
    """The notebook finished, but the version folder it should have written is not complete."""


def _compact(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics kept in the store's row; the curves stay in the version's metrics.json."""
    keep = dict(metrics)
    keep.pop("history", None)
    for part in ("test", "validation", "base"):
        heads = (keep.get(part) or {}).get("heads")
        if heads:
            keep[part] = {
                **keep[part],
                "heads": {h: {k: v for k, v in m.items() if k != "pr_curves"} for h, m in heads.items()},
            }
    return keep


def collect_version(spec: JobSpec) -> dict[str, Any]:
    """Check the version folder, put the executed notebook in it, and return the row's values."""
    folder = spec.version_dir
    missing = [n for n in ("version.json", "metrics.json", "model") if not (folder / n).exists()]
    if missing:
        raise IncompleteRun(
            f"the notebook ran to the end but {folder} lacks {', '.join(missing)}; "
            "a template must call the training and write the version there"
        )
    shutil.copy2(spec.notebook, folder / REPORT_NAME)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return {
        "metrics": _compact(metrics),
        "notebook_path": str(folder / REPORT_NAME),
        "trained_at": now(),
        "error": None,
    }


def _prepare_folders(spec: JobSpec, attempt: int) -> None:
    spec.job_dir.mkdir(parents=True, exist_ok=True)
    if spec.version_dir.exists():
        # Only an attempt that died between writing the folder and registering it leaves one;
        # the version was never registered, so nothing refers to it.
        shutil.rmtree(spec.version_dir)
    again = f"; re-queued after attempt {attempt - 1} lost its worker" if attempt > 1 else ""
    with spec.log.open("a", encoding="utf-8") as f:
        f.write(f"[{now():%Y-%m-%d %H:%M:%S}] attempt {attempt} on {os.uname().nodename} "
                f"(pid {os.getpid()}){again}\n")


def _execute(
    spec: JobSpec, settings: RunnerSettings, supervisor: Supervisor, kernel: WarmKernel | None
) -> tuple[str, str | None]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if kernel is not None:
        supervisor.kernel_started(kernel.pid)
        kernel.execute(f"import os; os.chdir({str(spec.job_dir)!r})")
        how: dict[str, Any] = {"km": kernel.km}
    else:
        how = {"kernel_manager_class": supervisor.kernel_manager_class()}
    with spec.log.open("a", encoding="utf-8") as out:
        try:
            papermill.execute_notebook(
                str(spec.template),
                str(spec.notebook),
                parameters=spec.parameters,
                kernel_name=settings.kernel_name,
                progress_bar=False,
                stdout_file=out,
                stderr_file=out,
                start_timeout=int(settings.start_timeout),
                cwd=str(spec.job_dir),
                **how,
            )
        except PapermillExecutionError as error:
            return FAILED, f"cell {error.exec_count}: {error.ename}: {error.evalue}"
        except Exception as error:  # the kernel died or did not start
            return FAILED, f"{type(error).__name__}: {error}"
        finally:
            if kernel is not None:
                kernel.shutdown()
    return SUCCEEDED, None


def run_job(claim: Claim, settings: RunnerSettings, kernel: WarmKernel | None = None) -> str:
    """Run a claimed job to its end and record it; return the final status (or ``"lost"``
    when the lease was lost, in which case this attempt writes nothing more). ``kernel`` is a
    warm kernel to use instead of starting one."""
    store = Store(settings.store_url, upgrade=False)
    queue = JobQueue(store, lease_seconds=settings.lease_seconds)
    try:
        try:
            spec = describe(store, claim, settings.templates)
            _prepare_folders(spec, claim.attempt)
        except Exception as error:
            queue.finish(claim, FAILED, error=f"the job could not start: {error}")
            if kernel is not None:
                kernel.shutdown()
            return FAILED
        supervisor = Supervisor(queue, claim, spec, settings)
        supervisor.start()
        try:
            return _run(queue, claim, spec, settings, supervisor, kernel)
        except Exception as error:  # a bug here must not leave the job running until its lease ends
            log.exception("job %s: the runner failed", claim.job_id)
            supervisor.halt()
            queue.finish(claim, FAILED, error=f"the job runner failed: {type(error).__name__}: {error}")
            return FAILED
    finally:
        store.dispose()


def _run(queue: JobQueue, claim: Claim, spec: JobSpec, settings: RunnerSettings,
         supervisor: Supervisor, kernel: WarmKernel | None) -> str:
    status, error = _execute(spec, settings, supervisor, kernel)
    supervisor.halt()
    if supervisor.lost or supervisor.orphaned:
        return LOST
    if supervisor.cancelled:
        status, error = CANCELLED, "cancelled on request; the kernel was ended"
    version: dict[str, Any] = {}
    if status == SUCCEEDED:
        try:
            version = collect_version(spec)
        except AutoMLError as problem:
            status, error = FAILED, problem.message
    notebook = str(spec.notebook) if spec.notebook.exists() else None
    if not queue.finish(claim, status, error=error, notebook_path=notebook,
                        log_tail=tail(spec.log), version=version,
                        progress=read_progress(spec.progress)):
        return LOST
    return status
