"""The four kinds of model jupyter-automl trains."""

from __future__ import annotations

from enum import Enum


class ModelType(str, Enum):
    TEXT_CLASSIFICATION = "text_classification"
    IMAGE_CLASSIFICATION = "image_classification"
    LLM_TEXT = "llm_text"
    LLM_CHAT = "llm_chat"

    @property
    def is_llm(self) -> bool:
        return self in (ModelType.LLM_TEXT, ModelType.LLM_CHAT)

    @property
    def is_classification(self) -> bool:
        return not self.is_llm

    @classmethod
    def parse(cls, value: "str | ModelType") -> "ModelType":
        """Accept an enum member or its string value, with an error that lists the choices."""
        from .errors import InvalidInput

        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise InvalidInput(f"unknown model type {value!r}; choose one of: {choices}") from None
