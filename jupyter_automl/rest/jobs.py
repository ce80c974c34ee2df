"""Training jobs (list, progress, logs, cancel) and the workers that run them."""

from __future__ import annotations

from tornado import web

from .base import AutoMLHandler


class JobsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        jobs = await self.call(
            self.automl.list_jobs,
            status=self.get_argument("status", None),
            model=self.get_argument("model", None),
            limit=self.int_argument("limit", 100),
        )
        self.write_json({"jobs": [j.to_json() for j in jobs]})


class JobHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        self.write_json(await self.call(self.automl.get_job, job_id))


class JobLogsHandler(AutoMLHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        """``{"log": ...}``: the whole file where this server can read it, else its tail."""
        self.write_json({"log": await self.call(self.automl.job_logs, job_id)})


class JobCancelHandler(AutoMLHandler):
    @web.authenticated
    async def post(self, job_id: str) -> None:
        """A queued job ends at once; a running one at its runner's next heartbeat."""
        self.write_json(await self.call(self.automl.cancel_job, job_id))


class WorkersHandler(AutoMLHandler):
    @web.authenticated
    async def get(self) -> None:
        workers = await self.call(
            self.automl.list_workers, alive_only=not self.bool_argument("all", False)
        )
        self.write_json({"workers": [w.to_json() for w in workers]})
