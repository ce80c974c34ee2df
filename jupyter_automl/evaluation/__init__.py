"""Metrics and plots (DESIGN §6): classification heads, LLM loss and token accuracy."""

from .classification import head_metrics, is_better, selection_value, summarize
from .llm import LossAccumulator, compare, completion_token_stats, token_stats_from_selected
from .plots import plot_confusion_matrix, plot_history, plot_pr_curves, write_plots

__all__ = [
    "LossAccumulator",
    "compare",
    "completion_token_stats",
    "head_metrics",
    "is_better",
    "plot_confusion_matrix",
    "plot_history",
    "plot_pr_curves",
    "selection_value",
    "summarize",
    "token_stats_from_selected",
    "write_plots",
]
