"""`jupyter automl ...`: the command line. It parses arguments, calls the Python API, prints.

Exit codes: 0 success (for ``datasets validate``: the file may be used for training),
1 the data or the request was refused by the rules, 2 usage errors (bad arguments, no such file
or id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .config import load_automl
from .errors import AutoMLError, InvalidInput, NotFound
from .model_types import ModelType

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


def cmd_demo(automl, args) -> int:
    from .demo import run_demo

    return run_demo(automl)


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

    command(groups, "demo", cmd_demo, "validate and snapshot every example dataset")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        automl = load_automl(data_dir=args.data_dir, store_url=args.store_url)
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
