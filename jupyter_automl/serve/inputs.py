"""A task request as DESIGN §7 gives it, checked before it reaches a model.

Exactly one input of ``text_data``, ``media`` (an uploaded file) or ``url``; ``options`` a JSON
object. What each model type accepts is checked here, per request, so one bad request is
answered 400 on its own instead of failing a whole batch.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ..errors import InvalidInput, TooLarge

INPUTS = ("text_data", "media", "url")
LLM_PROMPT_OPTIONS = ("system_prompt", "prompt_history", "roles")
LLM_GENERATION_OPTIONS = ("max_tokens", "temperature", "top_p", "seed", "stop")
CLASSIFIER_OPTIONS = ("top_k",)
ALLOWED_FIELDS = {*INPUTS, "options", "callback_url"}


@dataclass
class TaskRequest:
    text_data: str | None = None
    media: bytes | None = None
    media_name: str | None = None
    url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None

    @classmethod
    def from_fields(
        cls, fields: dict[str, Any], media: tuple[str, bytes] | None = None, *, max_media_bytes: int
    ) -> "TaskRequest":
        """From a JSON body (or the fields of a multipart form, where ``options`` is JSON text)."""
        unknown = set(fields) - ALLOWED_FIELDS
        if unknown:
            raise InvalidInput(
                f"unknown field(s) {', '.join(sorted(unknown))}; a task takes exactly one of "
                f"text_data, media, url, and optionally options and callback_url"
            )
        given = [name for name in ("text_data", "url") if fields.get(name) is not None]
        if media is not None or fields.get("media") is not None:
            given.append("media")
        if len(given) != 1:
            raise InvalidInput(
                "give exactly one input of text_data, media (an uploaded file) or url; "
                + (f"got {', '.join(given)}" if given else "got none")
            )
        request = cls()
        if "text_data" in given:
            text = fields["text_data"]
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput("text_data must be a non-empty string")
            request.text_data = text
        elif "url" in given:
            url = fields["url"]
            if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
                raise InvalidInput(f"url must be an http(s) URL, got {url!r}")
            request.url = url
        else:
            if media is None:
                raise InvalidInput("media must be sent as a file in a multipart/form-data request")
            name, data = media
            if not data:
                raise InvalidInput(f"media file {name!r} is empty")
            if len(data) > max_media_bytes:
                raise TooLarge(f"media file {name!r} has {len(data)} bytes; the limit is {max_media_bytes}")
            request.media, request.media_name = data, name
        options = fields.get("options")
        if isinstance(options, str):
            try:
                options = json.loads(options) if options.strip() else {}
            except json.JSONDecodeError as error:
                raise InvalidInput(f"options is not JSON: {error}") from None
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise InvalidInput("options must be a JSON object")
        request.options = options
        callback = fields.get("callback_url")
        if callback is not None:
            if not isinstance(callback, str) or urlparse(callback).scheme not in ("http", "https") \
                    or not urlparse(callback).netloc:
                raise InvalidInput(f"callback_url must be an http(s) URL, got {callback!r}")
            request.callback_url = callback
        return request

    def stored_input(self) -> dict[str, Any]:
        """What the task keeps of its input: the text and options, and for media a description
        (the bytes go to a file beside the task)."""
        data: dict[str, Any] = {"options": self.options}
        if self.text_data is not None:
            data["text_data"] = self.text_data
        if self.url is not None:
            data["url"] = self.url
        if self.media is not None:
            data["media"] = {"filename": self.media_name, "bytes": len(self.media),
                             "sha256": hashlib.sha256(self.media).hexdigest()}
        return data

    def input_hash(self) -> str:
        payload = self.media if self.media is not None else json.dumps(
            [self.text_data, self.url, self.options], sort_keys=True, default=str
        ).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()


def check_options(options: dict[str, Any], allowed: tuple[str, ...], kind: str) -> None:
    unknown = set(options) - set(allowed)
    if unknown:
        raise InvalidInput(
            f"unknown option(s) {', '.join(sorted(unknown))} for a {kind} model; "
            f"it takes {', '.join(allowed)}"
        )


def fetch_url(url: str, *, max_bytes: int, timeout: float = 20.0) -> bytes:
    """The body at an http(s) URL, refused when larger than ``max_bytes``."""
    request = urllib.request.Request(url, headers={"User-Agent": "jupyter-automl"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            data = response.read(max_bytes + 1)
    except OSError as error:
        raise InvalidInput(f"could not download {url}: {error}") from None
    if len(data) > max_bytes:
        raise TooLarge(f"{url} is larger than {max_bytes} bytes")
    return data


def request_from_http(request: Any, *, max_media_bytes: int) -> TaskRequest:
    """A task request from an HTTP request (tornado's): a JSON body, or a multipart form with
    the file as ``media`` and ``options`` as JSON text."""
    content_type = request.headers.get("Content-Type", "")
    media = None
    if content_type.startswith("multipart/form-data"):
        fields: dict[str, Any] = {k: v[0].decode("utf-8", "replace")
                                  for k, v in request.body_arguments.items()}
        unknown = set(request.files) - {"media"}
        if unknown:
            raise InvalidInput(f"unknown file field(s) {', '.join(sorted(unknown))}; send the file as 'media'")
        if "media" in request.files:
            part = request.files["media"][0]
            media = (part.filename or "media", part.body)
    else:
        try:
            fields = json.loads(request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"request body is not JSON: {error}") from None
        if not isinstance(fields, dict):
            raise InvalidInput("request body must be a JSON object")
    return TaskRequest.from_fields(fields, media, max_media_bytes=max_media_bytes)
