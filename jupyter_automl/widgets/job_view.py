"""A training job as it runs: progress, epoch and step, ETA, a live loss curve, the log's tail,
cancel, and the executed notebook when it is done."""

from __future__ import annotations

import html
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..reports.summary import progress_parts, version_summary
from ..reports.live import training_curve_png
from .base import Panel

LOG_LINES = 15
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes some libraries write to the log
REPORTS_FOLDER = "automl-reports"


def curve_png(progress: dict[str, Any]) -> bytes | None:
    """The job's loss and validation curve from its progress, or None before the first point."""
    losses = [tuple(point) for point in progress.get("losses") or []]
    evaluations = [(e["epoch"], e["selection_value"]) for e in progress.get("evaluations") or []
                   if e.get("selection_value") is not None]
    if not losses and not evaluations:
        return None
    return training_curve_png(losses, evaluations)


def report_link(notebook: Path, *, here: Path | None = None) -> Path:
    """A path JupyterLab can open from a notebook in ``here`` (the kernel's folder): the
    executed notebook itself when it lies below, else a copy in ``automl-reports/``."""
    here = (here or Path.cwd()).resolve()
    notebook = notebook.resolve()
    if notebook.is_relative_to(here):
        return notebook.relative_to(here)
    copy = here / REPORTS_FOLDER / f"{notebook.parent.parent.name}-{notebook.parent.name}-{notebook.name}"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, copy)
    return copy.relative_to(here)


class JobView(Panel):
    """Follows one job (polled every ``poll_seconds`` on a thread of its own until it ends)."""

    def __init__(self, automl: Any | None, job_id: str, *, poll_seconds: float = 1.0,
                 follow: bool = True) -> None:
        super().__init__(automl)
        self.job_id = job_id
        self.poll_seconds = poll_seconds
        self.info: Any = None
        self.title = w.HTML()
        self.bar = w.FloatProgress(min=0, max=1, value=0, bar_style="info",
                                   layout=w.Layout(width="480px"))
        self.status = w.HTML()
        self.curve = w.Image(format="png", layout=w.Layout(display="none", width="720px"))
        self.log_tail = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="warning")
        self.report_button = w.Button(description="Open training report", icon="book",
                                      disabled=True, layout=w.Layout(width="max-content"))
        # An output, not an HTML widget: JupyterLab opens relative links in rendered outputs
        # with its document manager, in a tab beside the notebook.
        self.link = w.Output()
        self.summary = w.HTML()
        self.cancel_button.on_click(lambda _: self.cancel())
        self.report_button.on_click(lambda _: self.open_report())
        self.children = [self.title, self.bar, self.status, self.curve, self.log_tail,
                         w.HBox([self.cancel_button, self.report_button, self.link]),
                         self.message, self.summary]
        self._points = -1
        self._stop = threading.Event()
        self.refresh()
        self._poller: threading.Thread | None = None
        if follow and not self.info.done:
            self._poller = threading.Thread(target=self._follow, daemon=True, name="job-view")
            self._poller.start()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.attempt(self.refresh)
            if self.info is not None and self.info.done:
                return

    def refresh(self) -> None:
        """Read the job from the store and redraw what changed."""
        info = self.automl.get_job(self.job_id)
        self.info = info
        progress = info.progress or {}
        state = progress.get("state") or {}
        self.title.value = f"<b>{html.escape(info.model_name)} v{info.version}</b> &middot; job {info.id[:8]}"
        total, step = state.get("total_steps") or 0, state.get("step") or 0
        self.bar.value = 1.0 if info.status == "succeeded" else (step / total if total else 0.0)
        self.bar.bar_style = {"succeeded": "success", "failed": "danger",
                              "cancelled": "warning"}.get(info.status, "info")
        parts = [f"<b>{info.status}</b>", *map(html.escape, progress_parts(info))]
        if info.error:
            parts.append(f"<span style='color:var(--jp-error-color1)'>{html.escape(info.error)}</span>")
        self.status.value = " &middot; ".join(parts)
        points = len(progress.get("losses") or []) + len(progress.get("evaluations") or [])
        if points != self._points:
            self._points = points
            picture = curve_png(progress)
            if picture is not None:
                self.curve.value = picture
                self.curve.layout.display = ""
        tail = "\n".join(ANSI.sub("", info.log_tail or "").splitlines()[-LOG_LINES:])
        self.log_tail.value = (f"<pre style='max-height:12em;overflow:auto;font-size:11px'>{html.escape(tail)}</pre>"
                          if tail else "")
        self.cancel_button.disabled = info.done
        self.report_button.disabled = not (info.done and info.notebook_path)
        if info.status == "succeeded" and not self.summary.value:
            version = self.automl.get_version(info.model_id, info.version)
            lines = version_summary(version.metrics)
            self.summary.value = "<br>".join(html.escape(line) for line in lines)

    def cancel(self) -> None:
        if self.attempt(lambda: self.automl.cancel_job(self.job_id)) is not None:
            self.show_info("cancel requested: the kernel is stopped within a heartbeat")

    def open_report(self, here: Path | None = None) -> Path | None:
        """Show a link to the executed notebook (JupyterLab opens it in a tab)."""
        def link() -> Path:
            info = self.automl.get_job(self.job_id)
            notebook = self.automl.version_notebook(info.model_id, info.version)
            return report_link(notebook, here=here)

        path = self.attempt(link)
        if path is not None:
            from IPython.display import HTML

            self.link.outputs = ()
            self.link.append_display_data(HTML(
                f'<a href="{html.escape(path.as_posix())}">{html.escape(path.as_posix())}</a>'))
        return path

    def wait(self, timeout: float | None = None) -> None:
        """Block until the job has ended and the view shows it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.info is not None and self.info.done):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} still {self.info.status} after {timeout} s")
            time.sleep(min(self.poll_seconds, 0.5))
            if self._poller is None or not self._poller.is_alive():
                self.refresh()
        if self._poller is not None:
            self._poller.join(timeout)

    def close(self) -> None:
        self._stop.set()
        super().close()
