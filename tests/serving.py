"""Trained tiny versions for serving tests, without a papermill job each time.

The engine trains a tiny classifier and a tiny chat LLM once per session (in process); a test
registers a copy of such a run as a version of a model in its own store, marked trained the way
a finished job marks it.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import update

from jupyter_automl import AutoML
from jupyter_automl.store import orm
from tests.data import write_chat_csv, write_reviews_csv

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


def register_trained(automl: AutoML, name: str, kind: str, run: Path, folder: Path) -> orm.ModelVersion:
    """Model ``name`` with a new version holding a copy of ``run``, trained as far as the store
    knows (the rows a finished job leaves)."""
    base = KINDS[kind][0]
    if name not in {m.name for m in automl.list_models()}:
        automl.create_model(name, snapshot_for(automl, kind, folder), base_model=base)
    job = automl.train(name)
    info = job.info()
    version = automl.get_version(name, info.version)
    shutil.copytree(run, version.artifacts_path)
    metrics = json.loads((Path(version.artifacts_path) / "metrics.json").read_text())
    at = datetime.now(timezone.utc)
    with automl.store.session() as session:
        session.execute(update(orm.ModelVersion).where(orm.ModelVersion.id == version.id)
                        .values(status="trained", trained_at=at, metrics=metrics))
        session.execute(update(orm.Job).where(orm.Job.id == info.id)
                        .values(status="succeeded", finished_at=at))
    return automl.get_version(name, info.version)
