"""What ``batch_predict.ipynb`` runs: a file of inputs through a deployment, with a progress bar,
the results saved in input order, and a summary to read in the executed notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..schemas import BatchInfo


def run_batch(deployment: str, input_file: str, *, output_file: str, images: str = "",
              options: str | dict[str, Any] = "{}", data_dir: str = "", store_url: str = "") -> BatchInfo:
    """Submit ``input_file`` to ``deployment`` and run it here (with any serving process), a
    progress bar meanwhile; the results go to ``output_file`` (.csv, or .jsonl)."""
    from tqdm.auto import tqdm

    from ..config import load_automl

    automl = load_automl(data_dir=data_dir or None, store_url=store_url or None)
    settings = json.loads(options) if isinstance(options, str) else dict(options)
    bar = None

    def progress(info: BatchInfo) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=info.rows, desc=f"{Path(input_file).name} -> {deployment}", unit="row")
        bar.set_postfix(failed=info.failed)
        bar.update(info.done - bar.n)

    try:
        info = automl.submit_batch(deployment, input_file, images=images or None, options=settings,
                                   wait=True, on_progress=progress)
        automl.save_batch_results(deployment, info.id, output_file)
    finally:
        if bar is not None:
            bar.close()
        automl.close()
    return info


def summary(info: BatchInfo, output_file: str, head: int = 10) -> pd.DataFrame:
    """The batch's counts, then its first rows of results (shown by the notebook)."""
    from IPython.display import Markdown, display

    seconds = (info.finished_at - info.created_at).total_seconds() if info.finished_at else None
    rate = f", {info.rows / seconds:,.1f} rows/s" if seconds else ""
    display(Markdown(f"**{info.rows:,} rows**: {info.succeeded:,} succeeded, {info.failed:,} failed"
                     f"{rate}. Results in input order: `{output_file}`"))
    for warning in info.warnings:
        display(Markdown(f"- warning: {warning['reason']}"))
    if str(output_file).endswith((".jsonl", ".ndjson")):
        return pd.read_json(output_file, lines=True).head(head)
    return pd.read_csv(output_file, dtype=str, keep_default_na=False).head(head)
