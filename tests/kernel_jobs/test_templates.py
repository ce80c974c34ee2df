"""The training templates: shipped, in sync with their generator, and runnable with plain
papermill and no server, for every model type."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from jupyter_automl.datasets.snapshots import freeze
from jupyter_automl.model_types import ModelType
from jupyter_automl.notebooks import TEMPLATES_DIR, template_for
from tests.data import write_colour_images, write_reviews_csv
from tests.kernel_jobs.test_jobs import _outputs

ROOT = Path(__file__).resolve().parents[2]


def _parameters(path: Path) -> set[str]:
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged `parameters`"
    names = set()
    for line in tagged[0].source.splitlines():
        if "=" in line and not line.startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    return names


def test_the_shipped_templates_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_templates", ROOT / "scripts" / "make_templates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    assert set(rendered) == {p.name for p in TEMPLATES_DIR.glob("*.ipynb")}
    for name, text in rendered.items():
        assert (TEMPLATES_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python scripts/make_templates.py"
        )
    assert (ROOT / "notebooks" / "templates").resolve() == TEMPLATES_DIR.resolve()


def test_every_model_type_has_a_template_taking_what_the_job_system_passes():
    passed = {"model_name", "snapshot", "test_snapshot", "test_percent", "base_model", "options",
              "output_dir", "progress_file", "resume"}
    for kind in ModelType:
        names = _parameters(template_for(kind))
        assert passed <= names, f"{kind.value}: missing {passed - names}"
        assert {"store_url", "data_dir"} <= names


def _papermill(template: Path, out: Path, cwd: Path, **parameters) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(template), str(out), "--no-progress-bar"]
    for key, value in parameters.items():
        args += ["-p", key, str(value)]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JUPYTER_AUTOML_STORE_URL": ""})


@pytest.mark.slow
def test_papermill_trains_a_text_classifier_from_a_snapshot_id_without_a_server(
    tmp_path, tiny_base_models
):
    from jupyter_automl import AutoML

    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    automl = AutoML(data_dir=str(tmp_path / "data"), store_url=store_url, base_models=tiny_base_models)
    dataset = automl.upload_dataset(write_reviews_csv(tmp_path / "reviews.csv"), "text_classification",
                                    base_model="tiny-encoder")
    snapshot = automl.create_snapshot(dataset.id)
    automl.close()
    encoder = next(c for c in tiny_base_models if c["name"] == "tiny-encoder")

    done = _papermill(
        template_for("text_classification"), tmp_path / "out.ipynb", tmp_path,
        snapshot=snapshot.id, data_dir=tmp_path / "data", store_url=store_url,
        base_model=encoder["location"], output_dir=tmp_path / "version",
        options=json.dumps({"max_epochs": 2, "selection_rule": "f1", "selection_label": "topic"}),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "version" / "metrics.json").read_text())
    assert metrics["selection"]["rule"] == "f1" and metrics["selection"]["label"] == "topic"
    report = _outputs(str(tmp_path / "out.ipynb"))
    assert "Test metrics of the chosen epoch" in report and "balanced_accuracy" in report
    topic_f1 = metrics["test"]["heads"]["topic"]["macro_f1"]
    assert f"{topic_f1:.6f}"[:6] in report  # the table shows the numbers in metrics.json
    assert (tmp_path / "version" / "plots" / "confusion_topic.png").is_file()


@pytest.mark.slow
def test_papermill_trains_an_image_classifier_from_a_snapshot_folder(tmp_path, tiny_base_models):
    images = tmp_path / "images.zip"
    records = write_colour_images(images, 60)
    snapshot = freeze(pd.DataFrame(records), model_type=ModelType.IMAGE_CLASSIFICATION,
                      root=tmp_path / "snapshots", images_zip=images)
    vit = next(c for c in tiny_base_models if c["name"] == "tiny-vit")

    done = _papermill(
        template_for("image_classification"), tmp_path / "out.ipynb", tmp_path,
        snapshot=snapshot.path, base_model=json.dumps(vit), output_dir=tmp_path / "version",
        options=json.dumps({"max_epochs": 1, "method": "full", "batch_size": 8}), test_percent=25,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "version" / "metrics.json").read_text())
    rows = metrics["data"]["rows"]
    assert sum(rows.values()) == 60 and abs(rows["test"] - 15) <= 1  # 25%, stratified per class
    report = _outputs(str(tmp_path / "out.ipynb"))
    assert "colour" in report and "Chosen:" in report


@pytest.mark.slow
def test_a_bad_parameter_fails_the_setup_cell_with_what_is_wrong(tmp_path, tiny_base_models):
    done = _papermill(
        template_for("llm_chat"), tmp_path / "out.ipynb", tmp_path,
        snapshot=tmp_path / "no-such-snapshot", output_dir=tmp_path / "version",
        data_dir=tmp_path / "data",
    )
    assert done.returncode != 0
    report = _outputs(str(tmp_path / "out.ipynb"))
    assert "NotFound" in report and "neither a snapshot folder nor a snapshot id" in report
    assert not (tmp_path / "version").exists()


def test_the_report_refuses_bad_parameters_before_training(tmp_path, tiny_base_models):
    from jupyter_automl.errors import InvalidInput
    from jupyter_automl.reports import TrainingReport
    from tests.training.conftest import llm_rows

    with pytest.raises(InvalidInput, match="`snapshot` parameter is empty"):
        TrainingReport(snapshot="", output_dir=str(tmp_path / "v"))
    snapshot = freeze(llm_rows(), model_type=ModelType.LLM_CHAT, root=tmp_path / "s").path
    llm = json.dumps(next(c for c in tiny_base_models if c["name"] == "tiny-llm"))
    with pytest.raises(InvalidInput, match="`options` parameter is not JSON"):
        TrainingReport(snapshot=str(snapshot), base_model=llm, options="{max_epochs: 2",
                       output_dir=str(tmp_path / "v"))
    with pytest.raises(InvalidInput, match="train\\(\\) has not run yet"):
        TrainingReport(snapshot=str(snapshot), base_model=llm, output_dir=str(tmp_path / "v")).epochs()


@pytest.mark.slow
def test_papermill_scores_a_file_with_a_deployment_and_saves_results_in_input_order(trained, tmp_path):
    automl, register = trained
    register("reviews")
    automl.deploy("reviews", name="shop")
    inputs = tmp_path / "in.csv"
    inputs.write_text("text_data\n" + "".join(f"order {i} arrived broken\n" for i in range(25)), encoding="utf-8")
    done = _papermill(
        TEMPLATES_DIR / "batch_predict.ipynb", tmp_path / "out.ipynb", tmp_path, deployment="shop",
        input_file=inputs, output_file=tmp_path / "scored.csv", options=json.dumps({"top_k": 1}),
        data_dir=automl.root, store_url=automl.store_url,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scored = pd.read_csv(tmp_path / "scored.csv", dtype=str, keep_default_na=False)
    assert list(scored["row"].astype(int)) == list(range(2, 27))
    assert list(scored["text_data"]) == [f"order {i} arrived broken" for i in range(25)]
    assert set(scored["status"]) == {"succeeded"} and "sentiment" in scored.columns
    report = _outputs(str(tmp_path / "out.ipynb"))
    assert "25 rows" in report and "25 succeeded, 0 failed" in report
    assert [b.rows for b in automl.list_batches("shop")] == [25]


@pytest.mark.slow
def test_papermill_trains_on_two_processes_and_the_report_shows_their_progress(tmp_path, tiny_base_models):
    from tests.training.conftest import llm_rows

    snapshot = freeze(llm_rows(history=True), model_type=ModelType.LLM_CHAT, root=tmp_path / "s").path
    llm = next(c for c in tiny_base_models if c["name"] == "tiny-llm")
    done = _papermill(
        template_for("llm_chat"), tmp_path / "out.ipynb", tmp_path,
        snapshot=snapshot, base_model=json.dumps(llm), output_dir=tmp_path / "version",
        options=json.dumps({"max_epochs": 2, "batch_size": 4}), processes=2,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "version" / "metrics.json").read_text())
    assert metrics["processes"] == 2
    report = _outputs(str(tmp_path / "out.ipynb"))
    # Rank 0's progress and evaluations, replayed in the kernel: the bar, the data, the choice.
    widgets = nbformat.read(tmp_path / "out.ipynb", as_version=4).metadata["widgets"]
    bars = [w["state"] for w in widgets["application/vnd.jupyter.widget-state+json"]["state"].values()
            if w["model_name"] == "FloatProgressModel"]
    assert [(b["value"], b["max"]) for b in bars] == [(metrics["steps"], metrics["steps"])]
    assert "Rows used:** 108 training, 12 validation" in report
    assert f"Trained on** 2 x CPU (float32): {metrics['steps']} steps" in report
    assert "Chosen:" in report and "lowest validation loss" in report
