"""Tiny models built from a config, once per session, registered as local base models."""

from __future__ import annotations

import os

import pytest

from jupyter_automl.base_models import BaseModelRegistry, clear_cache
from jupyter_automl.base_models.tiny import tiny_base_model_configs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_configs(tmp_path_factory):
    return tiny_base_model_configs(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def registry(tiny_configs):
    clear_cache()
    yield BaseModelRegistry.from_config(tiny_configs)
    clear_cache()
