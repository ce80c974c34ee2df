from __future__ import annotations

import pandas as pd
import pytest
import torch

from jupyter_automl.base_models.entry import BaseModelEntry
from jupyter_automl.datasets.snapshots import freeze
from jupyter_automl.model_types import ModelType


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread, and a busy machine does not stall them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_llm(tiny_base_models):
    return BaseModelEntry.from_dict(next(c for c in tiny_base_models if c["name"] == "tiny-llm"))


@pytest.fixture(scope="session")
def tiny_llm_tokenizer(tiny_llm):
    from jupyter_automl.base_models.loading import load_tokenizer

    return load_tokenizer(tiny_llm)


def llm_rows(n: int = 150, *, history: bool = False) -> pd.DataFrame:
    """A learnable task: the answer follows from the prompt; some rows have a system prompt."""
    rows = []
    for i in range(n):
        turns = ""
        roles = ""
        if history and i % 3 == 0:
            turns = '[{"role": "customer", "content": "hello"}, {"role": "agent", "content": "hi"}]'
            roles = '{"user": "customer", "model": "agent"}'
        rows.append({
            "row": i + 2, "prompt": f"What is {i % 5} plus one?", "completion": f"It is {i % 5 + 1}.",
            "system_prompt": "Answer briefly." if i % 2 else "", "prompt_history": turns, "roles": roles,
            "tokens": 0,
        })
    return pd.DataFrame(rows)


@pytest.fixture
def chat_snapshot(tmp_path):
    return freeze(llm_rows(history=True), model_type=ModelType.LLM_CHAT, root=tmp_path / "snapshots").path


@pytest.fixture
def text_snapshot(tmp_path):
    return freeze(llm_rows(), model_type=ModelType.LLM_TEXT, root=tmp_path / "snapshots").path
