"""The main job on embedded defaults: validate and freeze every example dataset, then train the
example chat LLM and a text classifier end to end through training jobs, and print their
metrics, the change against the base model, and where each executed notebook is; then deploy
each version, ask it once sync and once async over HTTP with its printed key, and undeploy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .datasets.examples import EXAMPLES
from .model_types import ModelType
from .reports.summary import job_progress, version_summary


@dataclass
class DemoModel:
    name: str
    model_type: ModelType
    sample_rows: int  # a seeded sample of the example, so the demo finishes in minutes on a CPU
    options: dict[str, Any] = field(default_factory=dict)
    base_model: str | None = None


DEMO_MODELS = [
    DemoModel("demo-support-chat", ModelType.LLM_CHAT, 400,
              {"max_epochs": 1, "max_steps": 20, "batch_size": 4, "validation_percent": 10}),
    DemoModel("demo-review-classifier", ModelType.TEXT_CLASSIFICATION, 1200,
              {"max_epochs": 3, "selection_rule": "balanced_accuracy",
               "selection_label": "sentiment"}),
]


def _freeze_examples(automl) -> int:
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
    print(f"{len(automl.list_snapshots())} snapshots in the store\n")
    return failures


def _demo_snapshot(automl, demo: DemoModel) -> str:
    """Upload a seeded sample of the example as a user would upload a CSV, and freeze it."""
    example = EXAMPLES[demo.model_type]
    rows = pd.read_csv(example.csv_path, dtype=str, keep_default_na=False)
    sample = rows.sample(n=min(demo.sample_rows, len(rows)), random_state=0)
    path = automl.root / "demo" / f"{demo.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    sample.to_csv(path, index=False)
    dataset = automl.upload_dataset(path, demo.model_type, name=demo.name, base_model=demo.base_model)
    return automl.create_snapshot(dataset.id).id


DEMO_QUESTIONS = {
    ModelType.LLM_CHAT: ("Where can I find my invoice?", {"max_tokens": 48}),
    ModelType.TEXT_CLASSIFICATION: ("The tent leaked on the first night and support never answered.", {}),
}


def _task_api(port: int, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/automl/api/v2/{path}", method=method,
        data=json.dumps(body).encode("utf-8") if body is not None else None,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _answer_text(task: dict) -> str:
    entry = task["status"][0]
    if entry["status"]["code"] != "0":
        return entry["status"]["message"]
    lines = []
    for item in entry["response"]["output"]:
        if "completion" in item:
            lines.append(f"{item['completion']!r} ({item['prompt_tokens']} prompt + "
                         f"{item['completion_tokens']} completion tokens)")
        else:
            best = ", ".join(f"{c['class']} {c['score']:.2f}" for c in item["classes"][:3])
            lines.append(f"{item['head']}: {best}")
    return "\n      ".join(lines)


def _start_server(automl) -> tuple[subprocess.Popen, int]:
    """`jupyter automl serve` on a free port, on this store, as an application would reach it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, JUPYTER_AUTOML_STORE_URL=automl.store_url)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_automl.cli", "--data-dir", str(automl.root), "serve",
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/automl/api/v2/health", timeout=2):
                return server, port
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("`jupyter automl serve` did not start")


def serve_demo_models(automl, models: list[DemoModel] = DEMO_MODELS) -> int:
    """Deploy each demo model's newest version, ask it once sync and once async through the task
    API with its key, print the answers, and undeploy."""
    failures = 0
    deployed = []
    for demo in models:
        created = automl.deploy(demo.name)
        print(f"deployed {demo.name} v{created.version} as {created.name!r}: {created.status}")
        if created.status != "complete":
            print(f"  error: {created.error}")
            failures += 1
            continue
        print(f"  API key (slot 1, shown once): {created.new_keys[0].key}")
        deployed.append((demo, created))
    if not deployed:
        return failures
    server, port = _start_server(automl)
    print(f"task API: http://127.0.0.1:{port}/automl/api/v2/task/ (jupyter automl serve)\n")
    try:
        for demo, created in deployed:
            key = created.new_keys[0].key
            text, options = DEMO_QUESTIONS[demo.model_type]
            body = {"text_data": text, "options": options}
            started = time.perf_counter()
            code, task = _task_api(port, "POST", "task/sync", key, body)
            print(f"{created.name}: POST /task/sync {text!r} -> {code} in {time.perf_counter() - started:.1f}s"
                  f"\n      {_answer_text(task) if code == 200 else task.get('message')}")
            code, queued = _task_api(port, "POST", "task/async", key, body)
            print(f"{created.name}: POST /task/async -> {code}, task {queued.get('id')} {queued.get('state')}")
            for _ in range(600):
                code, task = _task_api(port, "GET", f"task/{queued['id']}", key)
                if task.get("state") != "queued":
                    break
                time.sleep(0.5)
            print(f"{created.name}: GET /task/{queued['id']} -> {task.get('state')}"
                  f"\n      {_answer_text(task)}")
            failures += int(task.get("state") != "succeeded")
    finally:
        server.terminate()
        server.wait(timeout=60)
        for _, created in deployed:
            info = automl.undeploy(created.id)
            print(f"undeployed {info.name}: {info.requests} requests, {info.tokens} tokens served")
    return failures


def train_demo_models(automl, models: list[DemoModel] = DEMO_MODELS, *, timeout: float = 3600) -> int:
    """Train each demo model's next version through a job and print what came of it."""
    jobs = []
    for demo in models:
        if any(m.name == demo.name for m in automl.list_models()):
            automl.update_model(demo.name, options=demo.options)
        else:
            automl.create_model(demo.name, _demo_snapshot(automl, demo), base_model=demo.base_model,
                                test_percent=10, options=demo.options)
        job = automl.train(demo.name)
        info = job.info()
        print(f"queued job {info.id}: {info.model_name} v{info.version} ({demo.model_type.value})")
        jobs.append(job)
    failures = 0
    for job in jobs:
        try:
            info = job.wait(timeout, poll_seconds=2,
                            on_update=lambda i: print(f"  {job_progress(i)}", flush=True))
        except TimeoutError:
            job.cancel()
            info = job.wait(poll_seconds=2)
        print(f"\n{info.model_name} v{info.version}: {info.status}")
        if info.status != "succeeded":
            failures += 1
            print(f"  error: {info.error}\n  notebook: {info.notebook_path}\n  log: see "
                  f"`jupyter automl jobs logs {info.id}`")
            continue
        version = automl.get_version(info.model_id, info.version)
        for line in version_summary(version.metrics):
            print(f"  {line}")
        print(f"  executed notebook: {version.notebook_path}\n  model: {version.artifacts_path}/model\n")
    return failures


def run_demo(automl, *, train: bool = True) -> int:
    """Return 0 when every example freezes and every demo model trains; print what a new user
    should see."""
    print(f"store: {automl.store_url}\ndata:  {automl.root}\n")
    print("Base models available offline:")
    for model in automl.list_base_models():
        if model.source != "hub":
            print(f"  {model.name:32s} {', '.join(model.model_types)}")
    print()
    failures = _freeze_examples(automl)
    if train:
        failures += train_demo_models(automl)
        if not failures:
            failures += serve_demo_models(automl)
    return 1 if failures else 0
