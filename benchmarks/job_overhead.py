"""Benchmark: what a training job costs on top of the training itself.

The same tiny training (a config-built 2-layer Llama on a chat snapshot) runs three ways in one
run: a bare ``train()`` call in this process (imports already paid), a bare ``train()`` in a
fresh Python process (what a script pays), and a job (queue in the store, a worker, a runner
process, papermill and a fresh kernel, the executed notebook, the version registered). The goal
of issue 4 is an overhead of at most 5 s or 5%.

    python benchmarks/job_overhead.py                  # 400 rows, 3 epochs, SQLite
    python benchmarks/job_overhead.py --epochs 10 --store-url postgresql://...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUESTIONS = [
    ("How do I reset my password?", "Open Settings, choose Security and press Reset password."),
    ("Can I change my delivery address?", "Yes, until the order ships: edit it in the order."),
    ("Where is my invoice?", "Under Account, Orders: each order has a PDF link."),
    ("Do you ship to Norway?", "Yes, in 3 to 5 working days."),
    ("Can I pay by invoice?", "Yes, for orders under 500 euros, due in 14 days."),
]


def write_chat_csv(path: Path, rows: int) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["system_prompt", "prompt", "completion"])
        for i in range(rows):
            question, answer = QUESTIONS[i % len(QUESTIONS)]
            writer.writerow(["You are a concise support agent.", f"{question} (order {1000 + i})", answer])
    return path


BARE = """
import json, sys, time
started = time.perf_counter()
from jupyter_automl.training import train
from jupyter_automl.base_models.entry import BaseModelEntry
snapshot, entry, options, out = sys.argv[1:5]
train(snapshot, BaseModelEntry.from_dict(json.loads(entry)), json.loads(options), out_dir=out)
print(time.perf_counter() - started)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each way; the median is shown")
    parser.add_argument("--store-url", help="default: SQLite in a temp folder")
    parser.add_argument("--cold", action="store_true",
                        help="no standby runner: every job starts its kernel and imports the engine")
    args = parser.parse_args()

    from jupyter_automl import AutoML
    from jupyter_automl.base_models.tiny import tiny_base_model_configs
    from jupyter_automl.training import train

    work = Path(tempfile.mkdtemp(prefix="job-overhead-"))
    configs = tiny_base_model_configs(work / "models")
    llm = next(c for c in configs if c["name"] == "tiny-llm")
    automl = AutoML(data_dir=str(work / "data"), store_url=args.store_url or f"sqlite:///{work / 's.db'}",
                    base_models=configs, spawn_worker=False)
    dataset = automl.upload_dataset(write_chat_csv(work / "chat.csv", args.rows), "llm_chat",
                                    base_model="tiny-llm")
    snapshot = automl.get_snapshot(automl.create_snapshot(dataset.id).id)
    options = {"max_epochs": args.epochs, "batch_size": 16}
    automl.create_model("bench", snapshot.id, base_model="tiny-llm", options=options)

    worker = automl.worker(max_concurrent_jobs=1, poll_seconds=0.2, heartbeat_seconds=1.0,
                           standby_kernel=not args.cold)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    from jupyter_automl.base_models.entry import BaseModelEntry

    entry = BaseModelEntry.from_dict(llm)
    train(snapshot.path, entry, {**options, "max_epochs": 1}, out_dir=work / "warm-up")

    results: dict[str, list[float]] = {"in_process": [], "fresh_process": [], "job": []}
    breakdown = []
    for n in range(args.repeat):
        started = time.perf_counter()
        train(snapshot.path, entry, options, out_dir=work / f"bare-{n}")
        results["in_process"].append(time.perf_counter() - started)

        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE, snapshot.path, json.dumps(llm), json.dumps(options),
                        str(work / f"fresh-{n}")], check=True, capture_output=True)
        results["fresh_process"].append(time.perf_counter() - started)

        started = time.perf_counter()
        job = automl.train("bench")
        info = job.wait(timeout=1800, poll_seconds=0.05)
        results["job"].append(time.perf_counter() - started)
        if info.status != "succeeded":
            print(f"job failed: {info.error}", file=sys.stderr)
            return 1
        version = automl.get_version("bench", info.version)
        engine = version.metrics["total_seconds"]
        breakdown.append({
            "queue wait": (info.started_at - info.created_at).total_seconds(),
            "engine in the kernel": engine,
            "runner, kernel, imports, notebook, registration":
                (info.finished_at - info.started_at).total_seconds() - engine,
        })
    worker.stop()
    thread.join()
    worker.close()

    median = {k: statistics.median(v) for k, v in results.items()}
    kernel = "a cold kernel per job" if args.cold else "a standby kernel, warmed while the worker was idle"
    print(f"\n{args.rows} rows, {args.epochs} epochs, tiny Llama, {args.repeat} run(s) each "
          f"(median), store {automl.store.engine.url.get_backend_name()}, jobs on {kernel}\n")
    print("| way | seconds | job overhead vs this way |")
    print("| --- | --- | --- |")
    for key, label in (("in_process", "bare train() in this process (warm)"),
                       ("fresh_process", "bare train() in a fresh python process"),
                       ("job", "training job (queue, worker, papermill, kernel, notebook)")):
        over = median["job"] - median[key]
        note = "" if key == "job" else f"{over:+.2f} s ({100 * over / median[key]:+.0f}%)"
        print(f"| {label} | {median[key]:.2f} | {note} |")
    print("\nWhere the job's time went (median):")
    for key in breakdown[0]:
        print(f"  {key:50s} {statistics.median(b[key] for b in breakdown):6.2f} s")
    over = median["job"] - median["fresh_process"]
    goal = over <= 5 or over <= 0.05 * median["fresh_process"]
    print(f"\ngoal (<= 5 s or <= 5% over a fresh-process run): {'met' if goal else 'NOT met'} "
          f"({over:.2f} s)")
    automl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
