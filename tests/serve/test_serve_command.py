"""`jupyter automl serve` as its own processes: the task API without JupyterLab, async tasks that
survive a SIGKILL and are answered exactly once after the restart, and the serving CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
from sqlalchemy import select

from jupyter_automl.store import orm
from tests.data import cli_runner


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(port: int, method: str, path: str, key: str | None = None, body: dict | None = None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/automl/api/v2/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Token {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _start(tmp_path: Path, automl, port: int, runtime: dict, *args: str) -> subprocess.Popen:
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_automl_config.json").write_text(json.dumps({"ServingRuntime": runtime}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_AUTOML_STORE_URL=automl.store_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_automl.cli", "--data-dir", str(automl.root), "serve",
         "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _call(port, "GET", "health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(process.stdout.read().decode())


def _wait_tasks(port: int, key: str, ids: list[str], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [_call(port, "GET", f"task/{i}", key)[1] for i in ids]
        if all(t["state"] != "queued" for t in tasks):
            return tasks
        time.sleep(0.3)
    raise AssertionError(f"tasks still queued: {tasks}")


def test_async_tasks_survive_sigkill_and_run_exactly_once(trained, tmp_path):
    automl, register = trained
    register("bot", "llm_chat")
    key = automl.deploy("bot").new_keys[0].key
    port = _free_port()
    first = _start(tmp_path, automl, port, {"task_lease_seconds": 2.0, "sweep_seconds": 0.2})
    # Long sampled generations (near-uniform at temperature 5, so rarely an early end), sent
    # together: one batch that is still generating when the process is killed.
    body = {"options": {"max_tokens": 512, "temperature": 5.0, "seed": 3}}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: _call(port, "POST", "task/async", key,
                                                {**body, "text_data": f"question {i}"}), range(20)))
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert [code for code, _ in answers] == [202] * 20
    ids = [task["id"] for _, task in answers]
    with automl.store.session() as session:
        pending = {t.id for t in session.scalars(select(orm.Task).where(orm.Task.id.in_(ids))).all()
                   if t.status == "queued"}
    assert pending, "every task finished before the kill; the test proves nothing"

    second = _start(tmp_path, automl, port, {"task_lease_seconds": 2.0, "sweep_seconds": 0.2},
                    "--processes", "2")
    try:
        tasks = _wait_tasks(port, key, ids, timeout=400)
        assert [t["state"] for t in tasks] == ["succeeded"] * 20
        assert [t["status"][0]["response"]["input"]["text_data"] for t in tasks] == [
            f"question {i}" for i in range(20)]
        with automl.store.session() as session:
            rows = session.scalars(select(orm.Task).where(orm.Task.kind == "async")).all()
            assert len(rows) == 20 and all(r.claimed_by is None for r in rows)
            assert {r.id for r in rows if r.attempts == 2} == pending
            assert all(r.attempts == 1 for r in rows if r.id not in pending)
        assert automl.get_deployment("bot-v1").requests == 20  # each answered once
        code, task = _call(port, "POST", "task/sync", key, {"text_data": "after the restart",
                                                            "options": {"max_tokens": 4}})
        assert code == 200 and task["state"] == "succeeded"
        # The OpenAI-compatible API is served too (streamed here).
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/automl/v1", api_key=key, max_retries=0)
        with client.chat.completions.create(model="bot-v1", messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=4, stream=True) as chunks:
            finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finished in (["length"], ["stop"])
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)


def test_serving_commands(trained, tmp_path, monkeypatch, capsys, tiny_base_models):
    automl, register = trained
    register("reviews")
    run = cli_runner(tmp_path, monkeypatch, capsys, {"AutoML": {"base_models": tiny_base_models}})
    store = ["--store-url", automl.store_url, "--data-dir", str(automl.root)]
    code, out, _ = run(*store, "deploy", "reviews", "--name", "shop")
    assert code == 0 and "deployment shop" in out and "complete" in out
    keys = [line.split(": ")[1] for line in out.splitlines() if line.strip().startswith("slot ")]
    assert len(keys) == 2 and all(k.startswith("jam_") for k in keys)
    code, out, _ = run(*store, "deployments", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "shop"
    code, out, _ = run(*store, "predict", "shop", "--text", "Fast delivery, thanks")
    assert code == 0 and "sentiment:" in out and "topic:" in out
    code, _, err = run(*store, "predict", "shop", "--text", "x", "--options", "{bad")
    assert code == 2 and "--options is not JSON" in err
    code, out, _ = run(*store, "keys", "rotate", "shop", "--slot", "1")
    assert code == 0 and "new key in slot 1" in out
    automl.serving.forget_keys()
    code, out, _ = run(*store, "deployments", "show", "shop")
    assert "key slot 1" in out and "revoked" in out and "active" in out
    code, out, _ = run(*store, "undeploy", "shop")
    assert code == 0 and "undeployed" in out
    code, _, err = run(*store, "predict", "shop", "--text", "x")
    assert code == 1 and "undeployed" in err
    code, out, _ = run(*store, "playground", "reviews", "--text", "Great tent")
    assert code == 0 and "499 of 500 requests left" in out


def test_the_serve_command_deletes_what_cut_off_uploads_left_in_staging(make_automl, tmp_path):
    automl = make_automl()
    left, going = automl.staging / "batch-left", automl.staging / "batch-going"
    for folder, hours in ((left, 48), (going, 0)):  # the default age is 24 hours
        folder.mkdir()
        (folder / "inputs.csv").write_text("text_data\n")
        stamp = time.time() - hours * 3600
        os.utime(folder / "inputs.csv", (stamp, stamp))
        os.utime(folder, (stamp, stamp))
    process = _start(tmp_path, automl, _free_port(), {})
    try:
        deadline = time.monotonic() + 30
        while left.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left.exists() and (going / "inputs.csv").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
