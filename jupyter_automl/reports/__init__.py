"""What notebooks show: the training report that the templates call, and live views."""

from .live import LiveCurve
from .training import TrainingReport, resolve_entry, resolve_snapshot

__all__ = ["LiveCurve", "TrainingReport", "resolve_entry", "resolve_snapshot"]
