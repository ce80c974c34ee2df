"""The registry: built-in base models plus the ones a user adds (in code or in config)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import Conflict, InvalidInput, NotFound
from ..model_types import ModelType
from .builtin import BUILTIN_ENTRIES, DEFAULTS
from .entry import BaseModelEntry


class BaseModelRegistry:
    """Base models by name, in the order they were added (built-ins first).

    >>> registry = BaseModelRegistry.from_config([{"name": "my-llm", "model_types": ["llm_chat"],
    ...     "source": "local", "location": "/models/my-llm"}])
    >>> registry.default_for("llm_chat").name
    'smollm2-135m-instruct'
    """

    def __init__(
        self,
        entries: Iterable[BaseModelEntry] = (),
        *,
        include_builtin: bool = True,
        defaults: Mapping[ModelType | str, str] | None = None,
    ) -> None:
        self._entries: dict[str, BaseModelEntry] = {}
        self._defaults: dict[ModelType, str] = dict(DEFAULTS) if include_builtin else {}
        if include_builtin:
            for entry in BUILTIN_ENTRIES:
                self.add(entry)
        for entry in entries:
            self.add(entry)
        for kind, name in (defaults or {}).items():
            self.set_default(kind, name)

    @classmethod
    def from_config(
        cls, extra: Iterable[Mapping[str, Any]] | None = None, *, include_builtin: bool = True
    ) -> "BaseModelRegistry":
        """Built-in entries plus ``extra``, a list of plain dicts (``c.AutoML.base_models``).

        Each dict holds ``BaseModelEntry`` fields; a bad one raises ``InvalidInput`` naming its
        position and what is wrong, a name already taken raises ``Conflict``.
        """
        registry = cls(include_builtin=include_builtin)
        if extra is None:
            return registry
        if isinstance(extra, (str, bytes, Mapping)) or not isinstance(extra, Iterable):
            raise InvalidInput(
                "base_models must be a list of dicts, one per base model, "
                f"got {type(extra).__name__}"
            )
        for index, data in enumerate(extra):
            try:
                entry = BaseModelEntry.from_dict(data)
            except InvalidInput as error:
                raise InvalidInput(
                    f"base_models[{index}]: {error.message}", details=error.details
                ) from None
            registry.add(entry)
        return registry

    # -- reading ---------------------------------------------------------------------------

    def list(self, model_type: ModelType | str | None = None) -> list[BaseModelEntry]:
        """All entries, or those usable for ``model_type``; the default for it comes first."""
        if model_type is None:
            return list(self._entries.values())
        kind = ModelType.parse(model_type)
        found = [e for e in self._entries.values() if kind in e.model_types]
        default = self._defaults.get(kind)
        return sorted(found, key=lambda e: e.name != default)

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> BaseModelEntry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(self._entries) or "none"
            raise NotFound(f"no base model named {name!r}; known base models: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def default_for(self, model_type: ModelType | str) -> BaseModelEntry:
        """The base model used when none is named: an offline one for the built-in types."""
        kind = ModelType.parse(model_type)
        name = self._defaults.get(kind)
        if name is not None and name in self._entries:
            return self._entries[name]
        candidates = self.list(kind)
        if not candidates:
            raise NotFound(f"no base model is registered for {kind.value}")
        # Prefer one that loads without a network.
        return next((e for e in candidates if not e.needs_internet), candidates[0])

    # -- changing --------------------------------------------------------------------------

    def add(self, entry: BaseModelEntry) -> BaseModelEntry:
        if not isinstance(entry, BaseModelEntry):
            raise InvalidInput(f"expected a BaseModelEntry, got {type(entry).__name__}")
        if entry.name in self._entries:
            raise Conflict(
                f"a base model named {entry.name!r} already exists; choose another name"
            )
        self._entries[entry.name] = entry
        return entry

    def set_default(self, model_type: ModelType | str, name: str) -> None:
        kind = ModelType.parse(model_type)
        entry = self.get(name)
        if kind not in entry.model_types:
            raise InvalidInput(
                f"base model {name!r} is for {', '.join(k.value for k in entry.model_types)}, "
                f"so it cannot be the default for {kind.value}"
            )
        self._defaults[kind] = name
