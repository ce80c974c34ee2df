"""The dataset upload form: pick a file, read its validation report, freeze a snapshot."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from ..datasets.report import ValidationReport
from ..errors import InvalidInput
from ..model_types import ModelType
from .base import STYLE, WIDE, Panel, html_table, new_figure, png_of
from .chunked_upload import ChunkedUpload

MAX_ERRORS_SHOWN = 200


def report_errors(report: ValidationReport) -> pd.DataFrame:
    """Every error and warning with its row, column and reason, in file order."""
    rows = [{"row": i.row, "column": i.column, "severity": "error", "reason": i.reason}
            for i in report.errors]
    rows += [{"row": i.row, "column": i.column, "severity": "warning", "reason": i.reason}
             for i in report.warnings]
    frame = pd.DataFrame(rows, columns=["row", "column", "severity", "reason"])
    frame["row"] = frame["row"].astype("Int64")
    frame = frame.sort_values("row", na_position="first", kind="stable").reset_index(drop=True)
    # A problem with the whole file has no row or column: "file" reads better than <NA>.
    frame["row"] = frame["row"].map(lambda r: "file" if pd.isna(r) else str(r)).astype(object)
    frame["column"] = frame["column"].fillna("")
    return frame


def problems_html(report: ValidationReport, limit: int = MAX_ERRORS_SHOWN) -> str:
    """The report's errors and warnings as a table of row, column and reason: the first
    ``limit``, then how many more; empty when there are none."""
    problems = report_errors(report)
    if not len(problems):
        return ""
    more = len(problems) - limit
    return ("<b>Problems</b> (row numbers as a spreadsheet shows them: the header is row 1)"
            + html_table(problems.head(limit), index=False)
            + (f"<i>and {more:,} more</i>" if more > 0 else ""))


def class_counts(report: ValidationReport) -> pd.DataFrame:
    """Rows per class of every head (valid rows only)."""
    rows = [{"head": head, "class": name, "rows": count}
            for head, counts in report.heads.items()
            for name, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    return pd.DataFrame(rows, columns=["head", "class", "rows"])


def token_histogram_png(report: ValidationReport) -> bytes | None:
    stats = report.token_stats
    if stats is None or not stats.histogram:
        return None
    figure = new_figure(6, 2.4)
    axes = figure.subplots()
    lows = [low for low, _, _ in stats.histogram]
    widths = [max(high - low, 1) for low, high, _ in stats.histogram]
    axes.bar(lows, [n for _, _, n in stats.histogram], width=widths, align="edge",
             color="tab:blue", edgecolor="white")
    axes.axvline(stats.p95, color="tab:orange", linestyle="--", label=f"p95 = {stats.p95}")
    axes.set(title=f"Tokens per row ({stats.tokenizer})", xlabel="tokens", ylabel="rows")
    axes.legend()
    return png_of(figure)


class ReportView(w.VBox):
    """A validation report as a person reads it: the verdict, the invalid rows with row, column
    and reason, the class counts per head, and the token-length histogram."""

    def __init__(self, report: ValidationReport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if report is not None:
            self.show(report)

    def show(self, report: ValidationReport) -> None:
        verdict = "can be frozen into a snapshot" if report.valid else "cannot be used for training"
        invalid = len(report.invalid_row_numbers)
        color = "var(--jp-success-color1)" if report.valid else "var(--jp-error-color1)"
        parts: list[w.Widget] = [w.HTML(
            f"<b>{html.escape(report.file)}</b>: {report.rows:,} rows, {report.valid_rows:,} valid, "
            f"{invalid:,} invalid &mdash; <span style='color:{color}'>{verdict}</span>"
        )]
        problems = problems_html(report)
        if problems:
            parts.append(w.HTML(problems))
        counts = class_counts(report)
        if len(counts):
            parts.append(w.HTML("<b>Rows per class</b>" + html_table(counts, index=False)))
        picture = token_histogram_png(report)
        if picture is not None:
            stats = report.token_stats
            assert stats is not None
            parts.append(w.HTML(
                f"<b>Tokens</b>: min {stats.min}, median {stats.p50}, p95 {stats.p95}, max {stats.max}"
            ))
            parts.append(w.Image(value=picture, format="png", layout=w.Layout(width="540px")))
        self.children = parts


class UploadForm(Panel):
    """Upload a CSV (or a zip of images) for a model type, read its validation report, and
    freeze it into a snapshot (with a test split when a test percent is set).

    The file comes from the picker (sent in slices) or, for a file already on the server
    (uploaded with JupyterLab's file browser, which also sends slices), from ``path``.
    After an upload ``dataset`` is the stored dataset; after freezing ``snapshot`` (and
    ``test_snapshot`` with a split) are the snapshots.
    """

    def __init__(self, automl: Any | None = None, *, model_type: str = "text_classification",
                 base_model: str | None = None, path: str = "", name: str = "") -> None:
        super().__init__(automl)
        self.dataset: Any = None
        self.snapshot: Any = None
        self.test_snapshot: Any = None
        types = [(t.value.replace("_", " "), t.value) for t in ModelType]
        self.model_type = w.Dropdown(options=types, value=ModelType.parse(model_type).value,
                                     description="Model type", style=STYLE, layout=WIDE)
        self.base_model = w.Dropdown(description="Base model (tokens)", style=STYLE, layout=WIDE)
        self.picker = ChunkedUpload(self.automl.staging, self.automl.check_upload_size)
        self.path = w.Text(value=path, description="or a file on the server", style=STYLE,
                           layout=WIDE, placeholder="data/reviews.csv")
        self.images = w.Text(description="Images zip (optional)", style=STYLE, layout=WIDE,
                             placeholder="for an image CSV whose images are in a zip")
        self.name = w.Text(value=name, description="Dataset name", style=STYLE, layout=WIDE,
                           placeholder="the file name when empty")
        self.upload_button = w.Button(description="Upload and validate", button_style="primary",
                                      icon="upload", layout=w.Layout(width="max-content"))
        self.report = ReportView()
        self.test_percent = w.BoundedIntText(value=20, min=0, max=90, description="Test split %",
                                             style=STYLE, tooltip="0: no test snapshot")
        self.freeze_button = w.Button(description="Freeze snapshot", icon="snowflake-o",
                                      disabled=True, layout=w.Layout(width="max-content"))
        self.model_type.observe(lambda _: self._fill_base_models(), "value")
        self.upload_button.on_click(lambda _: self.upload())
        self.freeze_button.on_click(lambda _: self.freeze())
        self._fill_base_models(base_model)
        self.children = [
            w.HTML("<h3>Upload a dataset</h3>"), self.model_type, self.base_model,
            w.HBox([w.Label("File", layout=w.Layout(width="170px")), self.picker]),
            self.path, self.images, self.name, self.upload_button, self.message, self.report,
            w.HBox([self.test_percent, self.freeze_button]),
        ]

    def _fill_base_models(self, chosen: str | None = None) -> None:
        kind = self.model_type.value
        models = self.attempt(lambda: self.automl.list_base_models(kind)) or []
        self.base_model.options = [(m.display_name, m.name) for m in models]
        names = [m.name for m in models]
        chosen = chosen or self.automl.registry.default_for(ModelType(kind)).name
        if chosen in names:
            self.base_model.value = chosen
        self.picker.accept = ".zip,.csv" if kind == ModelType.IMAGE_CLASSIFICATION.value else ".csv,.tsv"

    def _source(self) -> tuple[Path, bool]:
        """The file to upload, and whether it is the picker's (to be discarded after)."""
        if self.picker.complete and self.picker.path:
            return Path(self.picker.path), True
        if self.path.value.strip():
            return Path(self.path.value.strip()).expanduser(), False
        raise InvalidInput("choose a file, or give the path of a file on the server")

    def upload(self) -> None:
        """Store and validate the chosen file (on a thread: a large file takes a while)."""
        self.freeze_button.disabled = True
        self.run_in_background(self._upload, busy="uploading and validating...")

    def _upload(self) -> None:
        source, received = self._source()
        images = self.images.value.strip() or None
        try:
            dataset = self.automl.upload_dataset(
                source, self.model_type.value, name=self.name.value.strip() or None,
                images=images, base_model=self.base_model.value,
            )
        finally:
            if received:
                self.picker.discard()
        self.dataset = dataset
        report = dataset.validation
        self.report.show(report)
        self.freeze_button.disabled = not report.valid
        if report.valid:
            self.show_info(f"stored as dataset {dataset.id}; freeze it to train on it")
        else:
            first = "; ".join(str(e) for e in report.file_errors[:3])
            self.show_error(f"{dataset.name} cannot be used for training: {first}")

    def freeze(self) -> None:
        self.attempt(self._freeze)

    def _freeze(self) -> None:
        if self.dataset is None:
            raise InvalidInput("upload a dataset first")
        snapshot = self.automl.create_snapshot(self.dataset.id)
        self.snapshot, self.test_snapshot = snapshot, None
        if self.test_percent.value:
            split = self.automl.split_snapshot(snapshot.id, self.test_percent.value)
            self.snapshot, self.test_snapshot = split.train, split.test
            self.show_info(f"snapshot {split.train.id} ({split.train.rows} training rows) and "
                           f"test snapshot {split.test.id} ({split.test.rows} rows)")
        else:
            self.show_info(f"snapshot {snapshot.id} ({snapshot.rows} rows)")

