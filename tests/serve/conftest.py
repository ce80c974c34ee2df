from __future__ import annotations

import pytest

from tests.rest.openapi import check
from tests.serving import register_trained


def server_config(tmp_path, tiny_base_models, **runtime) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_automl": True}},
        "AutoML": {"store_url": f"sqlite:///{tmp_path / 'store.db'}", "data_dir": str(tmp_path / "data"),
                   "base_models": tiny_base_models, "spawn_worker": False},
        "AutoMLExtension": {"create_examples_on_start": False, "run_worker": False},
        "ServingRuntime": {"sweep_seconds": 0.2, "task_lease_seconds": 2.0, **runtime},
    }


@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models):
    return server_config(tmp_path, tiny_base_models)


@pytest.fixture
def server_automl(jp_serverapp):
    """The core instance the running server uses."""
    return jp_serverapp.web_app.settings["automl"]


@pytest.fixture
def deploy(server_automl, tiny_runs, tmp_path):
    """``deploy(name, kind)``: a trained version of a new model, deployed in the server."""

    def make(name: str, kind: str = "text_classification"):
        register_trained(server_automl, name, kind, tiny_runs[kind], tmp_path / "csv" / name)
        return server_automl.deploy(name)

    return make


@pytest.fixture
def task_api(http_server_client, jp_base_url):
    """``task_api(method, path, key=, body=, headers=)`` -> (status, JSON, headers) of the task
    API; every answer (and every request that succeeded) is checked against the OpenAPI document."""
    import json

    async def call(method: str, path: str, *, key: str | None = None, body=None, headers=None):
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = f"Token {key}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        response = await http_server_client.fetch(
            f"{jp_base_url}automl/api/v2/task/{path}", method=method, body=body, headers=headers,
            raise_error=False,
        )
        check(response, request=response.code < 400)
        return response.code, json.loads(response.body or b"null"), response.headers

    return call


async def management(jp_fetch, method: str, *path: str, body: dict | None = None, **fetch):
    """(status, JSON) of a management REST call, the answer checked against the OpenAPI document;
    ``fetch`` goes to the HTTP client (timeouts)."""
    import json

    from tornado.httpclient import HTTPClientError

    if body is None and method == "POST":
        body = {}
    try:
        response = await jp_fetch("automl", "api", *path, method=method,
                                  body=json.dumps(body) if body is not None else None,
                                  headers={"Content-Type": "application/json"}, **fetch)
        check(response)
        return response.code, json.loads(response.body)
    except HTTPClientError as error:
        check(error.response, request=False)
        return error.code, json.loads(error.response.body)


@pytest.fixture
def served(make_automl, tiny_runs, tmp_path, store_url):
    """``(automl, deploy)`` on SQLite and PostgreSQL: ``deploy(name, **options)`` deploys a new trained classifier."""
    automl = make_automl(store_url)

    def deploy(name: str, **options):
        register_trained(automl, name, "text_classification", tiny_runs["text_classification"],
                         tmp_path / "csv" / name)
        return automl.deploy(name, **options)

    return automl, deploy
