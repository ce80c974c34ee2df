"""A trained text classifier for the REST tests, registered without a notebook kernel
(``tests.serving.register_run``)."""

from __future__ import annotations

from pathlib import Path

from jupyter_automl import AutoML
from tests.serving import KINDS, LOG_LINE, register_run, snapshot_for

KIND = "text_classification"
BASE_MODEL, _, OPTIONS = KINDS[KIND]


def reviews_snapshot(automl: AutoML, folder: Path) -> str:
    """The reviews CSV that the session's run was trained on, uploaded and frozen here."""
    return snapshot_for(automl, KIND, folder)
