"""What every part of the public API shares: the store, the data folder, the base models."""

from __future__ import annotations

from pathlib import Path

from ..base_models import BaseModelEntry, BaseModelRegistry
from ..errors import InvalidInput
from ..model_types import ModelType
from ..store import Store


class APIPart:
    """A slice of :class:`~jupyter_automl.api.AutoML`; AutoML sets these attributes and traits."""

    root: Path
    store: Store
    registry: BaseModelRegistry
    model_cache_dir: str
    max_upload_bytes: int
    allow_downloads: bool
    max_image_pixels: int

    def _base_model(self, model_type: ModelType, name: str | None) -> BaseModelEntry:
        """A registered base model (the type's default when ``name`` is empty) fit for the type."""
        entry = self.registry.get(name) if name else self.registry.default_for(model_type)
        if model_type not in entry.model_types:
            kinds = ", ".join(t.value for t in entry.model_types)
            raise InvalidInput(
                f"base model {entry.name!r} is for {kinds}, not {model_type.value}; "
                f"see `jupyter automl base-models list --type {model_type.value}`"
            )
        return entry

    @property
    def cache_dir(self) -> Path | None:
        return Path(self.model_cache_dir) if self.model_cache_dir else None
