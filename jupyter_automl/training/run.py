"""``train``: one run from a snapshot, a base model and options to a complete version directory.

The version directory (DESIGN §2) is built in ``<out_dir>.partial`` and renamed into place
only when everything is written, so a crash, a failure or a cancelled run never leaves a
directory that looks like a model::

    <out_dir>/model/             the trained model (``from_pretrained`` format; LoRA adapter
                                 beside it)
              metrics.json       test metrics of the selected evaluation, base-model metrics
                                 (LLMs), the selection and why, the history of every evaluation
              predictions.jsonl  classifiers only: one JSON object per test row with its true
                                 class, predicted class and score for every head, the rows
                                 behind the test confusion matrices (``heads.prediction_table``)
              plots/             PR curves, confusion matrices, metric-vs-epoch curves (PNG)
              options.json       the resolved options
              version.json       model type, base model, snapshot hashes, what the predictor loads

Rows are split three ways: the training snapshot loses ``validation_percent`` of its rows
(stratified on the selection label) to pick the epoch and stop early; the test data (a
separate snapshot, or a seeded percentage of the training snapshot) is scored once, on the
selected model, so its metrics are not tuned to it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..base_models.builtin import DEFAULTS
from ..base_models.entry import BaseModelEntry
from ..base_models.registry import BaseModelRegistry
from ..datasets.snapshots import check_test_snapshot, read_rows
from ..datasets.split import split_rows
from ..errors import Conflict, DataValidationError, InvalidInput, NotFound
from ..evaluation import compare, write_plots
from ..model_types import ModelType
from .callbacks import (
    Callback,
    CallbackList,
    ProgressBar,
    StopSignal,
    TrainingState,
    as_stop_signal,
)
from .devices import Placement, choose_placement, seed_everything
from .launcher import launch, processes_for
from .loop import run_loop
from .options import ResolvedOptions, TrainingOptions, resolve_options
from .parallel import SINGLE, Group
from .task import Task

VERSION_FORMAT = 1
DEFAULT_TEST_PERCENT = 20
PREDICTIONS_FILE = "predictions.jsonl"


@dataclass
class SnapshotData:
    """A frozen snapshot read from its directory: rows, heads and identity."""

    path: Path
    model_type: ModelType
    content_hash: str
    rows: pd.DataFrame
    heads: dict[str, list[str]]  # head -> classes, sorted

    @classmethod
    def load(cls, snapshot: "SnapshotData | str | os.PathLike[str] | Any") -> "SnapshotData":
        if isinstance(snapshot, SnapshotData):
            return snapshot
        path = Path(getattr(snapshot, "path", snapshot))
        manifest_file = path / "manifest.json"
        if not manifest_file.is_file():
            raise NotFound(f"{str(path)!r} is not a snapshot directory (no manifest.json)")
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        heads = {h: sorted(counts) for h, counts in (manifest.get("heads") or {}).items()}
        return cls(
            path=path,
            model_type=ModelType.parse(manifest["model_type"]),
            content_hash=manifest.get("content_hash", path.name),
            rows=read_rows(path),
            heads=heads,
        )

    @property
    def images(self) -> Path:
        return self.path / "images"


@dataclass
class TrainingResult:
    version_dir: Path
    metrics: dict[str, Any]
    options: ResolvedOptions
    history: list[dict[str, Any]] = field(default_factory=list)
    invalid_rows: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    stop_requested: bool = False

    @property
    def selection(self) -> dict[str, Any]:
        return self.metrics["selection"]

    @classmethod
    def read(cls, version_dir: Path, options: ResolvedOptions) -> "TrainingResult":
        """The result of a run from the version directory it wrote."""
        metrics = json.loads((version_dir / "metrics.json").read_text(encoding="utf-8"))
        return cls(
            version_dir=version_dir, metrics=metrics, options=options,
            history=metrics["history"], invalid_rows=metrics["data"]["invalid_rows"],
            stopped_early=metrics["stopped_early"], stop_requested=metrics["stop_requested"],
        )


def resolve_base_model(
    base_model: BaseModelEntry | str | os.PathLike[str], model_type: ModelType
) -> BaseModelEntry:
    """An entry, a built-in name, or a local ``save_pretrained`` folder."""
    if isinstance(base_model, BaseModelEntry):
        return base_model
    registry = BaseModelRegistry()
    name = str(base_model)
    if name in registry:
        return registry.get(name)
    path = Path(name).expanduser()
    if path.exists():
        return BaseModelEntry.from_dict(
            {"name": "local-model", "model_types": [model_type.value], "source": "local",
             "location": str(path.resolve())}
        )
    raise NotFound(
        f"unknown base model {name!r}: not a registered name ({', '.join(registry.names())}) "
        "and not a folder on disk"
    )


def _test_rows(
    train: SnapshotData, test: SnapshotData | str | os.PathLike[str] | int | None, seed: int,
    stratify_by: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], SnapshotData | None]:
    """(training rows, test rows, how the test data was chosen, the test snapshot if any)."""
    if test is None or isinstance(test, int) and not isinstance(test, bool):
        percent = DEFAULT_TEST_PERCENT if test is None else test
        rows, held_out = split_rows(train.rows, percent, seed=seed, stratify_by=stratify_by)
        return rows, held_out, {"split_percent": percent, "seed": seed}, None
    snapshot = SnapshotData.load(test)
    check_test_snapshot(train.model_type.value, train.heads, snapshot.model_type.value, snapshot.heads)
    return train.rows, snapshot.rows, {"snapshot": snapshot.content_hash}, snapshot


def _make_task(
    options: ResolvedOptions,
    placement: Placement,
    entry: BaseModelEntry,
    snapshot: SnapshotData,
    parts: dict[str, pd.DataFrame],
    image_dirs: dict[str, Path],
    cache_dir: str | Path | None,
) -> Task:
    kind = snapshot.model_type
    common = dict(
        entry=entry,
        train_rows=parts["train"],
        validation_rows=parts["validation"],
        test_rows=parts["test"],
        cache_dir=cache_dir,
    )
    if kind.is_llm:
        from .llm import LLMTask

        return LLMTask(options, placement, chat=kind is ModelType.LLM_CHAT, **common)
    if kind is ModelType.TEXT_CLASSIFICATION:
        from .text_classification import TextClassificationTask

        return TextClassificationTask(options, placement, heads=snapshot.heads, **common)
    from .image_classification import ImageClassificationTask

    return ImageClassificationTask(
        options, placement, heads=snapshot.heads, image_dirs=image_dirs, **common
    )


def _check_invalid(
    rows: int, invalid: Sequence[dict[str, Any]], limit: int, training_rows: int | None
) -> None:
    if not rows or not invalid:
        return
    percent = 100.0 * len(invalid) / rows
    listed = "; ".join(f"row {r['row']}: {r['reason']}" for r in invalid[:20])
    more = f" (and {len(invalid) - 20} more)" if len(invalid) > 20 else ""
    if percent > limit:
        raise DataValidationError(
            f"{len(invalid)} of {rows} training rows ({percent:.1f}%) are invalid, more than "
            f"max_invalid_row_percent ({limit}%): {listed}{more}",
            details={"invalid_rows": list(invalid), "percent": percent, "limit": limit},
        )
    if training_rows == 0:
        raise DataValidationError(
            f"no training rows are left after leaving out the {len(invalid)} invalid one(s): "
            f"{listed}{more}",
            details={"invalid_rows": list(invalid), "percent": percent, "limit": limit},
        )


def _selection_summary(options: ResolvedOptions, outcome: Any) -> dict[str, Any]:
    best = outcome.best_metrics or {}
    rule, label = options.selection_rule, options.selection_label
    target = f"{rule} on head {label!r}" if label and rule != "loss" else rule
    direction = "lowest" if rule == "loss" else "highest"
    value = best.get("selection_value")
    shown = f"{value:.4f}" if isinstance(value, float) else value  # the exact value is in "value"
    why = (
        f"epoch {best.get('epoch')} (step {best.get('step')}) had the {direction} validation "
        f"{target}: {shown} over {len(outcome.state.history)} evaluation(s)"
    )
    if outcome.stopped_early:
        why += f"; training stopped early after {options.early_stopping} without improvement"
    if outcome.stop_requested:
        why += "; training was stopped on request"
    return {
        "rule": rule,
        "label": label,
        "value": best.get("selection_value"),
        "epoch": best.get("epoch"),
        "step": best.get("step"),
        "why": why,
    }


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8"
    )


def write_jsonl(path: Path, table: pd.DataFrame) -> None:
    """One JSON object per row, UTF-8 with non-ASCII text as it is; a missing cell is null."""
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n")


def train(
    snapshot: SnapshotData | str | os.PathLike[str],
    base_model: BaseModelEntry | str | None = None,
    options: TrainingOptions | Mapping[str, Any] | None = None,
    *,
    out_dir: str | os.PathLike[str],
    test: SnapshotData | str | os.PathLike[str] | int | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    stop: StopSignal | str | os.PathLike[str] | None = None,
    resume: bool = False,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    processes: int | None = None,
) -> TrainingResult:
    """Train one model version and write its directory; return its metrics.

    ``snapshot`` is a snapshot directory; ``test`` a test snapshot directory, or the percent of
    the training rows to hold out (seeded, stratified; default 20). ``stop`` is a
    :class:`StopSignal` or a file whose appearance ends training after the current step (the
    best evaluation so far is kept). ``resume=True`` goes on from the last checkpoint of an
    interrupted run with the same ``out_dir``. ``progress=True`` adds a tqdm progress bar.

    ``processes`` trains data-parallel in that many processes, one per GPU (``launcher.py``);
    by default every GPU this process sees, or one process without GPUs or with ``device``
    given. ``batch_size`` is then per process: an optimizer step takes ``batch_size x
    gradient_accumulation x processes`` rows.
    """
    count = processes_for(processes, device)
    every = CallbackList([*([ProgressBar()] if progress else []), *callbacks])
    if count == 1:
        result = run_here(snapshot, base_model, options, out_dir=out_dir, test=test,
                          callbacks=[every], stop=stop, resume=resume, cache_dir=cache_dir,
                          device=device)
        assert result is not None
        return result
    # What can be checked here is, before any process starts.
    data, entry, resolved, final = _run_inputs(snapshot, base_model, options, out_dir)
    if isinstance(test, SnapshotData):
        test = str(test.path)
    elif test is not None and not isinstance(test, int):
        test = str(test)
    spec = {
        "snapshot": str(data.path), "base_model": entry.to_dict(),
        "options": json.loads(resolved.model_dump_json(include=set(TrainingOptions.model_fields))),
        "out_dir": str(final.resolve()),
        "test": test, "resume": resume, "cache_dir": str(cache_dir) if cache_dir else None,
    }
    launch(spec, processes=count, out_dir=final.resolve(), callbacks=every,
           stop=as_stop_signal(stop))
    return TrainingResult.read(final, resolved)


def _run_inputs(
    snapshot: SnapshotData | str | os.PathLike[str],
    base_model: BaseModelEntry | str | None,
    options: TrainingOptions | Mapping[str, Any] | None,
    out_dir: str | os.PathLike[str],
) -> tuple[SnapshotData, BaseModelEntry, ResolvedOptions, Path]:
    """A run's snapshot, base model, resolved options and version directory, checked."""
    data = SnapshotData.load(snapshot)
    entry = resolve_base_model(base_model or DEFAULTS[data.model_type], data.model_type)
    resolved = resolve_options(options, model_type=data.model_type, base_model=entry,
                               heads=list(data.heads))
    final = Path(out_dir)
    if final.exists():
        raise Conflict(f"{str(final)!r} already exists; a version directory is never overwritten")
    return data, entry, resolved, final


def run_here(
    snapshot: SnapshotData | str | os.PathLike[str],
    base_model: BaseModelEntry | str | None,
    options: TrainingOptions | Mapping[str, Any] | None,
    *,
    out_dir: str | os.PathLike[str],
    test: SnapshotData | str | os.PathLike[str] | int | None,
    callbacks: Sequence[Callback],
    stop: StopSignal | str | os.PathLike[str] | None,
    resume: bool,
    cache_dir: str | Path | None,
    device: str | None,
    group: Group = SINGLE,
) -> TrainingResult | None:
    """``train`` in this process, alone or as one rank of ``group``: rank 0 writes the version
    directory and returns the result; the other ranks train beside it and return None."""
    started = time.perf_counter()
    data, entry, resolved, final = _run_inputs(snapshot, base_model, options, out_dir)
    kind = data.model_type
    work = final.with_name(final.name + ".partial")
    stop_signal = as_stop_signal(stop)
    if group.leader:
        if work.exists() and not resume:
            shutil.rmtree(work)
        if resume and (work / "options.json").exists():
            before = json.loads((work / "options.json").read_text(encoding="utf-8"))
            if before != json.loads(resolved.model_dump_json()):
                raise InvalidInput("resume: the options differ from the interrupted run's")
        work.mkdir(parents=True, exist_ok=True)
        write_json(work / "options.json", json.loads(resolved.model_dump_json()))
    group.barrier()

    seed_everything(resolved.seed)
    placement = choose_placement(resolved.precision, device)
    label = resolved.selection_label
    train_rows, test_rows, test_source, test_snapshot = _test_rows(data, test, resolved.seed, label)
    if resolved.validation_percent:
        train_rows, validation_rows = split_rows(
            train_rows, resolved.validation_percent, seed=resolved.seed, stratify_by=label
        )
    else:
        validation_rows = test_rows
    parts = {"train": train_rows, "validation": validation_rows, "test": test_rows}
    image_dirs = {
        "train": data.images,
        "validation": data.images if resolved.validation_percent else (test_snapshot or data).images,
        "test": (test_snapshot or data).images,
    }
    task = _make_task(resolved, placement, entry, data, parts, image_dirs, cache_dir)
    every = CallbackList(list(callbacks))

    preparation = task.prepare()
    every.on_prepared(
        TrainingState(phase="prepared"),
        {"rows": preparation.rows, "invalid_rows": preparation.invalid_rows,
         "summary": preparation.summary, "splits": {k: len(v) for k, v in parts.items()}},
    )
    _check_invalid(
        preparation.rows, preparation.invalid_rows, resolved.max_invalid_row_percent,
        preparation.training_rows,
    )
    base_metrics = None
    if kind.is_llm and group.leader:
        every.on_log(
            TrainingState(phase="evaluating_base"),
            f"scoring the base model on the {len(parts['test'])} test rows before training",
        )
        base_metrics = task.evaluate("test")
        every.on_log(
            TrainingState(phase="evaluating_base"),
            f"base model on the test rows: loss {base_metrics['loss']}, "
            f"token accuracy {base_metrics['token_accuracy']}",
        )
    outcome = run_loop(
        task, resolved, checkpoint_dir=work / "checkpoints", callbacks=every,
        stop=stop_signal, resume=resume, group=group,
    )
    if not group.leader:
        return None
    outcome.state.phase = "evaluating"
    test_metrics = task.evaluate("test")
    selection = _selection_summary(resolved, outcome)
    metrics: dict[str, Any] = {
        "model_type": kind.value,
        "base_model": entry.name,
        "selection": selection,
        "validation": outcome.best_metrics,
        "test": test_metrics,
        "history": outcome.state.history,
        "stopped_early": outcome.stopped_early,
        "stop_requested": outcome.stop_requested,
        "steps": outcome.state.step,
        "data": {
            "rows": {k: len(v) for k, v in parts.items()},
            "test_source": test_source,
            "invalid_rows": preparation.invalid_rows,
            **preparation.summary,
        },
        "model": task.describe(),
        "device": placement.label if group.size == 1 else f"{group.size} x {placement.label}",
        "processes": group.size,
        "training_seconds": round(outcome.state.elapsed_seconds, 3),
    }
    if base_metrics is not None:
        metrics["base"] = base_metrics
        metrics["comparison"] = compare(base_metrics, test_metrics)
    outcome.state.phase = "saving"
    predictions = task.test_predictions()
    if predictions is not None:
        write_jsonl(work / PREDICTIONS_FILE, predictions)
        metrics["predictions"] = PREDICTIONS_FILE
    predictor = task.save(work / "model")
    plots = write_plots(test_metrics, outcome.state.history, work / "plots", selection=selection)
    metrics["plots"] = [str(p.relative_to(work)) for p in plots]
    metrics["total_seconds"] = round(time.perf_counter() - started, 3)
    write_json(work / "metrics.json", metrics)
    write_json(
        work / "version.json",
        {
            "format": VERSION_FORMAT,
            "model_type": kind.value,
            "base_model": entry.to_dict(),
            "snapshot": data.content_hash,
            "test": test_source,
            "predictor": predictor,
        },
    )
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    os.replace(work, final)
    outcome.state.phase = "done"
    every.on_train_end(outcome.state)
    return TrainingResult(
        version_dir=final,
        metrics=metrics,
        options=resolved,
        history=outcome.state.history,
        invalid_rows=preparation.invalid_rows,
        stopped_early=outcome.stopped_early,
        stop_requested=outcome.stop_requested,
    )


def evaluate(
    model: BaseModelEntry | str | os.PathLike[str],
    snapshot: SnapshotData | str | os.PathLike[str],
    *,
    max_tokens: int | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Score a model on every row of a snapshot: a trained version directory or a base model.

    A base model is scored as it is (for an LLM: before any fine-tuning; for a classifier: its
    built-in heads, and untrained new heads). Returns the same metrics as a run's test metrics.
    """
    data = SnapshotData.load(snapshot)
    version_file = Path(model) / "version.json" if not isinstance(model, BaseModelEntry) else None
    if version_file is not None and version_file.is_file():
        version = json.loads(version_file.read_text(encoding="utf-8"))
        if version["model_type"] != data.model_type.value:
            raise InvalidInput(
                f"the model is {version['model_type']}; the snapshot is {data.model_type.value} data"
            )
        if data.model_type.is_classification:
            from .predictor import load_predictor

            return load_predictor(Path(model), device=device).evaluate(data)
        entry = BaseModelEntry.from_dict(
            {"name": "trained-version", "model_types": [data.model_type.value],
             "source": "local", "location": str(Path(model).resolve() / "model")}
        )
    else:
        entry = resolve_base_model(model, data.model_type)
    options: dict[str, Any] = {"method": "full" if "full" in entry.training_methods else None}
    if data.model_type.is_llm and max_tokens is not None:
        options["max_tokens"] = max_tokens
    resolved = resolve_options(
        options, model_type=data.model_type, base_model=entry, heads=list(data.heads)
    )
    placement = choose_placement(resolved.precision, device)
    empty = data.rows.iloc[0:0]
    parts = {"train": data.rows, "validation": empty, "test": data.rows}
    task = _make_task(
        resolved, placement, entry, data, parts, {k: data.images for k in parts}, cache_dir
    )
    task.prepare()
    return task.evaluate("test")
