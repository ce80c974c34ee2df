"""The main job on embedded defaults: every shipped example validates and freezes (real base models)."""

from __future__ import annotations

import pytest

from jupyter_automl import AutoML
from jupyter_automl.demo import run_demo
from jupyter_automl.model_types import ModelType

pytestmark = pytest.mark.slow


def test_demo_freezes_every_example_and_running_it_again_adds_no_snapshot(tmp_path, capsys):
    automl = AutoML(data_dir=str(tmp_path / "data"), store_url=f"sqlite:///{tmp_path / 's.db'}")
    assert run_demo(automl) == 0
    out = capsys.readouterr().out
    examples = [s for s in automl.list_snapshots() if s.is_example]
    assert sorted(s.model_type for s in examples) == sorted(t.value for t in ModelType)
    assert all(s.rows >= 100 for s in examples)
    assert len(automl.list_snapshots()) == 12  # 4 examples, each with a train and a test part
    for kind in ModelType:
        assert f"{kind.value}, " in out and "-> usable" in out

    assert run_demo(automl) == 0
    assert len(automl.list_snapshots()) == 12
    assert len(automl.list_datasets()) == 8
    automl.close()
