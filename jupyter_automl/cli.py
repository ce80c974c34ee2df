"""`jupyter automl ...`: the command line. It parses arguments, calls the Python API, prints.

Exit codes: 0 success (for ``datasets validate``: the file may be used for training),
1 the data or the request was refused by the rules, 2 usage errors (bad arguments, no such file
or id).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .cli_serving import add_commands as add_serving_commands
from .config import load_automl
from .errors import AutoMLError, InvalidInput, NotFound
from .model_types import ModelType
from .reports.summary import job_progress, progress_parts, version_summary

TYPES = [t.value for t in ModelType]
USAGE_ERRORS = (InvalidInput, NotFound)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _validation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", required=True, choices=TYPES, dest="model_type", help="model type")
    p.add_argument("--images", help="zip of images (image_classification)")
    p.add_argument("--base-model", help="base model whose tokenizer and limits apply")
    p.add_argument("--max-tokens", type=int, help="LLM: longest row in tokens (default 2048)")
    p.add_argument("--max-invalid-row-percent", type=int, default=5)


def _validation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        images=args.images,
        base_model=args.base_model,
        max_tokens=args.max_tokens,
        max_invalid_row_percent=args.max_invalid_row_percent,
    )


def cmd_validate(automl, args) -> int:
    report = automl.validate(args.file, args.model_type, **_validation_kwargs(args))
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0 if report.valid else 1


def cmd_upload(automl, args) -> int:
    dataset = automl.upload_dataset(
        args.file, args.model_type, name=args.name, **_validation_kwargs(args)
    )
    if args.json:
        _print_json(dataset.to_json())
    else:
        print(f"dataset {dataset.id} ({dataset.name}) stored")
        print(dataset.validation.summary())
    return 0 if dataset.valid else 1


def cmd_datasets_list(automl, args) -> int:
    items = [d.to_json() for d in automl.list_datasets(args.model_type)]
    if args.json:
        _print_json(items)
    else:
        print(_table(items, ["id", "name", "model_type", "rows", "valid_rows", "valid", "created_at"]))
    return 0


def cmd_datasets_show(automl, args) -> int:
    dataset = automl.get_dataset(args.id)
    if args.json:
        _print_json(dataset.to_json())
    else:
        print(f"{dataset.id}  {dataset.name}  ({dataset.filename}, {dataset.size_bytes:,} bytes)")
        print(dataset.validation.summary())
    return 0


def _show_snapshot(snapshot, as_json: bool) -> None:
    if as_json:
        _print_json(snapshot.to_json())
        return
    print(
        f"{snapshot.id}  {snapshot.name}  {snapshot.model_type}  {snapshot.rows} rows  "
        f"role={snapshot.role}  hash={snapshot.content_hash[:12]}"
    )
    for head, counts in snapshot.heads.items():
        print(f"  head {head!r}: " + ", ".join(f"{c}={n}" for c, n in counts.items()))


def cmd_snapshots_create(automl, args) -> int:
    snapshot = automl.create_snapshot(args.dataset_id, name=args.name, role=args.role)
    if args.test_percent:
        split = automl.split_snapshot(
            snapshot.id, args.test_percent, seed=args.seed, stratify_by=args.stratify_by
        )
        if args.json:
            _print_json({"snapshot": snapshot.to_json(), **split.to_json()})
        else:
            for part in (snapshot, split.train, split.test):
                _show_snapshot(part, False)
        return 0
    _show_snapshot(snapshot, args.json)
    return 0


def cmd_snapshots_split(automl, args) -> int:
    split = automl.split_snapshot(
        args.id, args.test_percent, seed=args.seed, stratify_by=args.stratify_by
    )
    if args.json:
        _print_json(split.to_json())
    else:
        _show_snapshot(split.train, False)
        _show_snapshot(split.test, False)
    return 0


def cmd_snapshots_list(automl, args) -> int:
    items = [s.to_json() for s in automl.list_snapshots(args.model_type)]
    if args.json:
        _print_json(items)
    else:
        print(_table(items, ["id", "name", "model_type", "rows", "role", "is_example", "created_at"]))
    return 0


def cmd_snapshots_show(automl, args) -> int:
    _show_snapshot(automl.get_snapshot(args.id), args.json)
    return 0


def cmd_snapshots_examples(automl, args) -> int:
    made = automl.ensure_example_snapshots(args.model_type and [args.model_type])
    for snapshot in made:
        _show_snapshot(snapshot, args.json)
    return 0


def cmd_base_models(automl, args) -> int:
    items = [m.to_json() for m in automl.list_base_models(args.model_type)]
    if args.json:
        _print_json(items)
    else:
        for item in items:
            item["model_types"] = ",".join(item["model_types"])
            item["methods"] = ",".join(item["training_methods"])
        print(_table(items, ["name", "display_name", "model_types", "source", "methods"]))
    return 0


def _options(args) -> dict[str, Any] | None:
    """``--options JSON`` and any ``--option key=value`` (the value read as JSON when it parses)."""
    options: dict[str, Any] | None = None
    if args.options:
        try:
            options = json.loads(args.options)
        except ValueError as error:
            raise InvalidInput(f"--options is not JSON: {error}") from None
        if not isinstance(options, dict):
            raise InvalidInput("--options must be a JSON object, e.g. '{\"max_epochs\": 3}'")
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--option {item!r}: write key=value")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        options = {**(options or {}), key.strip(): parsed}
    return options


def _option_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--options", help="training options as a JSON object")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="one training option")


def _show_model(model, as_json: bool) -> None:
    if as_json:
        _print_json(model.to_json())
        return
    test = (f"test snapshot {model.test_snapshot_id}" if model.test_snapshot_id
            else f"{model.test_split_percent}% test split")
    print(f"{model.id}  {model.name}  {model.model_type}  base={model.base_model}")
    print(f"  data: snapshot {model.train_snapshot_id}, {test}; options {json.dumps(model.options)}")
    for v in getattr(model, "versions", []):
        line = f"  v{v.version}  {v.status:9s}  snapshot {(v.snapshot_hash or '')[:12]}"
        if v.metrics:
            line += "  " + "; ".join(version_summary(v.metrics, chosen=False))
        if v.error:
            line += f"  error: {v.error}"
        print(line)
        if v.notebook_path:
            print(f"       report: {v.notebook_path}")


def cmd_models_create(automl, args) -> int:
    model = automl.create_model(
        args.name, args.snapshot, base_model=args.base_model,
        test_snapshot_id=args.test_snapshot, test_percent=args.test_percent,
        options=_options(args), description=args.description or "",
    )
    _show_model(model, args.json)
    return 0


def cmd_models_list(automl, args) -> int:
    items = [m.to_json() for m in automl.list_models(args.model_type)]
    if args.json:
        _print_json(items)
    else:
        print(_table(items, ["id", "name", "model_type", "base_model", "created_at"]))
    return 0


def cmd_models_show(automl, args) -> int:
    _show_model(automl.get_model(args.model), args.json)
    return 0


def _show_job(job, as_json: bool) -> None:
    if as_json:
        _print_json(job.to_json())
        return
    print(f"job {job.id}: {job.model_name} v{job.version}  {job.status}"
          + (" (cancel requested)" if job.cancel_requested and not job.done else ""))
    progress = progress_parts(job)
    if progress:
        print("  " + ", ".join(progress))
    if job.error:
        print(f"  error: {job.error}")
    if job.notebook_path:
        print(f"  notebook: {job.notebook_path}")


def cmd_train(automl, args) -> int:
    job = automl.train(
        args.model, options=_options(args), snapshot_id=args.snapshot,
        test_snapshot_id=args.test_snapshot, test_percent=args.test_percent,
    )
    info = job.info()
    print(f"queued job {info.id}: {info.model_name} v{info.version}")
    if not args.wait:
        return 0
    info = job.wait(on_update=lambda i: print(f"  {job_progress(i)}", flush=True))
    _show_job(info, args.json)
    if info.status == "succeeded":
        version = automl.get_version(info.model_id, info.version)
        for line in version_summary(version.metrics):
            print(f"  {line}")
        print(f"  report: {version.notebook_path}")
        return 0
    return 1


def cmd_jobs_list(automl, args) -> int:
    items = []
    for job in automl.list_jobs(status=args.status, model=args.model):
        state = (job.progress or {}).get("state") or {}
        items.append({**job.to_json(), "model": f"{job.model_name} v{job.version}",
                      "progress": f"{state.get('step', 0)}/{state.get('total_steps') or '?'}"})
    if args.json:
        _print_json(items)
    else:
        print(_table(items, ["id", "model", "status", "progress", "created_at", "error"]))
    return 0


def cmd_jobs_show(automl, args) -> int:
    _show_job(automl.get_job(args.id), args.json)
    return 0


def cmd_jobs_cancel(automl, args) -> int:
    job = automl.cancel_job(args.id)
    if args.wait:
        job = automl.job(args.id).wait()
    _show_job(job, args.json)
    return 0


def cmd_jobs_logs(automl, args) -> int:
    print(automl.job_logs(args.id), end="")
    return 0


def cmd_worker(automl, args) -> int:
    traits = {k: v for k, v in {
        "max_concurrent_jobs": args.max_jobs, "dask_address": args.dask_address,
        "lease_seconds": args.lease_seconds, "heartbeat_seconds": args.heartbeat_seconds,
        "requeue_expired": True if args.requeue else None,
    }.items() if v is not None}
    worker = automl.worker(**traits)
    stop_signals = 0

    def on_signal(signum, frame):
        nonlocal stop_signals
        stop_signals += 1
        if stop_signals > 1:
            raise KeyboardInterrupt
        print("stopping: no new jobs; waiting for the running ones (signal again to leave now)",
              file=sys.stderr, flush=True)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"worker {worker.id}: executor {worker.executor.name}, {worker.executor.capacity} "
          f"job(s) at once, store {automl.store.engine.url.render_as_string(hide_password=True)}",
          flush=True)
    try:
        worker.run(exit_when_idle=args.exit_when_idle)
    finally:
        worker.close()
    return 0


def cmd_demo(automl, args) -> int:
    from .demo import run_demo

    return run_demo(automl, train=not args.no_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter automl", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder for uploads and snapshots")
    parser.add_argument("--store-url", help="SQLAlchemy URL of the store")
    groups = parser.add_subparsers(dest="group", required=True)

    def command(group, name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        p = group.add_parser(name, help=help)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=handler)
        return p

    datasets = groups.add_parser("datasets", help="upload and inspect datasets").add_subparsers(
        dest="verb", required=True
    )
    p = command(datasets, "validate", cmd_validate, "check a file against the rules")
    p.add_argument("file")
    _validation_args(p)
    p = command(datasets, "upload", cmd_upload, "store and validate a file")
    p.add_argument("file")
    p.add_argument("--name")
    _validation_args(p)
    p = command(datasets, "list", cmd_datasets_list, "list datasets")
    p.add_argument("--type", choices=TYPES, dest="model_type")
    p = command(datasets, "show", cmd_datasets_show, "a dataset and its validation report")
    p.add_argument("id")

    snapshots = groups.add_parser("snapshots", help="freeze and inspect snapshots").add_subparsers(
        dest="verb", required=True
    )
    p = command(snapshots, "create", cmd_snapshots_create, "freeze a valid dataset")
    p.add_argument("dataset_id")
    p.add_argument("--name")
    p.add_argument("--role", choices=["train", "test"], default="train")
    p.add_argument("--test-percent", type=int, help="also split off this share as a test snapshot")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stratify-by", help="head to stratify the split on (default: first head)")
    p = command(snapshots, "split", cmd_snapshots_split, "split a snapshot into train and test")
    p.add_argument("id")
    p.add_argument("--test-percent", type=int, required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stratify-by")
    p = command(snapshots, "list", cmd_snapshots_list, "list snapshots")
    p.add_argument("--type", choices=TYPES, dest="model_type")
    p = command(snapshots, "show", cmd_snapshots_show, "one snapshot")
    p.add_argument("id")
    p = command(snapshots, "examples", cmd_snapshots_examples, "freeze the shipped examples")
    p.add_argument("--type", choices=TYPES, dest="model_type")

    base = groups.add_parser("base-models", help="base models to train from").add_subparsers(
        dest="verb", required=True
    )
    p = command(base, "list", cmd_base_models, "list base models")
    p.add_argument("--type", choices=TYPES, dest="model_type")

    models = groups.add_parser("models", help="create and inspect models").add_subparsers(
        dest="verb", required=True
    )
    p = command(models, "create", cmd_models_create, "a model of a snapshot's type")
    p.add_argument("name")
    p.add_argument("--snapshot", required=True, help="id of the training snapshot")
    p.add_argument("--base-model", help="registered base model (default: the type's default)")
    p.add_argument("--test-snapshot", help="id of a test snapshot")
    p.add_argument("--test-percent", type=int, help="else hold out this share (default 20)")
    p.add_argument("--description")
    _option_args(p)
    p = command(models, "list", cmd_models_list, "list models")
    p.add_argument("--type", choices=TYPES, dest="model_type")
    p = command(models, "show", cmd_models_show, "a model and its versions")
    p.add_argument("model", help="name or id")

    p = command(groups, "train", cmd_train, "train a model's next version as a job")
    p.add_argument("model", help="name or id")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    p.add_argument("--snapshot", help="train on this snapshot from now on")
    p.add_argument("--test-snapshot")
    p.add_argument("--test-percent", type=int)
    _option_args(p)

    jobs = groups.add_parser("jobs", help="watch and cancel training jobs").add_subparsers(
        dest="verb", required=True
    )
    p = command(jobs, "list", cmd_jobs_list, "list jobs, newest first")
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    p.add_argument("--model")
    p = command(jobs, "show", cmd_jobs_show, "a job's state and progress")
    p.add_argument("id")
    p = command(jobs, "cancel", cmd_jobs_cancel, "cancel a queued or running job")
    p.add_argument("id")
    p.add_argument("--wait", action="store_true", help="until the kernel has ended")
    p = command(jobs, "logs", cmd_jobs_logs, "a job's log")
    p.add_argument("id")

    p = command(groups, "worker", cmd_worker, "run queued jobs (without JupyterLab)")
    p.add_argument("--max-jobs", type=int, help="jobs at once (default: one per GPU, one on CPU)")
    p.add_argument("--dask-address", help="run jobs on this Dask scheduler")
    p.add_argument("--lease-seconds", type=float)
    p.add_argument("--heartbeat-seconds", type=float)
    p.add_argument("--requeue", action="store_true", help="re-queue jobs of dead workers")
    p.add_argument("--exit-when-idle", type=float, help="stop after this many idle seconds")

    add_serving_commands(groups, command)

    p = command(groups, "demo", cmd_demo,
                "freeze every example dataset, then train the demo chat LLM and text classifier")
    p.add_argument("--no-train", action="store_true", help="only validate and freeze the examples")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        automl = load_automl(
            data_dir=args.data_dir,
            store_url=args.store_url or os.environ.get("JUPYTER_AUTOML_STORE_URL"),
        )
        try:
            return args.handler(automl, args)
        finally:
            automl.close()
    except USAGE_ERRORS as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except AutoMLError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
