"""Batch scoring: a file of 10,000 inputs through a deployment's batch path, against a plain loop.

One text classifier is trained in this process from the packaged all-MiniLM-L6-v2 on a few
example rows (how well it is trained does not change throughput), registered as a trained
version and deployed. The inputs are example product reviews joined to 40-60 tokens, written
to a CSV of ``--rows`` rows. Then, in the same run, one after the other:

* **plain loop**: the version's predictor loaded in this process and asked one row at a time
  (``predictor.predict([text])``), what a user writes without the platform; the baseline.
* **batch, served**: the CSV submitted with ``submit_batch`` (checked with the dataset rules,
  10,000 tasks queued in one transaction) and run by a ``jupyter automl serve`` process, which
  takes the rows from the store in chunks under leases and sends them through the deployment's
  dynamic batching, recording every row; timed from submission to the last row recorded.
* **batch, in process**: the same file with ``submit_batch(wait=True)``, what
  ``jupyter automl tasks submit --wait`` and ``batch_predict.ipynb`` do.

Each batch run is checked: every row succeeded and the results come back in input order. The
table gives rows/s and the ratio to the plain loop (goal: at least 1x, thanks to batching).

    python benchmarks/batch.py               # 10,000 rows
    python benchmarks/batch.py --rows 2000   # a quick check
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import StoreLocation, register_trained, review_texts, server  # noqa: E402  (the serving benchmark's helpers)


def write_inputs(texts: list[str], rows: int, path: Path) -> list[str]:
    chosen = [texts[i % len(texts)] for i in range(rows)]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text_data"])
        writer.writerows([t] for t in chosen)
    return chosen


def check_results(automl, deployment: str, batch_id: str, texts: list[str]) -> None:
    info = automl.get_batch(deployment, batch_id)
    assert (info.succeeded, info.failed) == (len(texts), 0), info
    table = list(csv.DictReader(io.StringIO("".join(automl.batch_results(deployment, batch_id)))))
    assert [r["text_data"] for r in table] == texts, "results out of input order"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()

    from jupyter_automl import AutoML
    from jupyter_automl.serve.runtime import ServingRuntime
    from jupyter_automl.training.predictor import load_predictor

    with tempfile.TemporaryDirectory(prefix="automl-bench-batch-") as folder:
        work = Path(folder)
        automl = AutoML(data_dir=str(work / "data"), store_url=f"sqlite:///{work / 'store.db'}",
                        spawn_worker=False)
        example = automl.ensure_example_snapshots(["text_classification"])[0]
        register_trained(automl, "bench-classifier", "text_classification", "all-minilm-l6-v2", 200,
                         {"max_epochs": 1, "batch_size": 32, "validation_percent": 0}, work)
        deployment = automl.deploy("bench-classifier", name="bench").name
        texts = write_inputs(review_texts(automl.snapshot_rows(example.id)), args.rows, work / "inputs.csv")
        batch_size = ServingRuntime(automl.store, automl.root).max_batch_size
        results: dict[str, float] = {}

        predictor = load_predictor(automl.get_version("bench-classifier", 1).artifacts_path)
        predictor.predict(texts[:8])  # warm-up
        started = time.perf_counter()
        for text in texts:
            predictor.predict([text])
        results["plain loop (one row per call)"] = time.perf_counter() - started
        del predictor

        automl.close()  # unload the copy deploy() loaded; the server loads its own
        with server(StoreLocation(automl.root, automl.store_url), work, batching=True):
            started = time.perf_counter()
            batch = automl.submit_batch(deployment, work / "inputs.csv")
            automl.wait_batch(deployment, batch.id, poll=0.2)
            results["batch, served (jupyter automl serve)"] = time.perf_counter() - started
        check_results(automl, deployment, batch.id, texts)

        started = time.perf_counter()
        batch = automl.submit_batch(deployment, work / "inputs.csv", wait=True)
        results["batch, in process (tasks submit --wait)"] = time.perf_counter() - started
        check_results(automl, deployment, batch.id, texts)
        automl.close()

    base = args.rows / results["plain loop (one row per call)"]
    print(f"\n{args.rows:,} rows, all-MiniLM-L6-v2 classifier, model calls of up to {batch_size} rows")
    print(f"{'path':42} {'seconds':>8} {'rows/s':>9} {'vs plain loop':>14}")
    for label, seconds in results.items():
        rate = args.rows / seconds
        print(f"{label:42} {seconds:8.1f} {rate:9.1f} {rate / base:13.2f}x")
    served = args.rows / results["batch, served (jupyter automl serve)"]
    print(json.dumps({"rows": args.rows, "plain_rows_per_s": round(base, 1),
                      "served_rows_per_s": round(served, 1), "ratio": round(served / base, 2)}))
    return 0 if served >= base else 1


if __name__ == "__main__":
    sys.exit(main())
