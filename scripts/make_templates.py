"""Write the notebook templates (jupyter_automl/notebooks/templates/*.ipynb): training, batch predictions.

The templates are thin on purpose: a parameters cell, then one call per section into
``jupyter_automl.reports``. Run ``python scripts/make_templates.py`` after changing a cell
here; a test fails while the shipped notebooks differ from what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parent.parent / "jupyter_automl" / "notebooks" / "templates"

PARAMETERS = '''\
# Parameters (papermill replaces this cell: papermill <template> out.ipynb -p snapshot ... )
snapshot = ""  # a snapshot folder, or the id of a snapshot in the store
test_snapshot = ""  # a test snapshot folder or id; empty: hold out test_percent of the rows
test_percent = 20  # used when there is no test snapshot (seeded, stratified)
base_model = ""  # a registered name, a local folder or a hub id; empty: the type's default
options = "{}"  # training options as JSON, e.g. '{"max_epochs": 3, "early_stopping": 1}'
output_dir = "automl-version"  # the version folder to write; it must not exist yet
model_name = ""  # shown in the report's title
data_dir = ""  # with store_url: where snapshot ids are looked up (empty: the configured default)
store_url = ""
progress_file = ""  # set by the job system: where the kernel reports its progress
resume = False  # set by the job system: go on from the checkpoint of an interrupted attempt
processes = 0  # training processes, one per GPU; 0: every GPU the kernel sees (one on a CPU)'''

SETUP = '''\
from jupyter_automl.reports import TrainingReport

report = TrainingReport(
    snapshot=snapshot, test_snapshot=test_snapshot, test_percent=test_percent,
    base_model=base_model, options=options, output_dir=output_dir, model_name=model_name,
    data_dir=data_dir, store_url=store_url, progress_file=progress_file, resume=resume,
    processes=processes,
)'''

KINDS = {
    "train_llm.ipynb": (
        "LLM fine-tuning (text or chat)",
        "Fine-tunes a causal language model on prompt/completion rows (chat rows go through the "
        "base model's chat template). The loss counts completion tokens only.",
        "## Base model vs fine-tuned\nLoss and token accuracy of the base model before "
        "fine-tuning and of the chosen epoch, on the same test rows, with the change.",
    ),
    "train_text_classification.ipynb": (
        "Text classification",
        "Trains one classification head per label column on a text encoder.",
        "## Test metrics\nPer head and class, on the test rows, for the chosen epoch.",
    ),
    "train_image_classification.ipynb": (
        "Image classification",
        "Trains one classification head per label column on an image backbone.",
        "## Test metrics\nPer head and class, on the test rows, for the chosen epoch.",
    ),
}


def template(title: str, intro: str, results: str) -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            f"# Training report: {title}\n{intro}\n\nThis notebook is run by the job system "
            "(or by `papermill` directly); once executed it is the version's report."
        ),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP),
        new_markdown_cell("## Data\nThe snapshot, the test data, and the rows left out."),
        new_code_cell("report.show_data();"),
        new_markdown_cell("## Options\nAs resolved for this base model; `set by` says which you chose."),
        new_code_cell("report.show_options();"),
        new_markdown_cell(
            "## Training\nThe progress bar and the curves update live: training loss per step, "
            "the selection metric at each evaluation on the validation rows."
        ),
        new_code_cell("result = report.train()"),
        new_markdown_cell("## Evaluations\nEvery evaluation on the validation rows; `improved` marks a new best."),
        new_code_cell("report.show_epochs();"),
        new_markdown_cell("## The chosen epoch"),
        new_code_cell("report.show_selection();"),
        new_markdown_cell(results),
        new_code_cell("report.show_test_metrics();"),
        new_markdown_cell("## Plots"),
        new_code_cell("report.show_plots();"),
        new_code_cell("report.show_where();"),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return notebook


BATCH_PARAMETERS = '''\
# Parameters (papermill replaces this cell: papermill batch_predict.ipynb out.ipynb -p deployment ... )
deployment = ""  # the deployment's name or id
input_file = ""  # a CSV of inputs (text_data, or prompt...), or a zip of a CSV and its images
images = ""  # a zip of the images the CSV's image column names (image classifiers)
output_file = "batch-results.csv"  # the results, in input order (.csv, or .jsonl)
options = "{}"  # JSON for every row, e.g. '{"max_tokens": 64}' (LLMs) or '{"top_k": 1}'
data_dir = ""  # with store_url: the store the deployment is in (empty: the configured default)
store_url = ""'''


def batch_template() -> nbformat.NotebookNode:
    """Scheduled batch scoring: a deployment answers a whole file, the results land beside it."""
    cells = [
        new_markdown_cell(
            "# Batch predictions\nEvery row of a file of inputs answered by a deployment, through "
            "its batching, the results saved in input order. The file is checked first with the "
            "dataset rules; a row that breaks them stops the run before anything is queued. Run "
            "it with `papermill` (or a scheduler that runs notebooks) for scheduled scoring."
        ),
        new_code_cell(BATCH_PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell("from jupyter_automl.reports.batch import run_batch, summary\n\n"
                      "info = run_batch(deployment, input_file, output_file=output_file, images=images,\n"
                      "                 options=options, data_dir=data_dir, store_url=store_url)"),
        new_markdown_cell("## Results"),
        new_code_cell("summary(info, output_file)"),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return notebook


def render() -> dict[str, str]:
    rendered = {name: nbformat.writes(template(*parts)) + "\n" for name, parts in KINDS.items()}
    rendered["batch_predict.ipynb"] = nbformat.writes(batch_template()) + "\n"
    return rendered


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
