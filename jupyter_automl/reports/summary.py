"""A trained version's headline numbers as text lines, for terminals and logs."""

from __future__ import annotations

from typing import Any

from ..schemas import JobInfo


def version_summary(metrics: dict[str, Any] | None, *, chosen: bool = True) -> list[str]:
    """LLMs: loss and token accuracy, base -> tuned with the change. Classifiers: each head's
    balanced accuracy, macro F1 and accuracy on the test rows. With ``chosen``, which evaluation
    became the model and why."""
    metrics = metrics or {}
    lines = []
    for key, c in (metrics.get("comparison") or {}).items():
        if c.get("tuned") is None:
            continue
        line = f"{key:15s} base {c['base']:.4f} -> tuned {c['tuned']:.4f}"
        if c.get("change") is not None:
            percent = f", {c['change_percent']:+.1f}%" if c.get("change_percent") is not None else ""
            line += f"  (change vs base: {c['change']:+.4f}{percent})"
        lines.append(line)
    for head, m in ((metrics.get("test") or {}).get("heads") or {}).items():
        if m.get("balanced_accuracy") is not None:
            lines.append(
                f"head {head!r}: balanced accuracy {m['balanced_accuracy']:.4f}, "
                f"macro F1 {m['macro_f1']:.4f}, accuracy {m['accuracy']:.4f} "
                f"on {m['labelled']} test rows"
            )
    why = (metrics.get("selection") or {}).get("why")
    if chosen and why:
        lines.append(f"chosen: {why}")
    return lines


def duration(seconds: float | None) -> str:
    """``H:MM:SS``, or ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_parts(info: JobInfo) -> list[str]:
    """What a job last reported, as short phrases: its phase while it runs, the epoch and step
    of their totals, the training loss, the ETA while it runs, and the time so far."""
    state = (info.progress or {}).get("state") or {}
    if not state:
        return ["starting"] if info.status == "running" else []
    parts = [] if info.done else [str(state.get("phase") or "starting")]
    if state.get("max_epochs"):
        parts.append(f"epoch {state.get('epoch') or 0:.2f} of {state['max_epochs']}")
    parts.append(f"step {state.get('step') or 0} of {state.get('total_steps') or '?'}")
    if state.get("loss") is not None:
        parts.append(f"loss {state['loss']:.4f}")
    if not info.done:
        parts.append(f"ETA {duration(state.get('eta_seconds'))}")
    parts.append(f"elapsed {duration(state.get('elapsed_seconds'))}")
    return parts


def job_progress(info: JobInfo) -> str:
    """One line: the job's state and what it last reported."""
    return f"{info.model_name} v{info.version}: " + ", ".join([info.status, *progress_parts(info)])
