"""One deployment's workspace in a notebook: its recent tasks (filter, pages, one task in
full), a batch run from an uploaded file (progress, results files, refused rows), and its usage.

The batch runs on the widget's thread (``Panel.run_in_background``): the kernel stays free
while the rows are answered, and the progress bar follows each model call.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from ..datasets.report import ValidationReport
from ..errors import DataValidationError, InvalidInput
from ..schemas import BatchInfo, TaskRecord
from ..serve.history import STATUSES
from .base import STYLE, WIDE, Panel, automl_or_default, html_table
from .chunked_upload import ChunkedUpload
from .upload import problems_html
from .usage import UsageChart

PAGE_SIZE = 25
COMPLETION_CHARS = 60
PICKER_CHARS = 40
ERRORS_SHOWN = 50
BATCHES_SHOWN = 20
NOT_KEPT = "(not kept)"


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def output_preview(task: TaskRecord) -> str:
    """The answer in a few words: each head's top class and score for a classifier, the
    start of the completion for an LLM, the error of a failed task."""
    if task.error:
        return clip(f"error: {task.error}", COMPLETION_CHARS)
    if task.metadata_only:
        return NOT_KEPT
    parts = []
    for entry in task.output or []:
        if "completion" in entry:
            parts.append(clip(entry["completion"], COMPLETION_CHARS))
        elif entry.get("classes"):
            top = max(entry["classes"], key=lambda c: c["score"])
            parts.append(f"{entry['head']}: {top['class']} {top['score']:.2f}")
    return "; ".join(parts)


def key_label(task: TaskRecord) -> str:
    return f"slot {task.api_key_slot} ({task.api_key_prefix}…)" if task.api_key_id else "no key"


def tasks_frame(tasks: list[TaskRecord]) -> pd.DataFrame:
    """One row per task as the table shows it (times in UTC)."""
    rows = [{"time (UTC)": f"{t.created_at:%Y-%m-%d %H:%M:%S}", "kind": t.kind, "status": t.status,
             "input": NOT_KEPT if t.metadata_only else (t.input_preview or ""),
             "output": output_preview(t),
             "latency ms": "" if t.latency_ms is None else str(t.latency_ms), "key": key_label(t)}
            for t in tasks]
    return pd.DataFrame(rows, columns=["time (UTC)", "kind", "status", "input", "output",
                                       "latency ms", "key"])


def _json_block(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return f"<pre style='white-space:pre-wrap;max-height:16em;overflow:auto'>{html.escape(text)}</pre>"


def task_html(task: TaskRecord) -> str:
    """A task in full: its times, tokens, key, error, and its input and output (or that the
    deployment keeps no text)."""
    facts = {
        "kind": task.kind, "status": task.status, "created (UTC)": str(task.created_at),
        "started (UTC)": str(task.started_at or ""), "finished (UTC)": str(task.finished_at or ""),
        "latency ms": "" if task.latency_ms is None else str(task.latency_ms),
        "attempts": str(task.attempts),
        "tokens": f"{task.prompt_tokens} prompt + {task.completion_tokens} completion",
        "key": key_label(task), "input type": task.input_type or "", "input hash": task.input_hash or "",
        "error": task.error or "",
    }
    parts = [f"<b>Task {html.escape(task.id)}</b>",
             html_table(pd.DataFrame({"": list(facts.values())}, index=list(facts)))]
    if task.metadata_only:
        parts.append("<i>This deployment keeps metadata only: no input or output text is kept.</i>")
    else:
        parts += ["<b>Input</b>", _json_block(task.input),
                  "<b>Output</b>", _json_block(task.output) if task.output is not None else "<i>none yet</i>"]
    return "".join(parts)


def batches_frame(batches: list[BatchInfo]) -> pd.DataFrame:
    rows = [{"created (UTC)": f"{b.created_at:%Y-%m-%d %H:%M:%S}", "file": b.file_name,
             "state": b.state, "rows": b.rows, "succeeded": b.succeeded, "failed": b.failed,
             "queued": b.queued, "id": b.id} for b in batches]
    return pd.DataFrame(rows, columns=["created (UTC)", "file", "state", "rows", "succeeded",
                                       "failed", "queued", "id"])


def parse_options(text: str) -> dict[str, Any]:
    """The batch options typed as a JSON object; ``{}`` when nothing is typed."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"options are not valid JSON: {error.msg} at line {error.lineno}, "
                           f"column {error.colno}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f'options must be a JSON object such as {{"top_k": 3}}, got {clip(text, 40)!r}')
    return value


RESULT_SUFFIXES = (".csv", ".jsonl")


def free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... : the first that no file in ``folder`` has with any
    of ``suffixes``, so that the results of an earlier batch of the same file are kept."""
    candidate, number = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def link_html(paths: list[Path]) -> str:
    """Links to files, relative to the kernel's folder (the notebook's), which JupyterLab opens."""
    links = []
    for path in paths:
        href = Path(os.path.relpath(path.resolve(), Path.cwd().resolve())).as_posix()
        links.append(f'<a href="{html.escape(href)}">{html.escape(href)}</a>')
    return "Results (in input order): " + " &middot; ".join(links)


class TaskHistory(Panel):
    """A deployment's tasks, newest first, ``page_size`` at a time, with a status filter; the
    task picked below the table is shown in full."""

    def __init__(self, automl: Any | None, deployment: str, *, page_size: int = PAGE_SIZE,
                 metadata_only: bool = False) -> None:
        super().__init__(automl)
        self.deployment = deployment
        self.page_size = page_size
        self.tasks: list[TaskRecord] = []
        self.next_cursor: str | None = None
        self.opened: TaskRecord | None = None
        self.status = w.Dropdown(options=[("all", ""), *((s, s) for s in STATUSES)], value="",
                                 description="Status", style=STYLE)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.more_button = w.Button(description="Load more", icon="angle-double-down", disabled=True)
        self.table = w.HTML()
        self.picker = w.Select(description="Show task", rows=6, style=STYLE, layout=WIDE)
        self.detail = w.HTML()
        self._filling = False
        self.status.observe(lambda _: self.refresh(), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.more_button.on_click(lambda _: self.load_more())
        self.picker.observe(self._picked, "value")
        note = ("<i>This deployment keeps metadata only: no input or output text is kept, only "
                "status, times, token counts, the key and a hash of the input.</i>" if metadata_only else "")
        self.children = [w.HTML(note), w.HBox([self.status, self.refresh_button]), self.table,
                         self.more_button, self.message, self.picker, self.detail]
        self.refresh()

    def refresh(self) -> None:
        """The newest page again (with the filter as set)."""
        self.attempt(lambda: self._load(None))

    def load_more(self) -> None:
        """The next, older page below the tasks shown."""
        if self.next_cursor is not None:
            self.attempt(lambda: self._load(self.next_cursor))

    def _load(self, cursor: str | None) -> None:
        page = self.automl.task_page(self.deployment, status=self.status.value or None,
                                     limit=self.page_size, cursor=cursor)
        self.tasks = (self.tasks if cursor else []) + page.tasks
        self.next_cursor = page.next_cursor
        self.more_button.disabled = page.next_cursor is None
        table = html_table(tasks_frame(self.tasks), index=False)
        self.table.value = (f"<div style='max-height:360px;overflow:auto'>{table}</div>"
                            if self.tasks else "<small>no tasks</small>")
        self._fill_picker()
        self.show_info(f"{len(self.tasks)} tasks shown" + (", more below" if self.next_cursor else ""))

    def _fill_picker(self) -> None:
        """List the tasks shown, keeping the one picked when it is still there."""
        picked = self.picker.value
        kept = picked in {t.id for t in self.tasks}
        self._filling = True
        try:
            self.picker.options = [
                (f"{t.created_at:%m-%d %H:%M:%S} {t.status} "
                 f"{clip(NOT_KEPT if t.metadata_only else (t.input_preview or ''), PICKER_CHARS)}", t.id)
                for t in self.tasks]
            self.picker.value = picked if kept else None
        finally:
            self._filling = False
        if not kept:
            self.opened, self.detail.value = None, ""

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._filling and change["new"] is not None:
            self.show_task(change["new"])

    def show_task(self, task_id: str) -> None:
        """Show one task in full, read again from the store (a queued task may have finished)."""
        def show() -> None:
            task = self.automl.get_task_record(self.deployment, task_id)
            self.opened = task
            self.detail.value = task_html(task)

        self.attempt(show)


class BatchRunner(Panel):
    """Upload a file of inputs, queue it as a batch and run it here; when it is done the results
    are saved as ``<stem>-results.csv`` and ``.jsonl`` in ``results_dir`` (the kernel's folder
    by default; ``<stem>-results-2`` and so on when those exist) and linked. A refused file
    lists its problems; nothing is queued then."""

    def __init__(self, automl: Any | None, deployment: str, *, results_dir: str | Path | None = None,
                 metadata_only: bool = False) -> None:
        super().__init__(automl)
        self.deployment = deployment
        self.results_dir = Path(results_dir) if results_dir is not None else Path(".")
        self.info: BatchInfo | None = None
        self.results: list[Path] = []
        staging = self.automl.staging
        self.picker = ChunkedUpload(staging, self.automl.check_upload_size, accept=".csv,.tsv,.zip")
        self.images = ChunkedUpload(staging, self.automl.check_upload_size, accept=".zip")
        self.options = w.Text(description="Options (JSON)", style=STYLE, layout=WIDE,
                              placeholder='applied to every row, e.g. {"max_tokens": 64} or {"top_k": 3}')
        self.run_button = w.Button(description="Run batch", button_style="primary", icon="play",
                                   disabled=metadata_only)
        self.bar = w.IntProgress(min=0, max=1, value=0, bar_style="info", layout=WIDE)
        self.progress = w.HTML()
        self.problems = w.HTML()
        self.links = w.Output()  # an output, so JupyterLab opens the relative links beside the notebook
        self.history = w.HTML()
        self.run_button.on_click(lambda _: self.run())
        note = ("<i>This deployment keeps no task text (metadata only), so it takes no batches: "
                "their results could not be read back.</i>" if metadata_only else "")
        label = w.Layout(width="170px")
        self.children = [
            w.HTML(note),
            w.HBox([w.Label("Inputs (CSV or zip)", layout=label), self.picker]),
            w.HBox([w.Label("Images zip (optional)", layout=label), self.images]),
            self.options, self.run_button, self.bar, self.progress, self.message, self.problems,
            self.links, w.HTML("<b>Batches of this deployment</b>"), self.history,
        ]
        self.attempt(self.refresh_history)

    def refresh_history(self) -> None:
        batches = self.automl.list_batches(self.deployment, limit=BATCHES_SHOWN)
        self.history.value = (html_table(batches_frame(batches), index=False) if batches
                              else "<small>no batches yet</small>")

    def run(self) -> None:
        """Queue the uploaded file and run its rows (on the widget's thread)."""
        self.run_in_background(self._run, busy="checking the file...")

    def _run(self) -> None:
        self.problems.value = self.progress.value = ""
        self.links.outputs = ()
        self.bar.value, self.bar.bar_style = 0, "info"
        options = parse_options(self.options.value)
        if not (self.picker.complete and self.picker.path):
            raise InvalidInput("choose a CSV of inputs (or a zip of a CSV and its images) first")
        source = Path(self.picker.path)
        images = self.images.path if self.images.complete and self.images.path else None
        try:
            info = self.automl.submit_batch(self.deployment, source, images=images, options=options)
        except DataValidationError as error:
            if isinstance(error.details, dict):
                self.problems.value = problems_html(ValidationReport.from_dict(error.details), ERRORS_SHOWN)
            raise
        finally:
            self.picker.discard()
            self.images.discard()
        self._progress(info)
        self.show_info(f"batch {info.id}: {info.rows:,} rows queued, running them...")
        info = self.automl.run_batch(self.deployment, info.id, on_progress=self._progress)
        stem = free_stem(self.results_dir, f"{source.stem}-results", RESULT_SUFFIXES)
        self.results = [self.automl.save_batch_results(self.deployment, info.id, self.results_dir / f"{stem}{suffix}")
                        for suffix in RESULT_SUFFIXES]
        from IPython.display import HTML

        self.links.append_display_data(HTML(link_html(self.results)))
        self.refresh_history()
        self.show_info(f"batch {info.id} completed: {info.succeeded:,} succeeded, {info.failed:,} failed")

    def _progress(self, info: BatchInfo) -> None:
        self.info = info
        self.bar.max = max(info.rows, 1)
        self.bar.value = info.done
        if info.state == "completed":
            self.bar.bar_style = "warning" if info.failed else "success"
        failed = f"<b>{info.failed:,} failed</b>" if info.failed else "0 failed"
        self.progress.value = f"{info.done:,} of {info.rows:,} rows done, {failed}"


class DeploymentView(w.VBox):
    """A deployment's (id or name) workspace: tabs for its recent tasks, a batch run from a file,
    and its usage. A deployment that does not exist raises :class:`NotFound` here."""

    def __init__(self, automl: Any | None, deployment: str, *, page_size: int = PAGE_SIZE,
                 results_dir: str | Path | None = None, usage_days: int = 14) -> None:
        super().__init__()
        self.automl = automl_or_default(automl)
        info = self.automl.get_deployment(deployment)
        self.info = info
        self.tasks = TaskHistory(self.automl, info.id, page_size=page_size,
                                 metadata_only=info.metadata_only)
        self.batch = BatchRunner(self.automl, info.id, results_dir=results_dir,
                                 metadata_only=info.metadata_only)
        self.usage = UsageChart(self.automl, info.id, days=usage_days)
        self.tabs = w.Tab(children=[self.tasks, self.batch, self.usage],
                          titles=("Tasks", "Batch", "Usage"))
        self.children = [
            w.HTML(f"<h3>Deployment {html.escape(info.name)}</h3>"
                   f"<small>{html.escape(info.model_name)} v{info.version} &middot; "
                   f"{html.escape(info.model_type)} &middot; {html.escape(info.status)}</small>"),
            self.tabs,
        ]
