"""Task history of deployments: list, one task, usage per day and key, the retention clean-up."""

from __future__ import annotations

from datetime import datetime

from ..schemas import TaskPage, TaskRecord, UsageReport
from ..serve import history
from ..serve.usage import DEFAULT_DAYS, deployment_usage
from .deployments import DeploymentsAPI


class TasksAPI(DeploymentsAPI):
    """Every task a deployment answered (sync, async, playground), newest first.

    Tasks are kept ``c.ServingRuntime.task_retention_days`` after they finish (default 30; 0
    keeps them forever); a deployment deployed with ``metadata_only=True`` keeps no input or
    output text, only status, times, token counts, the key's id and a hash of the input.
    """

    def list_tasks(self, deployment: str, *, status: str | None = None,
                   since: datetime | str | None = None, until: datetime | str | None = None,
                   limit: int = 50, cursor: str | None = None) -> tuple[list[TaskRecord], str | None]:
        """``(tasks, next_cursor)``: a deployment's (id or name) tasks, newest first, created in
        ``[since, until)`` (datetimes, ISO 8601 text, or durations back from now like ``24h``),
        ``limit`` at most (1-500). Pass ``next_cursor`` back for the next, older page; it is
        None on the last page."""
        page = self.task_page(deployment, status=status, since=since, until=until, limit=limit,
                              cursor=cursor)
        return page.tasks, page.next_cursor

    def task_page(self, deployment: str, *, status: str | None = None,
                  since: datetime | str | None = None, until: datetime | str | None = None,
                  limit: int = 50, cursor: str | None = None) -> TaskPage:
        """:meth:`list_tasks` as one object (what the REST API answers)."""
        with self.store.session() as session:
            return history.list_tasks(session, deployment, status=status, since=since, until=until,
                                      limit=limit, cursor=cursor)

    def get_task_record(self, deployment: str, task_id: str) -> TaskRecord:
        """One task of a deployment's history (NotFound when it is another deployment's)."""
        with self.store.session() as session:
            return history.get_task(session, deployment, task_id)

    def delete_expired_tasks(self) -> int:
        """Run the retention clean-up once (the server's sweep runs it every
        ``task_cleanup_seconds``): how many tasks were deleted."""
        return self.serving.delete_expired_tasks()

    def usage(self, deployment: str, days: int = DEFAULT_DAYS) -> UsageReport:
        """A deployment's (id or name) requests, tokens, errors and p50/p99 latency per UTC day
        (the ``days`` days ending today, 1-366, every one listed) and per key, counted from
        the tasks still kept (see ``task_retention_days``)."""
        with self.store.session() as session:
            return deployment_usage(session, deployment, days)
