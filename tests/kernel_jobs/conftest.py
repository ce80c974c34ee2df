"""Jobs with real papermill kernels on tiny models: an AutoML on a fresh store, the tiny chat
data uploaded and frozen, and workers started as threads or as `jupyter automl worker`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from jupyter_automl import AutoML
from tests.data import write_chat_csv

# A tiny run takes about a second per epoch: a job with this many epochs is still training
# when a test cancels it or kills its worker.
LONG_EPOCHS = 400


def chat_snapshot(automl: AutoML, folder: Path) -> str:
    dataset = automl.upload_dataset(write_chat_csv(folder / "chat.csv", rows=120), "llm_chat",
                                    base_model="tiny-llm")
    return automl.create_snapshot(dataset.id).id


@pytest.fixture
def chat_model(make_automl, tmp_path):
    """(automl, model name) for a tiny chat model with a one-epoch default."""
    automl = make_automl()
    automl.create_model("support-bot", chat_snapshot(automl, tmp_path), base_model="tiny-llm",
                        options={"max_epochs": 1, "batch_size": 16})
    return automl


class ThreadWorker:
    """A JobWorker running in a thread of the test process (its jobs run in child processes)."""

    def __init__(self, automl: AutoML, **traits) -> None:
        traits.setdefault("heartbeat_seconds", 0.5)
        traits.setdefault("poll_seconds", 0.2)
        self.worker = automl.worker(**traits)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(timeout=120)
        self.worker.close()


@pytest.fixture
def thread_worker():
    started = []

    def start(automl: AutoML, **traits) -> ThreadWorker:
        worker = ThreadWorker(automl, **traits)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def worker_process(data_dir: Path, store_url: str, *args: str) -> subprocess.Popen:
    """`jupyter automl worker` as its own process, the way a user starts one."""
    env = dict(os.environ, JUPYTER_AUTOML_STORE_URL=store_url)
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_automl.cli", "--data-dir", str(data_dir), "worker",
         "--heartbeat-seconds", "0.5", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float = 120, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
