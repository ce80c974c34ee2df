from __future__ import annotations

from json import dumps
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.rest.openapi import Answer, check
from tests.rest.trained import BASE_MODEL, KIND, OPTIONS, register_run, reviews_snapshot


@pytest.fixture
def automl_traits():
    """Extra AutoML configuration for the server; a test module overrides it to change limits."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models, automl_traits):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_automl": True}},
        "AutoML": {
            "store_url": f"sqlite:///{tmp_path / 'rest-store.db'}",
            "data_dir": str(tmp_path / "rest-data"),
            "base_models": tiny_base_models,
            "spawn_worker": False,
            **automl_traits,
        },
        # No worker in the server either: these tests look at the queue as it is.
        "AutoMLExtension": {"create_examples_on_start": False, "run_worker": False},
    }


@pytest.fixture
def automl(jp_serverapp):
    """The core instance the running server uses."""
    return jp_serverapp.web_app.settings["automl"]


@pytest.fixture
def api(http_server_client, jp_base_url, jp_auth_header):
    """Call the management API; every answer, and every request not marked bad, is checked
    against the OpenAPI document, and the status against ``expect``.

    ``path`` follows /automl/api/ and is sent as written (escape names with ``quote``).
    ``json`` is sent as a JSON body; ``body`` as it is.
    """

    async def call(
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        expect: int = 200,
        token: bool = True,
        bad_request: bool = False,
    ) -> Answer:
        headers = dict(headers or {})
        if token:
            headers.update(jp_auth_header)
        if json is not None:
            body = dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        url = f"{jp_base_url}automl/api/{path}"
        if params:
            url += "?" + urlencode(params)
        response = await http_server_client.fetch(
            url, method=method, body=body, headers=headers, raise_error=False,
            request_timeout=120,
        )
        check(response, request=token and not bad_request)
        assert response.code == expect, f"{method} {path}: {response.code} {response.body[:800]!r}"
        return Answer(response.code, response.headers, response.body)

    return call


@pytest.fixture
def trained_model(automl, tmp_path, tiny_runs) -> str:
    """The name of a model (with a space in it) whose version 1 is trained, in the server's
    store."""
    name = "Review topics"
    automl.create_model(name, reviews_snapshot(automl, tmp_path), base_model=BASE_MODEL,
                        options=OPTIONS)
    register_run(automl, automl.train(name).id, tiny_runs[KIND])
    return name
