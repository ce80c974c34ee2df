"""The main job on embedded defaults: validate and freeze every example dataset, print reports."""

from __future__ import annotations

import time

from .datasets.examples import EXAMPLES
from .model_types import ModelType


def run_demo(automl) -> int:
    """Return 0 when every example validates and snapshots; print what a new user should see."""
    print(f"store: {automl.store_url}\ndata:  {automl.root}\n")
    print("Base models available offline:")
    for model in automl.list_base_models():
        if model.source != "hub":
            print(f"  {model.name:32s} {', '.join(model.model_types)}")
    print()
    automl.ensure_example_snapshots()
    failures = 0
    for kind in ModelType:
        example = EXAMPLES[kind]
        started = time.perf_counter()
        dataset = automl.upload_dataset(
            example.csv_path, kind, name=f"example-{kind.value}", images=example.images_zip
        )
        print(dataset.validation.summary())
        if not dataset.valid:
            failures += 1
            continue
        snapshot = automl.create_snapshot(dataset.id)
        split = automl.split_snapshot(snapshot.id, 20)
        print(
            f"  -> snapshot {snapshot.id} '{snapshot.name}' ({snapshot.rows} rows, "
            f"hash {snapshot.content_hash[:12]}); "
            f"train {split.train.rows} / test {split.test.rows} rows "
            f"[{time.perf_counter() - started:.1f}s]\n"
        )
    print(f"{len(automl.list_snapshots())} snapshots in the store")
    return 1 if failures else 0
