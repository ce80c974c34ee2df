"""Training jobs end to end with real papermill kernels on tiny models (DESIGN §2, §3)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import nbformat
import pytest

from jupyter_automl.api import JobFailed
from jupyter_automl.kernel_jobs import JobQueue
from tests.kernel_jobs.conftest import (
    LONG_EPOCHS,
    alive,
    chat_snapshot,
    wait_for,
    worker_process,
)

pytestmark = pytest.mark.slow


def _outputs(notebook_path: str) -> str:
    notebook = nbformat.read(notebook_path, as_version=4)
    text = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            data = output.get("data", {})
            text.append(data.get("text/markdown", "") + data.get("text/plain", ""))
            if output.get("output_type") == "error":
                text.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(text)


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_job_trains_registers_the_version_and_keeps_the_notebook(chat_model, thread_worker):
    automl = chat_model
    # One heartbeat as the job starts and none after: the final progress comes with its end.
    thread_worker(automl, heartbeat_seconds=600, lease_seconds=1200)
    job = automl.train("support-bot")
    info = job.wait(timeout=240)
    assert info.status == "succeeded", info.error

    version = job.result()
    folder = Path(version.artifacts_path)
    assert version.status == "trained" and version.version == 1
    for part in ("model", "metrics.json", "plots", "version.json", "report.ipynb"):
        assert (folder / part).exists(), part
    assert version.notebook_path == str(folder / "report.ipynb")
    stored = json.loads((folder / "metrics.json").read_text())
    assert version.metrics["comparison"] == stored["comparison"]
    assert version.metrics["test"] == stored["test"]
    assert "history" not in version.metrics  # the curves stay in the file

    report = _outputs(version.notebook_path)
    assert "Base model vs fine-tuned" in report and "Chosen:" in report
    assert "token_accuracy" in report and "Rows used" in report
    state = info.progress["state"]
    assert state["step"] == state["total_steps"] > 0 and info.step == state["step"]
    assert [step for step, _ in info.progress["losses"]][-1] == state["step"]
    assert info.attempts == 1 and info.finished_at >= info.started_at
    assert "base model on the test rows" in job.logs()
    assert automl.get_model("support-bot").versions[0].snapshot_hash


def test_a_failing_cell_fails_the_job_keeps_the_notebook_and_registers_nothing(
    chat_model, thread_worker
):
    automl = chat_model
    thread_worker(automl)
    # Every row is longer than 8 tokens: the engine refuses them all in the training cell.
    job = automl.train("support-bot", options={"max_tokens": 8, "max_invalid_row_percent": 5})
    info = job.wait(timeout=240)
    assert info.status == "failed"
    assert "DataValidationError" in info.error and "max_invalid_row_percent" in info.error
    assert info.error.startswith("cell ")
    notebook = _outputs(info.notebook_path)
    assert "DataValidationError" in notebook and "Left out by the engine" in notebook
    version = automl.get_version("support-bot", 1)
    assert version.status == "failed" and version.error == info.error
    assert version.metrics is None and not Path(version.artifacts_path).exists()
    with pytest.raises(JobFailed, match="failed"):
        job.result()


def test_cancel_ends_the_kernel_mid_training(chat_model, thread_worker):
    automl = chat_model
    thread_worker(automl)
    job = automl.train("support-bot", options={"max_epochs": LONG_EPOCHS})
    running = wait_for(lambda: (i := job.info()).status == "running" and (i.step or 0) > 0 and i)
    kernel = running.pid
    assert alive(kernel)

    job.cancel()
    info = job.wait(timeout=60)
    assert info.status == "cancelled" and "kernel was ended" in info.error
    assert not alive(kernel)
    assert info.step < running.total_steps
    assert Path(info.notebook_path).is_file()  # the report up to the cancel is kept
    version = automl.get_version("support-bot", 1)
    assert version.status == "cancelled" and not Path(version.artifacts_path).exists()


def test_update_model_makes_version_two_and_leaves_version_one_untouched(
    chat_model, thread_worker
):
    automl = chat_model
    thread_worker(automl)
    first = automl.train("support-bot").result(timeout=240)
    before = _tree_digest(Path(first.artifacts_path))

    second = automl.train("support-bot", options={"max_epochs": 2, "learning_rate": 0.01}).result(
        timeout=240
    )
    assert (first.version, second.version) == (1, 2)
    assert first.artifacts_path != second.artifacts_path
    assert _tree_digest(Path(first.artifacts_path)) == before
    versions = automl.get_model("support-bot").versions
    assert versions[0].options == {"max_epochs": 1, "batch_size": 16}
    assert versions[1].options == {"max_epochs": 2, "learning_rate": 0.01}
    assert versions[1].metrics["selection"]["epoch"] in (1.0, 2.0)
    resolved = json.loads((Path(second.artifacts_path) / "options.json").read_text())
    assert resolved["max_epochs"] == 2 and resolved["learning_rate"] == 0.01


def test_two_worker_processes_on_postgresql_never_run_a_job_twice(
    make_automl, fresh_postgres_url, tmp_path
):
    automl = make_automl(fresh_postgres_url)
    automl.create_model("bot", chat_snapshot(automl, tmp_path), base_model="tiny-llm",
                        options={"max_epochs": 1})
    jobs = [automl.train("bot") for _ in range(4)]
    workers = [worker_process(automl.root, fresh_postgres_url, "--exit-when-idle", "3")
               for _ in range(2)]
    try:
        infos = [job.wait(timeout=400) for job in jobs]
    finally:
        outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
    assert [i.status for i in infos] == ["succeeded"] * 4, [i.error for i in infos]
    assert all(i.attempts == 1 for i in infos)
    assert len({i.worker_id for i in infos}) == 2, outputs  # both workers took jobs
    for job in jobs:
        assert job.logs().count("attempt 1 on") == 1
    assert [v.version for v in automl.get_model("bot").versions] == [1, 2, 3, 4]


def test_a_killed_worker_leaves_no_job_running_and_a_new_worker_resumes_it(
    make_automl, fresh_postgres_url, tmp_path
):
    automl = make_automl(fresh_postgres_url)
    automl.create_model("bot", chat_snapshot(automl, tmp_path), base_model="tiny-llm",
                        options={"max_epochs": 12, "eval_steps": 5})
    job = automl.train("bot")
    worker = worker_process(automl.root, fresh_postgres_url, "--lease-seconds", "4")
    running = wait_for(lambda: (i := job.info()).status == "running" and (i.step or 0) > 5 and i)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # The runner sees its worker gone and ends its kernel; the job is not left training.
    wait_for(lambda: not alive(running.pid), timeout=30)
    stalled = job.info()
    assert stalled.status == "running"  # until the lease runs out

    replacement = worker_process(automl.root, fresh_postgres_url, "--lease-seconds", "4",
                                 "--requeue", "--exit-when-idle", "3")
    try:
        info = job.wait(timeout=400)
    finally:
        replacement.communicate(timeout=120)
    assert info.status == "succeeded", info.error
    assert info.attempts == 2
    log = job.logs()
    assert "attempt 1 on" in log and "re-queued after attempt 1 lost its worker" in log
    assert "resumed from the checkpoint at step" in log  # attempt 2 went on, not from scratch


def test_a_dead_workers_job_fails_after_its_lease_without_requeue(make_automl, tmp_path):
    automl = make_automl()
    automl.create_model("bot", chat_snapshot(automl, tmp_path), base_model="tiny-llm",
                        options={"max_epochs": LONG_EPOCHS})
    job = automl.train("bot")
    worker = worker_process(automl.root, automl.store_url, "--lease-seconds", "3")
    running = wait_for(lambda: (i := job.info()).status == "running" and (i.step or 0) > 0 and i)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    wait_for(lambda: not alive(running.pid), timeout=30)
    wait_for(lambda: JobQueue(automl.store).reap() or job.info().status != "running", timeout=30)
    info = job.info()
    assert info.status == "failed"
    assert "stopped sending heartbeats" in info.error and running.worker_id in info.error
    assert automl.get_version("bot", 1).status == "failed"


def test_a_standby_kernel_has_the_engine_imported_before_its_job_arrives():
    from jupyter_automl.kernel_jobs.runner import WarmKernel

    kernel = WarmKernel("python3")
    try:
        kernel.execute("import sys\nassert {'jupyter_automl.reports.training', 'torch', "
                       "'transformers'} <= set(sys.modules)")
    finally:
        kernel.shutdown()
    wait_for(lambda: not alive(kernel.pid), timeout=30)
