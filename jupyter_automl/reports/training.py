"""What a training notebook shows, as functions a template cell calls in one line.

A template's parameters arrive as strings and numbers (papermill), so this module turns them
into engine arguments: a snapshot id or folder, a base model name, folder or JSON entry, and
options as JSON. Every ``show_*`` method displays rich output in a notebook and prints text
elsewhere, and returns the table it showed so it can be tested without a kernel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from IPython import get_ipython
from IPython.display import Image, Markdown, display

from ..base_models.builtin import DEFAULTS
from ..base_models.entry import BaseModelEntry
from ..base_models.registry import BaseModelRegistry
from ..errors import InvalidInput, NotFound
from ..kernel_jobs.progress import ProgressFile
from ..model_types import ModelType
from ..training.callbacks import Callback, ProgressBar, TrainingState
from ..training.options import ResolvedOptions, resolve_options
from ..training.run import SnapshotData, TrainingResult, resolve_base_model, train
from . import tables
from .live import LiveCurve

SHOW_INVALID_ROWS = 20


def _display(obj: Any) -> None:
    if get_ipython() is not None:
        display(obj)
    else:
        print(obj.to_string() if isinstance(obj, pd.DataFrame) else obj)


def _markdown(text: str) -> None:
    if get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)


def resolve_snapshot(snapshot: str, *, data_dir: str = "", store_url: str = "") -> SnapshotData:
    """A snapshot folder, or the id of a snapshot in the store (``data_dir``/``store_url``, else
    the configured defaults)."""
    if not snapshot:
        raise InvalidInput("the `snapshot` parameter is empty: give a snapshot id or folder")
    if Path(snapshot).expanduser().is_dir():
        return SnapshotData.load(Path(snapshot).expanduser())
    from ..config import load_automl

    automl = load_automl(data_dir=data_dir or None, store_url=store_url or None)
    try:
        return SnapshotData.load(automl.get_snapshot(snapshot).path)
    except NotFound as error:
        raise NotFound(f"{snapshot!r} is neither a snapshot folder nor a snapshot id: {error}")
    finally:
        automl.close()


def resolve_entry(base_model: str, model_type: ModelType) -> BaseModelEntry:
    """A JSON entry (what the job system passes), a name registered in the configuration, a
    built-in name, or a folder; empty means the type's default."""
    text = (base_model or "").strip()
    if text.startswith("{"):
        return BaseModelEntry.from_dict(json.loads(text))
    if text.startswith('"'):
        text = json.loads(text)
    if text:
        from ..config import load_config

        configured = load_config().get("AutoML", {}).get("base_models", [])
        registry = BaseModelRegistry.from_config(list(configured) if isinstance(configured, list) else [])
        if text in registry:
            return registry.get(text)
    return resolve_base_model(text or DEFAULTS[model_type], model_type)


class _DataShown(Callback):
    """Shows the rows the engine will train on, and those it left out, before training starts."""

    def __init__(self, report: "TrainingReport") -> None:
        self.report = report

    def on_prepared(self, state: TrainingState, preparation: dict[str, Any]) -> None:
        self.report.prepared = preparation
        splits = preparation["splits"]
        invalid = preparation["invalid_rows"]
        _markdown(
            f"**Rows used:** {splits['train']} training, {splits['validation']} validation "
            f"(choose the epoch), {splits['test']} test (scored once, at the end). "
            f"**Left out by the engine:** {len(invalid)}."
        )
        if invalid:
            _display(pd.DataFrame(invalid[:SHOW_INVALID_ROWS]))


class TrainingReport:
    """One training run as a notebook tells it: the data, the training, the choice, the results."""

    def __init__(
        self,
        *,
        snapshot: str,
        output_dir: str,
        base_model: str = "",
        options: str | dict[str, Any] = "{}",
        test_snapshot: str = "",
        test_percent: int | None = 20,
        data_dir: str = "",
        store_url: str = "",
        progress_file: str = "",
        resume: bool = False,
        model_name: str = "",
        processes: int = 0,
    ) -> None:
        """``processes``: training processes, one per GPU (0: every GPU this kernel sees)."""
        self.data = resolve_snapshot(snapshot, data_dir=data_dir, store_url=store_url)
        self.model_type = self.data.model_type
        self.test: SnapshotData | int | None = (
            resolve_snapshot(test_snapshot, data_dir=data_dir, store_url=store_url)
            if test_snapshot else (int(test_percent) if test_percent is not None else None)
        )
        self.entry = resolve_entry(base_model, self.model_type)
        if isinstance(options, str):
            try:
                options = json.loads(options or "{}")
            except ValueError as error:
                raise InvalidInput(f"the `options` parameter is not JSON: {error}") from None
        self.options: dict[str, Any] = dict(options)
        self.resolved: ResolvedOptions = resolve_options(
            self.options, model_type=self.model_type,
            base_model=self.entry, heads=list(self.data.heads),
        )
        self.output_dir = Path(output_dir)
        self.progress_file = progress_file
        self.resume = resume
        self.processes = int(processes) or None
        self.model_name = model_name
        self.prepared: dict[str, Any] | None = None
        self.result: TrainingResult | None = None

    # -- before training -----------------------------------------------------------------------

    def show_data(self) -> pd.DataFrame:
        """The snapshot, the test data, and what the upload's validation left out."""
        name = self.entry.display_name or self.entry.name
        test = (
            f"test snapshot `{self.test.content_hash[:12]}` ({len(self.test.rows)} rows)"
            if isinstance(self.test, SnapshotData) else f"{self.test or 20}% of the rows, seed {self.resolved.seed}"
        )
        _markdown(
            f"**{self.model_name or 'Model'}** — {self.model_type.value}, base model `{name}`, "
            f"method `{self.resolved.method}`\n\n"
            f"**Snapshot** `{self.data.content_hash[:12]}`: {len(self.data.rows)} rows. "
            f"**Test data:** {test}. **Validation:** {self.resolved.validation_percent}% of the "
            f"training rows choose the epoch."
        )
        if self.data.heads:
            counts = json.loads((self.data.path / "manifest.json").read_text())["heads"]
            table = pd.DataFrame(
                [{"head": h, "class": c, "rows": n} for h, cs in counts.items() for c, n in cs.items()]
            )
        else:
            columns = [c for c in ("prompt", "completion", "system_prompt", "prompt_history")
                       if c in self.data.rows.columns]
            table = self.data.rows[columns].head(5)
        _display(table)
        report_file = self.data.path / "report.json"
        if report_file.is_file():
            report = json.loads(report_file.read_text(encoding="utf-8"))
            invalid = [e for e in report.get("errors", []) if e.get("row") is not None]
            if invalid:
                _markdown(f"**The upload's validation left out {len(invalid)} row(s):**")
                _display(pd.DataFrame(invalid[:SHOW_INVALID_ROWS]))
        return table

    def show_options(self) -> pd.DataFrame:
        resolved = json.loads(self.resolved.model_dump_json())
        table = pd.DataFrame(
            [{"option": k, "value": json.dumps(v) if isinstance(v, (list, dict)) else v,
              "set by": "you" if k in self.options else "default"} for k, v in resolved.items()]
        )
        _display(table)
        return table

    # -- training ------------------------------------------------------------------------------

    def train(self, *, callbacks: list[Callback] | None = None, live_every_seconds: float = 5.0) -> TrainingResult:
        """Train with a progress bar and a live curve; the version folder is ``output_dir``."""
        curve = LiveCurve(every_seconds=live_every_seconds, title=self.model_name)
        label = self.resolved.selection_label
        curve.rule = self.resolved.selection_rule + (f" ({label})" if label and self.resolved.selection_rule != "loss" else "")
        every: list[Callback] = [ProgressBar(), curve, _DataShown(self), *(callbacks or [])]
        if self.progress_file:
            every.append(ProgressFile(self.progress_file))
        self.result = train(
            self.data, self.entry, self.options, out_dir=self.output_dir, test=self.test,
            callbacks=every, resume=self.resume, processes=self.processes,
        )
        metrics = self.result.metrics
        _markdown(f"**Trained on** {metrics['device']}: {metrics['steps']} steps in "
                  f"{metrics['training_seconds']:.1f} s.")
        return self.result

    def _require_result(self) -> TrainingResult:
        if self.result is None:
            raise InvalidInput("train() has not run yet")
        return self.result

    # -- after training ------------------------------------------------------------------------

    def epochs(self) -> pd.DataFrame:
        """Every evaluation: epoch, step, training loss, the selection value and the metrics,
        with ``chosen`` marking the one that became the model."""
        return tables.epochs_table(self._require_result().metrics)

    def show_epochs(self) -> pd.DataFrame:
        table = self.epochs()
        _display(table)
        return table

    def show_selection(self) -> dict[str, Any]:
        result = self._require_result()
        selection = result.selection
        _markdown(f"**Chosen:** {selection['why']}.")
        return selection

    def test_metrics(self) -> pd.DataFrame:
        """Classification: per head and class precision, recall, F1, support, with the head's
        balanced accuracy and macro F1. LLMs: loss and token accuracy, base vs tuned."""
        metrics = self._require_result().metrics
        if self.model_type.is_llm:
            return tables.llm_comparison(metrics)
        heads = list((metrics["test"].get("heads") or {}))
        return pd.concat(
            [tables.head_table(metrics, head).reset_index().assign(head=head) for head in heads],
            ignore_index=True,
        )[["head", "class", "precision", "recall", "f1", "support", *tables.HEAD_COLUMNS]]

    def show_test_metrics(self) -> pd.DataFrame:
        table = self.test_metrics()
        if self.model_type.is_llm:
            _markdown(
                "**Base model vs fine-tuned, on the test rows** (loss: mean cross-entropy over "
                "completion tokens, lower is better; token accuracy: share of completion tokens "
                "predicted exactly, higher is better):"
            )
        else:
            _markdown(
                "**Test metrics of the chosen epoch** (balanced accuracy = mean recall over the "
                "classes):"
            )
        _display(table)
        return table

    def show_plots(self) -> list[Path]:
        result = self._require_result()
        plots = [result.version_dir / p for p in result.metrics.get("plots", [])]
        for path in plots:
            _markdown(f"`{path.name}`")
            _display(Image(filename=str(path)))
        return plots

    def show_where(self) -> Path:
        result = self._require_result()
        _markdown(
            f"**Saved** in `{result.version_dir}`: `model/`, `metrics.json`, `plots/`, "
            f"`options.json`, `version.json`."
        )
        return result.version_dir
