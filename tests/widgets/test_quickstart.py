"""notebooks/quickstart.ipynb runs top to bottom under papermill with tiny base models: every
widget against a real store, real training jobs in a worker the notebook starts, a deployment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_automl import AutoML

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "jupyter_automl" / "notebooks" / "quickstart.ipynb"

pytestmark = pytest.mark.timeout(600)


def test_the_shipped_quickstart_is_what_the_script_writes():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_quickstart import render
    finally:
        sys.path.pop(0)
    assert QUICKSTART.read_text(encoding="utf-8") == render(), "run scripts/make_quickstart.py"


def run_quickstart(tmp_path: Path, tiny_base_models: list[dict]) -> tuple[Path, Path, str]:
    """Execute the quickstart with tiny models; return the executed notebook, the data folder
    and the store URL."""
    data_dir, store_url = tmp_path / "data", f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "quickstart-executed.ipynb"
    parameters = {
        "data_dir": str(data_dir), "store_url": store_url,
        "base_models": json.dumps(tiny_base_models), "text_base_model": "tiny-encoder",
        "chat_base_model": "tiny-llm", "text_rows": 240, "chat_rows": 150, "max_epochs": 1,
        "chat_steps": 4,
    }
    args = [sys.executable, "-m", "papermill", str(QUICKSTART), str(out), "--no-progress-bar",
            "--cwd", str(tmp_path)]
    for name, value in parameters.items():
        args += ["-p", name, str(value)] if isinstance(value, str) else ["-y", f"{name}: {value}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=540, env=env)
    finally:
        pid_file = data_dir / "logs" / "worker.pid"  # the worker the notebook started
        if pid_file.is_file():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    assert done.returncode == 0, done.stderr[-6000:]
    return out, data_dir, store_url


def test_quickstart_executes_top_to_bottom(tmp_path, tiny_base_models):
    out, data_dir, store_url = run_quickstart(tmp_path, tiny_base_models)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors == []
    widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                  for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert widgets >= 10  # forms, job views, dashboards, the try-it box and the chat

    automl = AutoML(data_dir=str(data_dir), store_url=store_url, spawn_worker=False)
    try:
        assert {m.name for m in automl.list_models()} == {"reviews", "support-bot"}
        reviews = automl.get_model("reviews")
        assert [(v.version, v.status) for v in reviews.versions] == [(1, "trained"), (2, "trained")]
        assert reviews.versions[1].options["max_epochs"] == 2
        assert automl.get_version("support-bot", 1).metrics["comparison"]["loss"]["change"] is not None
        datasets = {d.name: d for d in automl.list_datasets()}
        assert datasets["reviews"].valid and not datasets["broken"].valid
        assert automl.playground_usage("reviews", 1).requests == 1  # try-it, before deploying
        assert automl.playground_usage("support-bot", 1).requests == 2  # two chat turns
        [deployment] = automl.list_deployments()
        assert deployment.status == "undeployed" and deployment.requests == 1
        # The link the job view gave opens the executed training notebook (relative to the
        # notebook's folder, which here holds the data folder too).
        [link] = [o["data"]["text/plain"] for c in executed.cells if "open_report()" in c.source
                  for o in c.outputs if o.output_type == "execute_result"]
        notebook = nbformat.read(tmp_path / link.split("'")[1], as_version=4)
        assert notebook.metadata["papermill"]["parameters"]["model_name"] == "reviews v1"
    finally:
        automl.close()


def test_the_quickstart_and_the_upload_script_ship_in_the_wheel():
    from hatchling.builders.wheel import WheelBuilder

    files = {f.distribution_path for f in WheelBuilder(str(REPO)).recurse_included_files()}
    assert "jupyter_automl/notebooks/quickstart.ipynb" in files
    assert "jupyter_automl/widgets/chunked_upload.js" in files
