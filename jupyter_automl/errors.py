"""Typed errors of the core. Every face maps them the same way (REST status, CLI exit code, widget message)."""

from __future__ import annotations

import math


class AutoMLError(Exception):
    """Base class: the message is written for the user and says what is wrong and where."""

    http_status = 500

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(AutoMLError):
    """A request or argument that cannot be accepted as given."""

    http_status = 400


class NotFound(AutoMLError):
    http_status = 404


class Conflict(AutoMLError):
    """The request clashes with the current state (for example a name already taken)."""

    http_status = 409


class TooLarge(AutoMLError):
    http_status = 413


class DataValidationError(AutoMLError):
    """Data that breaks the rules of DESIGN §4; ``details`` holds the validation report."""

    http_status = 422


class BaseModelUnavailable(AutoMLError):
    """A base model's weights or tokenizer cannot be loaded (not installed, offline, bad path)."""

    http_status = 422


class Unauthorized(AutoMLError):
    """A missing, wrong or revoked API key."""

    http_status = 401


class Unavailable(AutoMLError):
    """The service cannot take the request now; ``retry_after`` says when to try again."""

    http_status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0, details: object | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


def error_answer(error: AutoMLError) -> tuple[int, dict[str, object], dict[str, str]]:
    """How every HTTP face answers an error: ``(status, JSON body, headers)``."""
    body: dict[str, object] = {"message": error.message}
    if error.details is not None:
        body["details"] = error.details
    headers = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Token realm="jupyter-automl"'
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return error.http_status, body, headers
