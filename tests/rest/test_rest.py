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


async def test_kernels_of_the_server_open_its_store(jp_serverapp, automl):
    """A notebook in this JupyterLab (the chat playground notebook the sidebar opens) makes
    ``AutoML()`` with no arguments and must see the server's models, not the default store."""
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel(kernel_name="python3")
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        code = (
            "from jupyter_automl import AutoML\n"
            "a = AutoML()\n"
            "print(repr((str(a.root), a.store_url)))"
        )
        lines: list[str] = []
        reply = await client.execute_interactive(
            code, timeout=60,
            output_hook=lambda m: lines.append(m["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "".join(lines).strip() == repr((str(automl.root), automl.store_url))
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
