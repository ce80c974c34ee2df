"""Real requests and answers of the running server, checked against the OpenAPI document.

:func:`check` adapts a tornado request/response pair to openapi-core's protocols and
validates both: the answer always (success and error bodies alike), the request unless the
test sends a bad one on purpose. The ``api`` fixture (conftest) calls it on every answer.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.util import json_loads, plain_loads
from tornado.httpclient import HTTPRequest, HTTPResponse
from werkzeug.datastructures import Headers, ImmutableMultiDict

import jupyter_automl.rest

DOCUMENT = Path(jupyter_automl.rest.__file__).parent / "openapi.yaml"
API_PREFIX = "/automl/"  # the management and task APIs, and the OpenAI-compatible /automl/v1
SAMPLES = ("0" * 32, "a-name", "1")
def sample_path(pattern: str) -> str:
    """A route's pattern with a value in place of each parameter: the first of an id, a name
    and a number that its group matches."""

    def sample(group: re.Match) -> str:
        regex = re.compile(group.group(0) + "$")
        return next(value for value in SAMPLES if regex.match(value))

    return re.sub(r"\([^()]*\)", sample, pattern).lstrip("/")


@functools.cache
def document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@functools.cache
def spec() -> OpenAPI:
    # Notebooks are JSON under a media type of their own; server-sent events are text.
    config = Config(extra_media_type_deserializers={"application/x-ipynb+json": json_loads,
                                                    "text/event-stream": plain_loads})
    return OpenAPI.from_dict(document(), config=config)


class TornadoRequest:
    """openapi-core's Request protocol over a tornado HTTPRequest; the Jupyter base URL is
    left out of the path, as the document's server is that base URL."""

    def __init__(self, request: HTTPRequest) -> None:
        url = urlsplit(request.url)
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path[url.path.index(API_PREFIX):]
        self.method = request.method.lower()
        self.body = request.body or b""
        self.content_type = request.headers.get("Content-Type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
        )


class TornadoResponse:
    def __init__(self, response: HTTPResponse) -> None:
        self.status_code = response.code
        self.data = response.body or b""
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "")


def check(response: HTTPResponse, *, request: bool = True) -> None:
    """Raise when the answer (or, with ``request``, the request) breaks the document."""
    sent = TornadoRequest(response.request)
    if request:
        spec().validate_request(sent)
    spec().validate_response(sent, TornadoResponse(response))


@dataclass
class Answer:
    """A checked answer: its status, headers and body (``json`` parses it)."""

    code: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return self.json["message"]
