"""The base-model registry: which pretrained models training starts from, and how they load.

Built-in defaults load offline from PyPI packages (SmolLM2-135M-Instruct for LLMs,
all-MiniLM-L6-v2 for text classification, EfficientNet-Lite0 for images). Hub entries need
internet on first use. Users add their own with ``c.AutoML.base_models = [{...}]``.
"""

from __future__ import annotations

from .builtin import BUILTIN_ENTRIES, DEFAULTS
from .entry import SOURCES, TRAINING_METHODS, BaseModelEntry
from .loading import (
    ImageBackbone,
    clear_cache,
    converted_dir,
    default_cache_dir,
    ensure_converted,
    is_available,
    load_causal_lm,
    load_image_backbone,
    load_sequence_classifier,
    load_text_encoder,
    load_tokenizer,
    package_file,
    resolve_path,
    source_path,
)
from .registry import BaseModelRegistry

__all__ = [
    "BUILTIN_ENTRIES",
    "DEFAULTS",
    "SOURCES",
    "TRAINING_METHODS",
    "BaseModelEntry",
    "BaseModelRegistry",
    "ImageBackbone",
    "clear_cache",
    "converted_dir",
    "default_cache_dir",
    "ensure_converted",
    "is_available",
    "load_causal_lm",
    "load_image_backbone",
    "load_sequence_classifier",
    "load_text_encoder",
    "load_tokenizer",
    "package_file",
    "resolve_path",
    "source_path",
]
