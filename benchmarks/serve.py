"""Serving throughput: the task API with dynamic batching on, against the same server with it off.

``jupyter automl serve`` processes run on one store, identical but for their ``ServingRuntime``
settings:

* off: ``batching = False``, one request per model call (for the LLM, ``model.generate`` one
  request at a time): the per-request baseline;
* on: the defaults. Classifier requests are batched (a 20 ms window for requests known to be
  coming, at most 32 a call); LLM requests join the running generation between tokens
  (continuous batching, at most 32 rows; a newcomer's prompt goes through the forward pass of
  the others' next token) and shared prompt beginnings are prefilled once (the prefix cache);
* on, no prefix cache: ``prefix_cache = False``, continuous batching alone (LLM only), to show
  what each part brings.

They serve a text classifier trained
from the packaged all-MiniLM-L6-v2 and a chat LLM trained (LoRA) from the packaged
SmolLM2-135M-Instruct; the versions are trained in this process on a few example rows (how well
they are trained does not change throughput), registered as trained versions, and deployed.

Closed-loop clients (asyncio, tornado's HTTP client) keep ``concurrency`` sync tasks in flight,
``POST /automl/api/v2/task/sync`` with the deployment's key, until ``--requests`` (classifier:
product reviews from the example snapshot, joined to 40-60 tokens) or ``--llm-requests`` (chat:
prompts with their system prompt and history from the example chat snapshot, greedy,
``max_tokens`` 32) are answered. At each concurrency the two servers are driven one after the
other, never together: the idle one only wakes every 2 s for a store query.

How to read the table: requests/s and latency (p50, p99, from sending a request to its answer)
per server; tokens/s counts the completion tokens the answers report; "mean batch" is requests
per model call for the classifier (answers finished together came from one call; well below the
concurrency, the requests were split into cohorts that take turns), answers that ended at the
same step for the continuous LLM; "other CPU" is the share of all cores that
processes other than this benchmark and its servers used meanwhile (when it is high, that row is
disturbed: run again). The speed-up is batching on over off at the same concurrency
(requests/s for the classifier, tokens/s for the LLM). The bars
(shared/PERFORMANCE.md): classifier at concurrency 32 >= 1.8x on a 2-core CPU (10x on a GPU),
chat LLM at concurrency 16 >= 4x sequential generation on the CPU (10x on a GPU). At
concurrency 1 the servers do the same work; on is slightly slower there by its window. The LLM
runs at concurrency 1 send an eighth of ``--llm-requests`` (they only show the overhead). A
closed-loop run ends with its last answers draining at lower concurrency; enough requests keep
that tail short. Every LLM request is a prompt the server has not seen in this run.

    python benchmarks/serve.py                                  # 400 / 96 requests a run
    python benchmarks/serve.py --requests 64 --llm-requests 32  # a quick check
    python benchmarks/serve.py --skip-llm                       # the classifier alone

Timings on shared 2-core machines are noisy (the client also shares the cores with the server):
compare the speed-ups, measured in the same run, rather than absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import psutil  # noqa: E402

if TYPE_CHECKING:
    from jupyter_automl import AutoML

CLASSIFIER_LEVELS = (1, 8, 32)
LLM_LEVELS = (1, 16)
NEW_TOKENS = 32
REVIEW_TOKENS = (40, 60)  # classifier inputs: example reviews joined to this many tokens
# model label -> (concurrency of the bar, CPU bar, GPU bar)
BARS = {"classifier": (32, 1.8, 10.0), "chat LLM": (16, 4.0, 10.0)}


@dataclass(frozen=True)
class StoreLocation:
    """Where the servers find the deployments: the data folder and the store's URL."""

    root: Path
    url: str


OFF, ON, NO_PREFIX_CACHE = "off", "on", "on, no prefix cache"
MODES = {OFF: {"batching": False}, ON: {"batching": True},
         NO_PREFIX_CACHE: {"batching": True, "prefix_cache": False}}


@dataclass
class Target:
    """A deployed model and the request bodies sent to it (in turn)."""

    label: str
    key: str
    bodies: list[bytes]
    levels: tuple[int, ...]
    requests: int
    warmup: int  # requests (all at once) to each server before the timed runs
    generates: bool  # an LLM: throughput is completion tokens/s
    modes: tuple[str, ...] = (OFF, ON)

    def requests_at(self, concurrency: int) -> int:
        """LLM runs at concurrency 1 take long for what they show: an eighth of the requests."""
        return max(8, self.requests // 8) if self.generates and concurrency == 1 else self.requests


@dataclass
class Run:
    target: Target
    concurrency: int
    mode: str
    seconds: float
    latencies: list[float]
    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    others_cpu: float = 0.0  # share of all cores that other processes used during the run

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds

    @property
    def throughput(self) -> float:
        """What batching should raise: tokens/s for an LLM, requests/s for a classifier."""
        return self.tokens_per_s if self.target.generates else self.requests_per_s

    def latency_ms(self, percent: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


# -- models: trained in this process, registered as versions, deployed ---------------------------

def register_trained(automl: AutoML, name: str, kind: str, base_model: str, rows: int,
                     options: dict[str, Any], work: Path) -> None:
    """Model ``name`` with one trained version, from ``rows`` sampled example rows.

    The version is made the way a job makes it (``automl.train`` queues the job and its version
    row), then trained here with ``train`` into the version's folder and marked trained, as the
    finished job would (the same shortcut as ``tests/serving.py``): no worker, kernel or notebook.
    """
    from sqlalchemy import update

    from jupyter_automl.datasets.examples import EXAMPLES
    from jupyter_automl.model_types import ModelType
    from jupyter_automl.store import orm
    from jupyter_automl.training import train

    example = pd.read_csv(EXAMPLES[ModelType(kind)].csv_path, dtype=str, keep_default_na=False)
    csv = work / f"{name}.csv"
    example.sample(n=rows, random_state=0).to_csv(csv, index=False)
    dataset = automl.upload_dataset(csv, kind, name=name, base_model=base_model)
    snapshot = automl.get_snapshot(automl.create_snapshot(dataset.id).id)
    automl.create_model(name, snapshot.id, base_model=base_model, test_percent=10, options=options)
    job = automl.train(name).info()
    version = automl.get_version(name, job.version)
    started = time.perf_counter()
    train(snapshot.path, automl.registry.get(base_model), options, out_dir=version.artifacts_path,
          test=10, cache_dir=automl.cache_dir)
    print(f"trained {name} ({kind}, {base_model}, {rows} rows) in {time.perf_counter() - started:.0f} s",
          flush=True)
    metrics = json.loads((Path(version.artifacts_path) / "metrics.json").read_text())
    at = datetime.now(timezone.utc)
    with automl.store.session() as session:
        session.execute(update(orm.ModelVersion).where(orm.ModelVersion.id == version.id)
                        .values(status="trained", trained_at=at, metrics=metrics))
        session.execute(update(orm.Job).where(orm.Job.id == job.id)
                        .values(status="succeeded", finished_at=at))


def review_texts(rows: pd.DataFrame) -> list[str]:
    """Example reviews joined until each text has 40-60 tokens (the snapshot's ``tokens``
    column counts them with the classifier's tokenizer, [CLS] and [SEP] included)."""
    low, high = REVIEW_TOKENS
    texts, parts, tokens = [], [], 2
    for text, count in zip(rows["text_data"], rows["tokens"]):
        if tokens + count - 2 > high:
            parts, tokens = [], 2
        parts.append(text)
        tokens += count - 2
        if tokens >= low:
            texts.append(" ".join(parts))
            parts, tokens = [], 2
    return texts


def chat_bodies(rows: pd.DataFrame) -> list[bytes]:
    options = {"max_tokens": NEW_TOKENS, "temperature": 0}
    bodies = []
    for row in rows.itertuples():
        extra = {k: v for k in ("system_prompt", "prompt_history", "roles")
                 if isinstance(v := getattr(row, k), str) and v}
        bodies.append(json.dumps({"text_data": row.prompt, "options": {**extra, **options}}).encode())
    return bodies


def prepare(work: Path, args: argparse.Namespace) -> tuple[StoreLocation, list[Target]]:
    """A fresh store with the example snapshots and the trained versions deployed; where it
    is, and the requests to send to each deployment."""
    from jupyter_automl import AutoML

    automl = AutoML(data_dir=str(work / "data"), store_url=f"sqlite:///{work / 'store.db'}",
                    spawn_worker=False)
    kinds = ["text_classification"] + ([] if args.skip_llm else ["llm_chat"])
    examples = {s.model_type: s for s in automl.ensure_example_snapshots(kinds)}
    register_trained(automl, "bench-classifier", "text_classification", "all-minilm-l6-v2", 200,
                     {"max_epochs": 1, "batch_size": 32, "validation_percent": 0}, work)
    texts = review_texts(automl.snapshot_rows(examples["text_classification"].id))
    targets = [Target("classifier", automl.deploy("bench-classifier").new_keys[0].key,
                      [json.dumps({"text_data": t}).encode() for t in texts],
                      CLASSIFIER_LEVELS, args.requests, warmup=max(CLASSIFIER_LEVELS), generates=False)]
    if not args.skip_llm:
        register_trained(automl, "bench-chat", "llm_chat", "smollm2-135m-instruct", 100,
                         {"method": "lora", "max_epochs": 1, "max_steps": 3, "batch_size": 4,
                          "validation_percent": 0}, work)
        rows = automl.snapshot_rows(examples["llm_chat"].id).sample(frac=1, random_state=0)
        targets.append(Target("chat LLM", automl.deploy("bench-chat").new_keys[0].key,
                              chat_bodies(rows), LLM_LEVELS, args.llm_requests, warmup=2, generates=True,
                              modes=(OFF, ON, NO_PREFIX_CACHE)))
    automl.close()  # unloads the models this process loaded to deploy them
    return StoreLocation(automl.root, automl.store_url), targets


# -- servers ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    port: int
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/automl/api/v2/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextmanager
def server(store: StoreLocation, work: Path, mode: str) -> Iterator[Server]:
    """A ``jupyter automl serve`` process in ``mode`` (see ``MODES``), once it answers; its
    process group is stopped on the way out."""
    name = "batching-" + mode.replace(", ", "-").replace(" ", "-")
    config_dir = work / name
    config_dir.mkdir()
    (config_dir / "jupyter_automl_config.json").write_text(json.dumps({"ServingRuntime": MODES[mode]}))
    port = free_port()
    log_path = work / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_automl.cli", "--data-dir", str(store.root),
             "--store-url", store.url, "serve", "--port", str(port)],
            env=dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir)),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Server(port, process.pid)
    except BaseException:
        print(f"(the {name} server's log: {log_path})", file=sys.stderr)
        raise
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it stops cleanly), SIGKILL after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:  # it had ended already
        process.wait()


# -- load ---------------------------------------------------------------------------------------

async def drive(port: int, target: Target, requests: int, concurrency: int, mode: str,
                first: int = 0) -> Run:
    """``requests`` sync tasks with ``concurrency`` of them in flight at every moment: the
    target's bodies from number ``first`` on."""
    from tornado.httpclient import AsyncHTTPClient

    client = AsyncHTTPClient(force_instance=True, max_clients=concurrency)
    url = f"http://127.0.0.1:{port}/automl/api/v2/task/sync"
    headers = {"Authorization": f"Token {target.key}", "Content-Type": "application/json"}
    numbers = iter(range(first, first + requests))
    latencies: list[float] = []
    finished: set[str] = set()
    prompt_tokens = completion_tokens = 0

    async def user() -> None:
        nonlocal prompt_tokens, completion_tokens
        for n in numbers:
            sent = time.perf_counter()
            answer = await client.fetch(url, method="POST", headers=headers,
                                        body=target.bodies[n % len(target.bodies)],
                                        connect_timeout=60, request_timeout=1800, raise_error=False)
            latencies.append(time.perf_counter() - sent)
            if answer.code != 200:
                raise RuntimeError(f"{target.label}: HTTP {answer.code}: {answer.body[:500]!r}")
            task = json.loads(answer.body)
            if task["state"] != "succeeded":
                raise RuntimeError(f"{target.label}: task {task['state']}: {task['status']}")
            prompt_tokens += task["usage"]["prompt_tokens"] or 0
            completion_tokens += task["usage"]["completion_tokens"] or 0
            finished.add(task["finished_on"])  # one timestamp per model call

    started = time.perf_counter()
    try:
        await asyncio.gather(*(user() for _ in range(concurrency)))
    finally:
        client.close()
    return Run(target, concurrency, mode, time.perf_counter() - started, latencies,
               prompt_tokens, completion_tokens, len(finished))


def others_cpu_seconds(ours: list[psutil.Process]) -> float:
    """CPU seconds the whole machine has spent so far, less what ``ours`` spent."""
    total = psutil.cpu_times()
    busy = total.user + total.nice + total.system + total.irq + total.softirq
    return busy - sum(p.cpu_times().user + p.cpu_times().system for p in ours)


def measure(servers: dict[str, Server], targets: list[Target]) -> list[Run]:
    """Each target at each concurrency in each of its modes, one after the other, after a
    warm-up of each. Every server gets the same requests at a concurrency, and no request is
    sent twice to a server (a prompt it has seen would find its whole beginning in the LLM's
    prefix cache)."""
    ours = [psutil.Process(), *(psutil.Process(s.pid) for s in servers.values())]
    runs = []
    for target in targets:
        for mode in target.modes:  # warm-up: a model's first calls are not timed
            asyncio.run(drive(servers[mode].port, target, target.warmup, target.warmup, mode))
        first = target.warmup
        for concurrency in target.levels:
            requests = target.requests_at(concurrency)
            for mode in target.modes:
                others = others_cpu_seconds(ours)
                run = asyncio.run(drive(servers[mode].port, target, requests, concurrency, mode, first))
                others = others_cpu_seconds(ours) - others
                run.others_cpu = max(0.0, others / (run.seconds * psutil.cpu_count()))
                runs.append(run)
                print(f"  {target.label}, concurrency {concurrency}, batching {mode}: "
                      f"{run.requests_per_s:.1f} requests/s in {run.seconds:.1f} s "
                      f"(other processes: {run.others_cpu:.0%} of the CPU)", flush=True)
            first += requests
    return runs


# -- report -------------------------------------------------------------------------------------

def find(runs: list[Run], label: str, concurrency: int, mode: str) -> Run | None:
    return next((r for r in runs if (r.target.label, r.concurrency, r.mode) == (label, concurrency, mode)),
                None)


def speedup(runs: list[Run], on: Run) -> float:
    """A batching mode over off at the same concurrency, in the target's throughput."""
    return on.throughput / find(runs, on.target.label, on.concurrency, OFF).throughput


def report(runs: list[Run], gpu: bool) -> bool:
    """Print the table and a line per bar; ``True`` when every bar measured is met."""
    print("\n| model | concurrency | batching | requests | requests/s | tokens/s | p50 ms | p99 ms "
          "| mean batch | other CPU | speed-up over off |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        tokens = f"{run.tokens_per_s:.1f}" if run.target.generates else ""
        ratio = f"{speedup(runs, run):.2f}x" if run.mode != OFF else ""
        print(f"| {run.target.label} | {run.concurrency} | {run.mode} | {run.requests} "
              f"| {run.requests_per_s:.1f} | {tokens} | {run.latency_ms(50):.0f} | {run.latency_ms(99):.0f} "
              f"| {run.requests / run.model_calls:.1f} | {run.others_cpu:.0%} | {ratio} |")
    print()
    passed = True
    for label, (concurrency, cpu_bar, gpu_bar) in BARS.items():
        on = find(runs, label, concurrency, ON)
        if on is None:
            continue
        bar, ratio = (gpu_bar if gpu else cpu_bar), speedup(runs, on)
        passed &= ratio >= bar
        unit = "tokens/s" if on.target.generates else "requests/s"
        print(f"{'PASS' if ratio >= bar else 'FAIL'}: {label} at concurrency {concurrency}, batching on "
              f"is {ratio:.2f}x off in {unit} (bar on the {'GPU' if gpu else 'CPU'}: >= {bar:g}x)")
        alone = find(runs, label, concurrency, NO_PREFIX_CACHE)
        if alone is not None:
            print(f"      (without the prefix cache, continuous batching alone: {speedup(runs, alone):.2f}x)")
    return passed


def describe(runs: list[Run], gpu: bool) -> str:
    """The device and the requests: the lines above the table."""
    import torch

    from jupyter_automl.serve.runtime import ServingRuntime

    device = torch.cuda.get_device_name() if gpu else f"CPU, {os.cpu_count()} cores"
    lines = [f"device: {device}; batching on: a {ServingRuntime.batch_window_ms.default_value:g} ms window "
             f"for the classifier, at most {ServingRuntime.max_batch_size.default_value} requests a model call "
             "(the LLM: rows generating at once)",
             f"classifier: product reviews of {REVIEW_TOKENS[0]}-{REVIEW_TOKENS[1]} tokens"]
    llm = [r for r in runs if r.target.generates]
    if llm:
        answers = sum(r.requests for r in llm)
        lines.append(f"chat LLM: greedy, max_tokens {NEW_TOKENS}; answers had "
                     f"{sum(r.prompt_tokens for r in llm) / answers:.0f} prompt and "
                     f"{sum(r.completion_tokens for r in llm) / answers:.1f} completion tokens on average")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="classifier requests per run")
    parser.add_argument("--llm-requests", type=int, default=96,
                        help="chat LLM requests per run (an eighth at concurrency 1)")
    parser.add_argument("--skip-llm", action="store_true", help="the classifier alone")
    parser.add_argument("--data-dir", help="an empty or new folder for the store and data "
                        "(default: a temp folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (models, logs)")
    args = parser.parse_args()

    import torch

    if args.data_dir:
        work = Path(args.data_dir).resolve()
        if work.exists() and any(work.iterdir()):
            parser.error(f"--data-dir {work} is not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    gpu = torch.cuda.is_available()
    try:
        store, targets = prepare(work, args)
        with ExitStack() as stack:
            servers = {mode: stack.enter_context(server(store, work, mode))
                       for mode in dict.fromkeys(m for target in targets for m in target.modes)}
            print("servers up: " + ", ".join(f"batching {mode} on port {s.port}" for mode, s in servers.items())
                  + "; measuring", flush=True)
            runs = measure(servers, targets)
        print(f"\n{describe(runs, gpu)}")
        return 0 if report(runs, gpu) else 1
    finally:
        if args.keep or args.data_dir:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
