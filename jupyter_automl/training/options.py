"""Training options (DESIGN §5): one typed, documented model, its defaults and its checks.

``TrainingOptions`` is what a user writes (every field optional); :func:`resolve_options`
fills the defaults that depend on the model type, the base model and the snapshot, and
checks the rules that need them (``selection_label`` must be a head of the snapshot,
``early_stopping`` at most ``max_epochs``...). Forms read the ranges from the JSON Schema
(``TrainingOptions.model_json_schema()``) instead of repeating them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..base_models.entry import MAX_TOKENS_LIMIT, BaseModelEntry
from ..errors import InvalidInput
from ..model_types import ModelType

Method = Literal["last_layer", "lora", "full"]
SelectionRule = Literal["balanced_accuracy", "f1", "loss"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Batching = Literal["grouped", "packed"]

CLASSIFICATION_RULES = ("balanced_accuracy", "f1", "loss")
LLM_RULES = ("loss",)


class TrainingOptions(BaseModel):
    """What a user may set for one training run. ``None`` means "the default for this model"."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Method | None = Field(
        None,
        description="last_layer: train the heads only; lora: low-rank adapters (peft); "
        "full: every weight. Default: lora for LLMs, full for text, last_layer for images.",
    )
    max_epochs: int | None = Field(
        None, ge=1, le=1000, description="Epochs at most (default: the base model's)."
    )
    selection_rule: SelectionRule | None = Field(
        None,
        description="Which evaluation becomes the model: balanced_accuracy or f1 on "
        "selection_label (classification), loss (LLMs; also allowed for classification).",
    )
    selection_label: str | None = Field(
        None, description="The head the selection metric is computed on (default: the first)."
    )
    early_stopping: int | None = Field(
        None,
        ge=1,
        description="Stop after this many evaluations without improvement (1..max_epochs); "
        "None trains all epochs.",
    )
    max_invalid_row_percent: int = Field(
        5, ge=1, le=100, description="Invalid rows allowed (percent) before training fails."
    )
    max_tokens: int | None = Field(
        None,
        ge=0,
        le=MAX_TOKENS_LIMIT,
        description="Longest prompt + completion in tokens (LLMs); longer rows are left out "
        "and counted as invalid. 0: only the model's context length limits rows. Default: "
        "the base model's (2048).",
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Evaluate every N optimizer steps instead of every epoch."
    )
    validation_percent: int = Field(
        10,
        ge=0,
        le=50,
        description="Share of the training rows held out to pick the epoch and stop early; "
        "the test data stays untouched until the chosen model is scored. 0 picks on the test "
        "data itself (optimistic).",
    )
    learning_rate: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=4096)
    max_batch_tokens: int | None = Field(
        None, ge=16, le=1_048_576, description="LLMs: cap on the tokens in one batch."
    )
    batching: Batching = Field(
        "grouped",
        description="LLMs: grouped = rows of similar length per batch (little padding); "
        "packed = rows concatenated without padding, attention kept within each row.",
    )
    gradient_accumulation: int = Field(1, ge=1, le=1024)
    weight_decay: float = Field(0.0, ge=0, le=1)
    warmup_ratio: float = Field(0.05, ge=0, le=0.5)
    lora_r: int = Field(16, ge=1, le=512)
    lora_alpha: int = Field(32, ge=1, le=4096)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: str | list[str] = Field(
        "all-linear", description="Module names for LoRA adapters, or 'all-linear'."
    )
    augment: bool = Field(True, description="Images: random crops, flips and colour jitter.")
    seed: int = Field(42, ge=0, le=2**32 - 1)
    precision: Precision = Field("auto", description="auto: bf16 on a GPU that has it, else fp32.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (smoke runs, benchmarks)."
    )

    @field_validator("lora_targets")
    @classmethod
    def _targets(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("give module names or 'all-linear'")
            return value.strip()
        if not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError("give a non-empty list of module names, or 'all-linear'")
        return [v.strip() for v in value]


class ResolvedOptions(TrainingOptions):
    """Options with every default filled for one model type, base model and snapshot."""

    method: Method
    max_epochs: int
    selection_rule: SelectionRule
    learning_rate: float
    batch_size: int
    model_type: ModelType
    base_model: str
    heads: list[str] = Field(default_factory=list)


def parse_options(options: TrainingOptions | Mapping[str, Any] | None) -> TrainingOptions:
    """Options from a dict (JSON, a form, papermill) with errors that name the option."""
    if options is None:
        return TrainingOptions()
    if isinstance(options, TrainingOptions):
        return options
    if not isinstance(options, Mapping):
        raise InvalidInput(f"training options must be a JSON object, got {type(options).__name__}")
    try:
        return TrainingOptions.model_validate(dict(options))
    except ValidationError as error:
        raise InvalidInput(
            "invalid training options: " + "; ".join(_describe(e) for e in error.errors()),
            details=[_describe(e) for e in error.errors()],
        ) from None


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "options"
    if error.get("type") == "extra_forbidden":
        known = ", ".join(TrainingOptions.model_fields)
        return f"{where}: unknown option (known: {known})"
    return f"{where}: {error.get('msg')} (got {error.get('input')!r})"


def default_method(model_type: ModelType, base_model: BaseModelEntry) -> str:
    """lora for LLMs, full for text, last_layer for images; the base model's first method
    where it cannot train that way."""
    if model_type.is_llm:
        method = "lora"
    else:
        method = "full" if model_type is ModelType.TEXT_CLASSIFICATION else "last_layer"
    return method if method in base_model.training_methods else base_model.training_methods[0]


def _rules(model_type: ModelType) -> tuple[str, ...]:
    return LLM_RULES if model_type.is_llm else CLASSIFICATION_RULES


def _default_learning_rate(model_type: ModelType, method: str) -> float:
    if method == "lora":
        return 2e-4 if model_type.is_llm else 5e-4
    if method == "last_layer":
        return 1e-3
    return 2e-5 if model_type.is_llm else 5e-5


def _default_batch_size(model_type: ModelType) -> int:
    return {ModelType.TEXT_CLASSIFICATION: 32, ModelType.IMAGE_CLASSIFICATION: 16}.get(model_type, 8)


def resolve_options(
    options: TrainingOptions | Mapping[str, Any] | None,
    *,
    model_type: ModelType | str,
    base_model: BaseModelEntry,
    heads: Sequence[str] = (),
) -> ResolvedOptions:
    """Fill the defaults and check the rules that depend on the model, base model and data."""
    given = parse_options(options)
    kind = ModelType.parse(model_type)
    if kind not in base_model.model_types:
        have = ", ".join(k.value for k in base_model.model_types)
        raise InvalidInput(f"base model {base_model.name!r} is for {have}, not {kind.value}")
    values = given.model_dump()
    method = values["method"] or default_method(kind, base_model)
    if method not in base_model.training_methods:
        raise InvalidInput(
            f"method: base model {base_model.name!r} trains with "
            f"{', '.join(base_model.training_methods)}, not {method!r}"
        )
    values["method"] = method
    values["max_epochs"] = values["max_epochs"] or base_model.default_max_epochs
    rules = _rules(kind)
    rule = values["selection_rule"] or rules[0]
    if rule not in rules:
        raise InvalidInput(
            f"selection_rule: {rule!r} is not available for {kind.value}; choose {', '.join(rules)}"
        )
    values["selection_rule"] = rule
    heads = list(heads)
    if kind.is_llm:
        if values["selection_label"] is not None:
            raise InvalidInput("selection_label: LLMs have no heads; leave it empty")
        if values["max_tokens"] is None:
            values["max_tokens"] = base_model.default_max_tokens or 2048
    else:
        if not heads:
            raise InvalidInput("the training snapshot has no label heads")
        label = values["selection_label"]
        if label is None:
            values["selection_label"] = heads[0]
        elif label not in heads:
            raise InvalidInput(
                f"selection_label: {label!r} is not a head of the training snapshot "
                f"(heads: {', '.join(heads)})"
            )
    stop = values["early_stopping"]
    if stop is not None and stop > values["max_epochs"]:
        raise InvalidInput(
            f"early_stopping: must be between 1 and max_epochs ({values['max_epochs']}), got {stop}"
        )
    values["learning_rate"] = values["learning_rate"] or _default_learning_rate(kind, method)
    values["batch_size"] = values["batch_size"] or _default_batch_size(kind)
    return ResolvedOptions(**values, model_type=kind, base_model=base_model.name, heads=heads)


# Options that mean nothing for some model types, or without LoRA: a form leaves them out.
_ONLY_FOR = {
    "selection_label": lambda kind: kind.is_classification,
    "augment": lambda kind: kind is ModelType.IMAGE_CLASSIFICATION,
    "max_tokens": lambda kind: kind.is_llm,
    "max_batch_tokens": lambda kind: kind.is_llm,
    "batching": lambda kind: kind.is_llm,
}
_LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets")


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A ``X | None`` property as plain ``X`` (its title and description kept)."""
    choices = [c for c in prop.get("anyOf", []) if c.get("type") != "null"]
    if len(choices) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**choices[0], **rest}


def options_schema(
    model_type: ModelType | str,
    base_model: BaseModelEntry,
    heads: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The JSON Schema of :class:`TrainingOptions` as a form for one model type and base model
    shows it: only the options that apply, the choices allowed (the base model's methods, the
    type's selection rules, the snapshot's ``heads`` when known), and the defaults that
    :func:`resolve_options` would fill in. The learning rate stays empty by default, as its
    default follows the method chosen; rules between options (``early_stopping`` at most
    ``max_epochs``) are checked when the options are used."""
    kind = ModelType.parse(model_type)
    schema = TrainingOptions.model_json_schema()
    props: dict[str, Any] = schema["properties"]
    for name, applies in _ONLY_FOR.items():
        if not applies(kind):
            props.pop(name)
    if "lora" not in base_model.training_methods:
        for name in _LORA:
            props.pop(name)
    method = default_method(kind, base_model)
    choices = {
        "method": list(base_model.training_methods),
        "selection_rule": list(_rules(kind)),
        "selection_label": list(heads or []) or None,
    }
    for name, allowed in choices.items():
        if name in props and allowed:
            props[name] = {**_not_null(props[name]), "enum": allowed, "default": allowed[0]}
    defaults = {
        "method": method,
        "max_epochs": base_model.default_max_epochs,
        "batch_size": _default_batch_size(kind),
        "max_tokens": base_model.default_max_tokens or 2048,
    }
    for name, value in defaults.items():
        if name in props:
            props[name] = {**_not_null(props[name]), "default": value}
    rates = ", ".join(f"{_default_learning_rate(kind, m)} with {m}" for m in base_model.training_methods)
    props["learning_rate"]["description"] = f"Empty: the method's default ({rates})."
    schema["title"] = f"Training options: {kind.value} on {base_model.name}"
    return schema
