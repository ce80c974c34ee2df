"""The management REST API as a whole, served by a real jupyter server with the extension."""

from __future__ import annotations

from jupyter_automl.rest.routes import routes
from tests.rest.openapi import check, sample_path


async def test_lists_are_empty_on_a_new_store(api):
    assert (await api("GET", "datasets")).json == {"datasets": []}
    assert (await api("GET", "snapshots")).json == {"snapshots": []}
    assert (await api("GET", "models")).json == {"models": []}
    assert (await api("GET", "jobs")).json == {"jobs": []}
    assert (await api("GET", "workers")).json == {"workers": []}


async def test_every_route_refuses_requests_without_the_token(
    jp_serverapp, jp_base_url, http_server_client
):
    for pattern, handler in routes():
        path = sample_path(pattern)
        for verb in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if verb.lower() not in handler.__dict__:
                continue
            response = await http_server_client.fetch(
                f"{jp_base_url}{path}",
                method=verb,
                body="{}" if verb in ("POST", "PUT", "PATCH") else None,
                raise_error=False,
            )
            assert response.code == 403, (verb, path, response.code)
            check(response, request=False)
