"""The training templates: parameterized notebooks that papermill runs, one per kind of model.

They live in ``notebooks/templates/`` in the package (the repository's top-level
``notebooks/`` points here), so ``papermill <template> out.ipynb -p ...`` works from a
checkout and from an installed wheel alike.
"""

from __future__ import annotations

from pathlib import Path

from ..model_types import ModelType

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAMES = {
    ModelType.LLM_TEXT: "train_llm.ipynb",
    ModelType.LLM_CHAT: "train_llm.ipynb",
    ModelType.TEXT_CLASSIFICATION: "train_text_classification.ipynb",
    ModelType.IMAGE_CLASSIFICATION: "train_image_classification.ipynb",
}


def template_for(model_type: str | ModelType) -> Path:
    """The shipped template that trains models of this type."""
    return TEMPLATES_DIR / TEMPLATE_NAMES[ModelType.parse(model_type)]
