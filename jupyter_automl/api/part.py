"""What every part of the public API shares: the store, the data folder, the base models."""

from __future__ import annotations

from pathlib import Path

from ..base_models import BaseModelEntry, BaseModelRegistry
from ..datasets.staging import staging_folder
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
    staging_max_age_hours: float

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
    def staging(self) -> Path:
        """Where uploads lie while they arrive (made on first use)."""
        folder = staging_folder(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def cache_dir(self) -> Path | None:
        return Path(self.model_cache_dir) if self.model_cache_dir else None
