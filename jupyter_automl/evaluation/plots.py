"""PNG plots of the metrics: PR curves, confusion matrices and metric-vs-epoch curves.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot's
global state, so plotting is safe in threads, servers and kernels alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "head"


def plot_pr_curves(head: str, metrics: Mapping[str, Any], path: str | Path) -> Path:
    figure = Figure(figsize=(6, 4.5))
    ax = figure.add_subplot()
    for name, curve in (metrics.get("pr_curves") or {}).items():
        if curve:
            ax.step(curve["recall"], curve["precision"], where="post",
                    label=f"{name} (AP {curve['average_precision']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.05),
           title=f"Precision-recall, head {head!r}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small", loc="lower left")
    return _save(figure, path)


def plot_confusion_matrix(head: str, metrics: Mapping[str, Any], path: str | Path) -> Path:
    table = metrics["confusion_matrix"]
    labels, matrix = table["labels"], table["matrix"]
    size = max(4.0, 0.45 * len(labels) + 2)
    figure = Figure(figsize=(size, size))
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix, head {head!r}")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize="small",
                    color="white" if top and count > top / 2 else "black")
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


def write_plots(
    metrics: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    selection: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Every plot that fits the metrics: per head PR curves and confusion matrix, and curves."""
    out = Path(out_dir)
    written = []
    for head, values in (metrics.get("heads") or {}).items():
        if values.get("labelled"):
            written.append(plot_pr_curves(head, values, out / f"pr_{_safe(head)}.png"))
            written.append(plot_confusion_matrix(head, values, out / f"confusion_{_safe(head)}.png"))
    if not history:
        return written
    chosen = None
    if selection and selection.get("step") is not None:
        chosen = next((i for i, e in enumerate(history) if e["step"] == selection["step"]), None)
    written.append(plot_history(history, ["train_loss", "loss"], out / "loss.png",
                                title="Loss (training, validation)", chosen=chosen))
    if "token_accuracy" in history[0]:
        written.append(plot_history(history, ["token_accuracy"], out / "token_accuracy.png",
                                    title="Validation token accuracy", chosen=chosen))
    for head in metrics.get("heads") or {}:
        keys = [f"{head}/balanced_accuracy", f"{head}/macro_f1"]
        written.append(plot_history(history, keys, out / f"history_{_safe(head)}.png",
                                    title=f"Validation metrics, head {head!r}", chosen=chosen))
    return written
