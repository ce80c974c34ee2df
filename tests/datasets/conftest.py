"""Fixtures for the validation tests: the tiny tokenizers and settings for each model type."""

from __future__ import annotations

import os

import pytest

from jupyter_automl.datasets.validation import ValidationSettings
from jupyter_automl.model_types import ModelType
from tests.tiny_models import tiny_chat_tokenizer, tiny_encoder_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def chat_tokenizer():
    return tiny_chat_tokenizer()


@pytest.fixture(scope="session")
def encoder_tokenizer():
    return tiny_encoder_tokenizer()


@pytest.fixture
def chat_settings(chat_tokenizer):
    def make(**kw) -> ValidationSettings:
        kw.setdefault("model_type", ModelType.LLM_CHAT)
        return ValidationSettings(tokenizer=chat_tokenizer, tokenizer_name="tiny-chat", **kw)

    return make


@pytest.fixture
def text_settings(encoder_tokenizer):
    def make(**kw) -> ValidationSettings:
        return ValidationSettings(
            ModelType.TEXT_CLASSIFICATION, tokenizer=encoder_tokenizer, tokenizer_name="tiny-encoder", **kw
        )

    return make


@pytest.fixture
def image_settings():
    def make(**kw) -> ValidationSettings:
        return ValidationSettings(ModelType.IMAGE_CLASSIFICATION, **kw)

    return make
