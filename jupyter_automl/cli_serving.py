"""The serving commands of ``jupyter automl``: deploy, undeploy, redeploy, deployments, keys,
tasks, predict, playground and serve."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from .schemas import DeploymentInfo, UsageFigures


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _show_deployment(info: DeploymentInfo, as_json: bool) -> None:
    if as_json:
        _print_json(info.to_json())
        return
    print(f"deployment {info.name} ({info.id}): {info.model_name} v{info.version}  {info.status}")
    if info.error:
        print(f"  error: {info.error}")
    print(f"  usage: {info.requests} requests, {info.tokens} tokens, {info.errors} errors")
    for key in info.keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        print(f"  key slot {key.slot}: {key.prefix}...  {state}  ({key.requests} requests)")


def _print_keys(keys, as_json: bool) -> None:
    if as_json:
        return
    print("  API keys (shown only now; store them safely):")
    for key in keys:
        print(f"    slot {key.slot}: {key.key}")


def cmd_deploy(automl, args) -> int:
    created = automl.deploy(args.model, args.version, name=args.name,
                            metadata_only=args.metadata_only)
    _show_deployment(created, args.json)
    if args.metadata_only and not args.json:
        print("  tasks are kept as metadata only (no input or output text)")
    if args.json:
        _print_json({"new_keys": [k.to_json() for k in created.new_keys]})
    _print_keys(created.new_keys, args.json)
    return 0 if created.status == "complete" else 1


def cmd_undeploy(automl, args) -> int:
    _show_deployment(automl.undeploy(args.deployment), args.json)
    return 0


def cmd_redeploy(automl, args) -> int:
    info = automl.redeploy(args.deployment)
    _show_deployment(info, args.json)
    return 0 if info.status == "complete" else 1


def cmd_deployments_list(automl, args) -> int:
    items = automl.list_deployments(status=args.status, model=args.model)
    if args.json:
        _print_json([d.to_json() for d in items])
        return 0
    for info in items:
        print(f"{info.name:30} {info.id}  {info.model_name} v{info.version}  {info.status:10} "
              f"{info.requests} requests")
    return 0


def cmd_deployments_show(automl, args) -> int:
    _show_deployment(automl.get_deployment(args.deployment), args.json)
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _usage_line(label: str, requests: object, tokens: object, errors: object, p50: object,
                p99: object) -> str:
    return f"{label:24} {requests:>9} {tokens:>11} {errors:>7} {p50:>10} {p99:>10}"


def _usage_row(label: str, figures: UsageFigures) -> str:
    return _usage_line(label, figures.requests, figures.tokens, figures.errors,
                       _ms(figures.p50_ms), _ms(figures.p99_ms))


def cmd_deployments_usage(automl, args) -> int:
    report = automl.usage(args.deployment, args.days)
    if args.json:
        _print_json(report.to_json())
        return 0
    columns = ("requests", "tokens", "errors", "p50 ms", "p99 ms")
    print(f"usage of {report.deployment_name} ({report.deployment_id}), "
          f"{report.since} to {report.until} (UTC days)")
    print(_usage_line("day", *columns))
    for day in report.days:
        print(_usage_row(str(day.day), day.figures))
    print(_usage_row("total", report.total))
    print()
    print(_usage_line("key", *columns))
    for key in report.keys:
        label = f"slot {key.api_key_slot} ({key.api_key_prefix}...)" if key.api_key_id else "no key"
        print(_usage_row(label, key.figures))
    return 0


def cmd_keys_rotate(automl, args) -> int:
    key = automl.rotate_key(args.deployment, args.slot)
    if args.json:
        _print_json(key.to_json())
    else:
        print(f"new key in slot {key.slot} (shown only now): {key.key}")
        print(f"the old key in slot {key.slot} no longer works; the other slot's key still does")
    return 0


def cmd_keys_revoke(automl, args) -> int:
    _show_deployment(automl.revoke_key(args.deployment, args.slot), args.json)
    return 0


def cmd_tasks_list(automl, args) -> int:
    tasks, cursor = automl.list_tasks(args.deployment, status=args.status, since=args.since,
                                      until=args.until, limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json({"tasks": [t.to_json() for t in tasks], "next_cursor": cursor})
        return 0
    for task in tasks:
        latency = f"{task.latency_ms} ms" if task.latency_ms is not None else "-"
        key = f"key {task.api_key_slot} ({task.api_key_prefix}...)" if task.api_key_id else "no key"
        preview = "(metadata only)" if task.metadata_only else (task.input_preview or "")
        print(f"{task.id}  {task.created_at:%Y-%m-%d %H:%M:%S}  {task.kind:10} {task.status:9} "
              f"{latency:>9}  {task.prompt_tokens}+{task.completion_tokens} tokens  {key}  {preview}")
    if cursor:
        print(f"more: --cursor {cursor}")
    return 0


def cmd_tasks_submit(automl, args) -> int:
    """Queue a file of inputs; with --wait run it here too and show progress, then save the
    results (--out) or print where to get them."""
    from .datasets.report import ValidationReport
    from .errors import DataValidationError

    options = _json_option(args.options)

    def progress(info) -> None:
        if not args.json:
            print(f"\r  {info.done:,}/{info.rows:,} rows done, {info.failed:,} failed", end="",
                  file=sys.stderr, flush=True)

    try:
        info = automl.submit_batch(args.deployment, args.file, images=args.images, options=options,
                                   wait=args.wait or bool(args.out), on_progress=progress)
    except DataValidationError as error:
        if isinstance(error.details, dict) and not args.json:
            print(ValidationReport.from_dict(error.details).summary(), file=sys.stderr)
        raise
    if args.wait or args.out:
        print(file=sys.stderr)
    if args.out:
        automl.save_batch_results(args.deployment, info.id, args.out)
    if args.json:
        _print_json(info.to_json())
        return 0
    print(f"batch {info.id}: {info.rows:,} rows, {info.state} ({info.succeeded:,} succeeded, "
          f"{info.failed:,} failed)")
    for warning in info.warnings:
        print(f"  warning: {warning['reason']}")
    if args.out:
        print(f"results (in input order): {args.out}")
    elif info.state != "completed":
        print("the serving processes run it; follow it with `jupyter automl tasks batch "
              f"{args.deployment} {info.id}`")
    return 1 if info.failed and info.state == "completed" else 0


def cmd_tasks_batch(automl, args) -> int:
    info = automl.get_batch(args.deployment, args.batch_id)
    if args.out:
        automl.save_batch_results(args.deployment, info.id, args.out)
    if args.json:
        _print_json(info.to_json())
    else:
        print(f"batch {info.id} ({info.file_name}): {info.state}, {info.done:,} of {info.rows:,} rows done, "
              f"{info.failed:,} failed")
        if args.out:
            print(f"results (in input order): {args.out}")
    return 0


def cmd_tasks_show(automl, args) -> int:
    task = automl.get_task_record(args.deployment, args.task_id)
    if args.json:
        _print_json(task.to_json())
        return 0
    print(f"task {task.id}: {task.kind} {task.status}")
    print(f"  created {task.created_at:%Y-%m-%d %H:%M:%S.%f}, latency "
          f"{'-' if task.latency_ms is None else f'{task.latency_ms} ms'}, "
          f"{task.prompt_tokens} prompt + {task.completion_tokens} completion tokens")
    if task.api_key_id:
        print(f"  key: slot {task.api_key_slot} ({task.api_key_prefix}...), id {task.api_key_id}")
    if task.error:
        print(f"  error: {task.error}")
    if task.metadata_only:
        print(f"  input: {task.input_type}, hash {task.input_hash} (metadata only: no text kept)")
    else:
        print(f"  input: {json.dumps(task.input, default=str)}")
        print(f"  output: {json.dumps(task.output, default=str)}")
    return 0


def _json_option(text: str | None) -> dict[str, Any] | None:
    from .errors import InvalidInput

    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"--options is not JSON: {error}") from None


def _inputs(args) -> dict[str, Any]:
    options = _json_option(args.options)
    return {k: v for k, v in {"media": args.media, "url": args.url, "options": options}.items()
            if v is not None}


def _show_task(task: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(task)
        return
    entry = task["status"][0]
    print(f"task {task['id']}: {entry['status']['message']}")
    for item in entry["response"]["output"]:
        if "completion" in item:
            print(item["completion"])
            print(f"  ({item['prompt_tokens']} prompt + {item['completion_tokens']} completion tokens, "
                  f"{item['finish_reason']})")
        else:
            best = ", ".join(f"{c['class']} {c['score']:.3f}" for c in item["classes"][:3])
            print(f"  {item['head']}: {best}")


def cmd_predict(automl, args) -> int:
    _show_task(automl.predict(args.deployment, args.text, **_inputs(args)), args.json)
    return 0


def cmd_playground(automl, args) -> int:
    task = automl.playground(args.model, args.version, args.text, **_inputs(args))
    _show_task(task, args.json)
    if not args.json:
        usage = automl.playground_usage(args.model, args.version)
        if usage.deployment_id:
            print("  (deployed: answered by the deployment, not limited)")
        else:
            print(f"  playground: {usage.remaining} of {usage.limit} requests left")
    return 0


def cmd_serve(automl, args) -> int:
    from .api import AutoML
    from .serve.app import serve
    from .serve.runtime import ServingRuntime

    url, root, config = automl.store_url, automl.root, automl.config
    automl.close()  # every process opens its own connections after the fork

    def make_runtime() -> ServingRuntime:
        """The runtime of a core of its own: batches check their files with its rules."""
        return AutoML(store_url=url, data_dir=str(root), config=config).serving

    def ready(port: int) -> None:
        print(f"serving the task API at http://{args.address}:{port}/automl/api/v2/task/ "
              f"({args.processes} process(es))", flush=True)

    serve(make_runtime, port=args.port, address=args.address, processes=args.processes,
          on_ready=ready)
    return 0


def add_commands(groups, command: Callable) -> None:
    p = command(groups, "deploy", cmd_deploy, "deploy a trained version; prints its two API keys once")
    p.add_argument("model", help="model name or id")
    p.add_argument("--version", type=int, help="version number (default: the newest trained)")
    p.add_argument("--name", help="deployment name (default: <model>-v<version>)")
    p.add_argument("--metadata-only", action="store_true",
                   help="keep no input or output text of its tasks (status, times, tokens only)")
    p = command(groups, "undeploy", cmd_undeploy, "stop serving a deployment (its keys stop working)")
    p.add_argument("deployment", help="name or id")
    p = command(groups, "redeploy", cmd_redeploy, "serve an undeployed or failed deployment again")
    p.add_argument("deployment", help="name or id")

    deployments = groups.add_parser("deployments", help="list and inspect deployments").add_subparsers(
        dest="verb", required=True)
    p = command(deployments, "list", cmd_deployments_list, "list deployments, newest first")
    p.add_argument("--status", choices=["deploying", "complete", "failed", "undeployed"])
    p.add_argument("--model")
    p = command(deployments, "show", cmd_deployments_show, "a deployment, its keys and usage")
    p.add_argument("deployment", help="name or id")
    p = command(deployments, "usage", cmd_deployments_usage,
                "requests, tokens, errors and p50/p99 latency per UTC day and per key")
    p.add_argument("deployment", help="name or id")
    p.add_argument("--days", type=int, default=14, help="days back, today included (1-366)")

    keys = groups.add_parser("keys", help="rotate and revoke deployment keys").add_subparsers(
        dest="verb", required=True)
    for verb, handler, text in (("rotate", cmd_keys_rotate, "a new key in a slot (the other keeps working)"),
                                ("revoke", cmd_keys_revoke, "revoke the key in a slot")):
        p = command(keys, verb, handler, text)
        p.add_argument("deployment", help="name or id")
        p.add_argument("--slot", type=int, choices=[1, 2], required=True)

    tasks = groups.add_parser("tasks", help="a deployment's task history").add_subparsers(
        dest="verb", required=True)
    p = command(tasks, "list", cmd_tasks_list, "a deployment's tasks, newest first")
    p.add_argument("deployment", help="name or id")
    p.add_argument("--status", choices=["queued", "succeeded", "failed"])
    p.add_argument("--since", help="ISO 8601 time, or a duration back from now (30m, 24h, 7d)")
    p.add_argument("--until", help="ISO 8601 time, or a duration back from now")
    p.add_argument("--limit", type=int, default=50, help="tasks per page (1-500)")
    p.add_argument("--cursor", help="the cursor printed after the previous page")
    p = command(tasks, "show", cmd_tasks_show, "one task: input, output, times, tokens, key")
    p.add_argument("deployment", help="name or id")
    p.add_argument("task_id")
    p = command(tasks, "submit", cmd_tasks_submit,
                "a file of inputs as one batch: checked like a dataset, every row a task")
    p.add_argument("deployment", help="name or id")
    p.add_argument("file", help="CSV of inputs (text_data, or prompt...); a zip of CSV and images")
    p.add_argument("--images", help="zip of the images the CSV's image column names")
    p.add_argument("--options", help='JSON object for every row, e.g. \'{"max_tokens": 64}\'')
    p.add_argument("--wait", action="store_true",
                   help="run the rows in this process too (with any server) until all are done")
    p.add_argument("--out", help="save the results here when done (.csv, or .jsonl); implies --wait")
    p = command(tasks, "batch", cmd_tasks_batch, "a batch's progress; --out saves its results")
    p.add_argument("deployment", help="name or id")
    p.add_argument("batch_id")
    p.add_argument("--out", help="save the results here (.csv, or .jsonl)")

    for name, handler, text, target in (
        ("predict", cmd_predict, "ask a deployment (as the sync task API does)", "deployment"),
        ("playground", cmd_playground, "ask a trained version before deploying it (limited)", "model"),
    ):
        p = command(groups, name, handler, text)
        p.add_argument(target, help="name or id")
        if name == "playground":
            p.add_argument("--version", type=int)
        p.add_argument("--text", help="text_data: the text to classify, or the prompt")
        p.add_argument("--media", help="an image file")
        p.add_argument("--url", help="an image URL")
        p.add_argument("--options", help='JSON object, e.g. \'{"max_tokens": 64}\'')

    p = command(groups, "serve", cmd_serve, "serve the task API without JupyterLab")
    p.add_argument("--port", type=int, default=8890)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--processes", type=int, default=1, help="worker processes (0: one per CPU)")

