"""PNG plots of the metrics: PR curves, confusion matrices and metric-vs-epoch curves.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot's
global state, so plotting is safe in threads, servers and kernels alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "head"


def plot_pr_curves(head: str, metrics: Mapping[str, Any], path: str | Path) -> Path:
    """One precision-recall curve per class that has a positive row, its AP in the legend."""
    curves = [(name, c) for name, c in (metrics.get("pr_curves") or {}).items() if c]
    figure = Figure(figsize=(6 if len(curves) <= 8 else 8.5, 4.5))
    ax = figure.add_subplot()
    colors = colormaps["tab10" if len(curves) <= 10 else "tab20"].colors
    for k, (name, curve) in enumerate(curves):
        ax.step(curve["recall"], curve["precision"], where="post", color=colors[k % len(colors)],
                label=f"{name} (AP {curve['average_precision']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.05),
           title=f"Precision-recall, head {head!r}")
    ax.grid(alpha=0.3)
    if len(curves) > 8:  # beside the axes, so that many classes do not hide the curves
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    elif curves:
        ax.legend(fontsize="small", loc="lower left")
    return _save(figure, path)


def plot_confusion_matrix(head: str, metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Counts, true classes as rows and predicted ones as columns, each cell annotated."""
    table = metrics["confusion_matrix"]
    labels, matrix = table["labels"], table["matrix"]
    size = max(4.0, 0.45 * len(labels) + 2)
    figure = Figure(figsize=(size, size))
    ax = figure.add_subplot()
    top = max((max(row) for row in matrix), default=0)
    # The scale starts at 0, so that the text colour below (white over the darker half) is readable.
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(top, 1))
    figure.colorbar(image, ax=ax, fraction=0.046, ticks=MaxNLocator(integer=True))
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix, head {head!r}")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize="small",
                    color="white" if count > top / 2 else "black")
    return _save(figure, path)


def plot_history(
    history: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    path: str | Path,
    *,
    title: str,
    chosen: int | None = None,
) -> Path:
    """One line per key against the epoch; a dashed line marks the chosen evaluation."""
    figure = Figure(figsize=(6, 4))
    ax = figure.add_subplot()
    epochs = [entry["epoch"] for entry in history]
    for key in keys:
        points = [(e, entry.get(key)) for e, entry in zip(epochs, history) if entry.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o", label=key)
    if chosen is not None and 0 <= chosen < len(history):
        ax.axvline(epochs[chosen], color="grey", linestyle="--", label="chosen")
    ax.set(xlabel="epoch", title=title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return _save(figure, path)


def plot_stems(heads: Sequence[str]) -> dict[str, str]:
    """File-safe names, distinct per head ("a/b" and "a_b" must not overwrite each other's plots)."""
    stems: dict[str, str] = {}
    for head in heads:
        stem, n = _safe(head), 2
        while stem in stems.values():
            stem, n = f"{_safe(head)}_{n}", n + 1
        stems[head] = stem
    return stems


def write_plots(
    metrics: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    selection: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Every plot that fits: per head PR curves and confusion matrix, and the history curves.

    ``metrics`` is a classification evaluation (``{"heads": {head: head_metrics}}``) or an LLM one;
    ``history`` holds the flat entries of every evaluation (``loss``, ``token_accuracy``,
    ``<head>/balanced_accuracy``...), and the entry with the step of ``selection`` is marked.
    Plots with nothing to show (a head without labelled rows) are not written.
    """
    out = Path(out_dir)
    heads = metrics.get("heads") or {}
    stems = plot_stems(list(heads))
    written = []
    for head, values in heads.items():
        if values.get("labelled"):
            written.append(plot_pr_curves(head, values, out / f"pr_{stems[head]}.png"))
            written.append(plot_confusion_matrix(head, values, out / f"confusion_{stems[head]}.png"))
    step = (selection or {}).get("step")
    chosen = next((i for i, e in enumerate(history) if step is not None and e.get("step") == step), None)
    curves = [("loss", ["train_loss", "loss"], "Loss (training, validation)"),
              ("token_accuracy", ["token_accuracy"], "Validation token accuracy")]
    curves += [(f"history_{stems[head]}", [f"{head}/balanced_accuracy", f"{head}/macro_f1"],
                f"Validation metrics, head {head!r}") for head in heads]
    for name, keys, title in curves:
        if any(entry.get(key) is not None for entry in history for key in keys):
            written.append(plot_history(history, keys, out / f"{name}.png", title=title, chosen=chosen))
    return written
