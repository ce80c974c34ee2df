"""Trained tiny versions for serving tests, without a papermill job each time.

The engine trains a tiny classifier and a tiny chat LLM once per session (in process, with the
function the training notebook calls); a test registers a copy of such a run as a new version of a
model in its own store through the queue, playing the worker's part.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from jupyter_automl import AutoML
from jupyter_automl.kernel_jobs.queue import SUCCEEDED, JobQueue
from jupyter_automl.kernel_jobs.runner import collect_version, describe
from jupyter_automl.schemas import JobInfo, VersionInfo
from tests.data import write_chat_csv, write_reviews_csv

LOG_LINE = "trained in-process by the tests\n"

KINDS = {
    "text_classification": ("tiny-encoder", write_reviews_csv, {"max_epochs": 2, "batch_size": 16,
                                                              "learning_rate": 5e-3}),
    "llm_chat": ("tiny-llm", write_chat_csv, {"max_epochs": 1, "batch_size": 16}),
}


def snapshot_for(automl: AutoML, kind: str, folder: Path) -> str:
    base, write, _ = KINDS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    dataset = automl.upload_dataset(write(folder / f"{kind}.csv"), kind, base_model=base)
    return automl.create_snapshot(dataset.id).id


def train_runs(folder: Path, tiny_base_models: list[dict]) -> dict[str, Path]:
    """One trained version folder per kind in ``KINDS``."""
    from jupyter_automl.training import train

    automl = AutoML(data_dir=str(folder / "data"), store_url=f"sqlite:///{folder / 'store.db'}",
                    base_models=tiny_base_models, spawn_worker=False)
    runs = {}
    try:
        for kind, (base, _, options) in KINDS.items():
            snapshot = automl.get_snapshot(snapshot_for(automl, kind, folder / "csv")).path
            entry = automl.registry.get(base)
            runs[kind] = train(snapshot, entry, options, out_dir=folder / kind, test=20).version_dir
    finally:
        automl.close()
    return runs


def register_run(automl: AutoML, job_id: str, run: Path) -> JobInfo:
    """Play the worker for job ``job_id``, the oldest queued one: claim it, put a copy of
    ``run`` in its version's folder, and register it with the runner's own ``collect_version``
    and the queue's ``finish``, so the store holds what a real job leaves. Only the executed
    notebook is a stand-in: one cell that says where it came from."""
    queue = JobQueue(automl.store)
    claim = queue.claim("in-process-tests", executor="in-process")
    assert claim is not None and claim.job_id == job_id, "the job to register is not next in line"
    spec = describe(automl.store, claim, {})
    shutil.copytree(run, spec.version_dir)
    spec.job_dir.mkdir(parents=True, exist_ok=True)
    spec.log.write_text(LOG_LINE, encoding="utf-8")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("Stand-in for the executed training notebook.")]
    )
    nbformat.write(notebook, spec.notebook)
    assert queue.finish(claim, SUCCEEDED, notebook_path=str(spec.notebook),
                        log_tail=LOG_LINE, version=collect_version(spec))
    return automl.get_job(claim.job_id)


def register_trained(automl: AutoML, name: str, kind: str, run: Path, folder: Path) -> VersionInfo:
    """Model ``name`` (created on first use) with a new version trained from a copy of ``run``."""
    if name not in {m.name for m in automl.list_models()}:
        automl.create_model(name, snapshot_for(automl, kind, folder), base_model=KINDS[kind][0])
    job = register_run(automl, automl.train(name).info().id, run)
    return automl.get_version(name, job.version)
