"""The main job on embedded defaults: every shipped example validates and freezes (real base
models), and the demo models train end to end through jobs (tiny base models here)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jupyter_automl import AutoML
from jupyter_automl.demo import DEMO_MODELS, run_demo, train_demo_models
from jupyter_automl.model_types import ModelType

pytestmark = pytest.mark.slow


def test_demo_freezes_every_example_and_running_it_again_adds_no_snapshot(tmp_path, capsys):
    automl = AutoML(data_dir=str(tmp_path / "data"), store_url=f"sqlite:///{tmp_path / 's.db'}")
    assert run_demo(automl, train=False) == 0
    out = capsys.readouterr().out
    examples = [s for s in automl.list_snapshots() if s.is_example]
    assert sorted(s.model_type for s in examples) == sorted(t.value for t in ModelType)
    assert all(s.rows >= 100 for s in examples)
    assert len(automl.list_snapshots()) == 12  # 4 examples, each with a train and a test part
    for kind in ModelType:
        assert f"{kind.value}, " in out and "-> usable" in out

    assert run_demo(automl, train=False) == 0
    assert len(automl.list_snapshots()) == 12
    assert len(automl.list_datasets()) == 8
    automl.close()


def test_demo_trains_both_models_through_jobs_and_says_where_the_reports_are(
    tmp_path, tiny_base_models, capsys
):
    automl = AutoML(data_dir=str(tmp_path / "data"), store_url=f"sqlite:///{tmp_path / 's.db'}",
                    base_models=tiny_base_models, spawned_worker_idle_seconds=2)
    tiny = {ModelType.LLM_CHAT: "tiny-llm", ModelType.TEXT_CLASSIFICATION: "tiny-encoder"}
    models = [replace(m, base_model=tiny[m.model_type], sample_rows=200,
                      options={**m.options, "max_steps": 4}) for m in DEMO_MODELS]
    assert train_demo_models(automl, models, timeout=600) == 0
    out = capsys.readouterr().out
    assert "demo-support-chat v1: succeeded" in out and "demo-review-classifier v1: succeeded" in out
    assert "loss            base" in out and "-> tuned" in out
    assert "head 'sentiment': balanced accuracy" in out
    for model in ("demo-support-chat", "demo-review-classifier"):
        version = automl.get_version(model)
        assert f"executed notebook: {version.notebook_path}" in out
    automl.close()


def test_demo_deploys_asks_sync_and_async_with_the_key_and_undeploys(trained, capsys):
    from jupyter_automl.demo import DemoModel, serve_demo_models

    automl, register = trained
    register("demo-review-classifier")
    register("demo-support-chat", "llm_chat")
    models = [DemoModel("demo-support-chat", ModelType.LLM_CHAT, 0),
              DemoModel("demo-review-classifier", ModelType.TEXT_CLASSIFICATION, 0)]
    assert serve_demo_models(automl, models) == 0
    out = capsys.readouterr().out
    assert out.count("API key (slot 1, shown once): jam_") == 2
    assert "demo-review-classifier-v1: POST /task/sync" in out and "-> 200" in out
    assert "head" not in out or "sentiment:" in out
    assert out.count("-> succeeded") == 2 and "completion tokens" in out
    assert [d.status for d in automl.list_deployments()] == ["undeployed", "undeployed"]
    assert all(d.requests == 2 for d in automl.list_deployments())
