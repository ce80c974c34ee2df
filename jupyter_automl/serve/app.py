"""``jupyter automl serve``: the task API without JupyterLab, in one or many processes.

Every process builds its own runtime (its own store connections and loaded models) after the
fork, and they share the listening socket; the store is what they have in common.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.process import fork_processes, task_id

from ..api.datasets import DatasetsAPI
from ..datasets.staging import keep_sweeping
from .handlers import task_routes
from .runtime import ServingRuntime

log = logging.getLogger("jupyter_automl.serve")


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


def make_app(runtime: ServingRuntime) -> web.Application:
    return web.Application([*task_routes(runtime), (r"/automl/api/v2/health", HealthHandler)])


def serve(make_runtime: Callable[[], ServingRuntime], *, port: int, address: str = "127.0.0.1",
          processes: int = 1, max_body_bytes: int = 64 * 1024**2,
          on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM. ``processes`` > 1 forks that many workers (tornado
    restarts one that dies); 0 means one per CPU."""
    sockets = bind_sockets(port, address)
    bound = sockets[0].getsockname()[1]
    if processes != 1:
        fork_processes(processes)
    asyncio.run(_serve(make_runtime, sockets, bound, max_body_bytes, on_ready))


async def _serve(make_runtime, sockets, port: int, max_body_bytes: int, on_ready) -> None:
    runtime = make_runtime()
    server = HTTPServer(make_app(runtime), max_body_size=max_body_bytes, xheaders=True)
    server.add_sockets(sockets)
    runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("jupyter_automl: serving the task API on port %d (process %s)", port, task_id() or 0)
    # The first process sweeps what cut-off batch uploads left in the staging folder.
    core = runtime.parent
    sweeper = (asyncio.create_task(keep_sweeping(core.sweep_staging, log))
               if isinstance(core, DatasetsAPI) and not task_id() else None)
    if on_ready is not None and not task_id():
        on_ready(port)
    await stop.wait()
    if sweeper is not None:
        sweeper.cancel()
    server.stop()
    await runtime.stop()

