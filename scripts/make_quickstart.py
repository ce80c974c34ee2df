"""Write notebooks/quickstart.ipynb: the whole flow with the notebook widgets.

Edit the cells here and run ``python scripts/make_quickstart.py``; a test fails while the
shipped notebook differs from what this script writes, and runs it top to bottom with papermill.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parent.parent / "jupyter_automl" / "notebooks" / "quickstart.ipynb"

CELLS = [
    ("md", """\
# jupyter-automl quickstart

Upload a dataset, freeze it into a snapshot, train a model, read its metrics, try it, train it
again, chat with an LLM and deploy it. Every step is a widget over the same core as the
JupyterLab sidebar and the `jupyter automl` command line.

Run the cells top to bottom. Where a cell shows a form, its buttons do what the code cell after
it does; use either. Training runs as a job in a worker of its own (started for you), so the
notebook stays free while it trains, and each version keeps its executed training notebook."""),
    ("parameters", """\
# Parameters (papermill -p NAME VALUE replaces them)
data_dir = ""  # empty: the configured data folder (~/.local/share/jupyter-automl)
store_url = ""  # empty: SQLite in the data folder
base_models = "[]"  # extra base models as JSON (the tests register tiny ones here)
text_base_model = ""  # empty: the default for text classification (all-MiniLM-L6-v2)
chat_base_model = ""  # empty: the default chat LLM (SmolLM2-135M-Instruct)
text_rows = 1200  # rows of the example reviews to upload (a seeded sample: minutes on a CPU)
chat_rows = 400  # rows of the example support chats
max_epochs = 2
chat_steps = 20  # optimizer steps for the chat LLM (max_steps), so a CPU finishes in minutes"""),
    ("code", """\
import json
from pathlib import Path

import pandas as pd
from IPython.display import display

from jupyter_automl import AutoML
from jupyter_automl.datasets.examples import example_path
from jupyter_automl.widgets import (
    ChatPlayground, MetricsDashboard, ModelForm, TryIt, UploadForm,
)

automl = AutoML(**{k: v for k, v in {"data_dir": data_dir, "store_url": store_url}.items() if v},
                base_models=json.loads(base_models))
work = Path("quickstart-data")
work.mkdir(exist_ok=True)
print("store:", automl.store_url)"""),
    ("md", """\
## 1. Upload and validate

The example reviews have two label columns (heads): `sentiment` and `topic`. The form checks the
file against the rules of its model type and shows every invalid row with its row number (as a
spreadsheet shows it), column and reason, the rows per class, and the token lengths measured with
the base model's tokenizer. Pick your own file with the file button (it is sent in slices), or
name a file on the server."""),
    ("code", """\
reviews = pd.read_csv(example_path("text_classification")).sample(n=text_rows, random_state=0)
reviews.to_csv(work / "reviews.csv", index=False)

upload = UploadForm(automl, model_type="text_classification", base_model=text_base_model or None,
                    path=str(work / "reviews.csv"), name="reviews")
display(upload)
upload.upload()  # the "Upload and validate" button
upload.wait()"""),
    ("md", """\
A broken file gets the same report: here an empty text, a row with one cell too many, and far
too few rows to train on. Nothing is lost: the upload is stored with its report, but it cannot
be frozen until it is fixed."""),
    ("code", """\
(work / "broken.csv").write_text(
    "text_data,sentiment\\n"
    "Great value for the money,positive\\n"
    ",negative\\n"
    "Arrived late,negative,shipping\\n",
    encoding="utf-8",
)
broken = UploadForm(automl, model_type="text_classification", base_model=text_base_model or None,
                    path=str(work / "broken.csv"))
display(broken)
broken.upload()
broken.wait()"""),
    ("md", """\
Freeze the good upload into an immutable snapshot, with 20% of its rows held out as a test
snapshot (stratified on the first head)."""),
    ("code", """\
upload.test_percent.value = 20
upload.freeze()  # the "Freeze snapshot" button
upload.snapshot, upload.test_snapshot"""),
    ("md", """\
## 2. Create a model and train it

The base models offered fit the model type; the training options, their ranges, choices and
defaults come from the core (the selection label offers the snapshot's heads; early stopping can
never exceed max epochs). **Train** creates the model and queues version 1; the job view follows
it: progress, epoch and step, ETA, the loss curve, the log, cancel, and the training report."""),
    ("code", """\
form = ModelForm(automl, model_type="text_classification", name="reviews",
                 snapshot_id=upload.snapshot.id, test_snapshot_id=upload.test_snapshot.id,
                 base_model=text_base_model or None)
form.options.set_value("max_epochs", max_epochs)
form.options.set_value("selection_label", "sentiment")
display(form)
form.train()  # the "Train" button
form.job_view.wait()
form.job_view.open_report()  # a link to the executed training notebook"""),
    ("md", """\
## 3. Read the metrics

Per head: precision, recall, F1 and support per class, balanced accuracy and macro F1, the PR
curves and the confusion matrix. Click a cell of the matrix to see the test rows behind it."""),
    ("code", """\
board = MetricsDashboard(automl, "reviews")
display(board)
head = "sentiment"
labels = automl.version_metrics("reviews", board.version)["test"]["heads"][head]["classes"]
board.show_rows(head, labels[0], labels[-1])  # what a click on that cell shows
board.selected_rows.head()"""),
    ("md", """\
## 4. Try it

The playground answers before you deploy: 500 requests within 15 days of training."""),
    ("code", """\
try_it = TryIt(automl, "reviews")
display(try_it)
try_it.classify("The parcel arrived two days early and well packed")"""),
    ("md", """\
## 5. Update Model

Change an option and train again: that is version 2. Version 1 keeps its options, snapshot,
metrics, notebook and model. The dashboard compares the two side by side."""),
    ("code", """\
update = ModelForm(automl, model="reviews")
update.options.set_value("max_epochs", max_epochs + 1)
display(update)
update.train()  # the "Update Model" button
update.job_view.wait()
MetricsDashboard(automl, "reviews", compare_with=1)"""),
    ("md", """\
## 6. A chat model

The example support chats have a system prompt, the conversation so far (`prompt_history`),
the customer's message and the agent's answer. An LLM version is scored against its base model
on the test rows: loss and token accuracy, with the change."""),
    ("code", """\
chats = pd.read_csv(example_path("llm_chat")).sample(n=chat_rows, random_state=0)
chats.to_csv(work / "support-chat.csv", index=False)
chat_upload = UploadForm(automl, model_type="llm_chat", base_model=chat_base_model or None,
                         path=str(work / "support-chat.csv"), name="support-chat")
display(chat_upload)
chat_upload.upload()
chat_upload.wait()
chat_upload.test_percent.value = 10
chat_upload.freeze()"""),
    ("code", """\
chat_form = ModelForm(automl, model_type="llm_chat", name="support-bot",
                      snapshot_id=chat_upload.snapshot.id,
                      test_snapshot_id=chat_upload.test_snapshot.id,
                      base_model=chat_base_model or None)
chat_form.options.set_value("max_epochs", 1)
chat_form.options.set_value("max_steps", chat_steps)
display(chat_form)
chat_form.train()
chat_form.job_view.wait()
MetricsDashboard(automl, "support-bot")"""),
    ("md", """\
Chat with it. The conversation is sent as `prompt_history` with each message; tick
**Also ask the base model** to see what the untuned base model answers to the same request."""),
    ("code", """\
chat = ChatPlayground(automl, "support-bot", compare_base=True,
                      system_prompt="You are a friendly support agent for Lumo Home.")
chat.max_tokens.value = 48
display(chat)
chat.send("My lamp does not turn on. What can I do?")
chat.send("It is still dark after a reset.")"""),
    ("md", """\
## 7. Deploy

A deployment serves the version over the task API behind its own API keys (two, so a key can be
rotated without downtime). The keys are shown once, now."""),
    ("code", """\
deployment = automl.deploy("reviews")
key = deployment.new_keys[0].key
print(f"deployment {deployment.name}: {deployment.status}; key {key[:8]}... (slot 1)")
answer = automl.predict(deployment.id, "Nobody replied to my three emails")
answer["status"][0]["response"]["output"]"""),
    ("md", """\
From another program, ask it over HTTP with the key (the Jupyter server serves the task API):

```bash
curl -H "Authorization: Bearer $KEY" -F text_data="Nobody replied" \\
     http://localhost:8888/automl/api/v2/task/sync
```

Requests to a deployed version go to its deployment, without the playground limit. Undeploy
when you are done (the keys stop working; redeploy brings it back with the same keys)."""),
    ("code", """\
automl.undeploy(deployment.id).status"""),
]


def build() -> nbformat.NotebookNode:
    cells = []
    for kind, source in CELLS:
        if kind == "md":
            cells.append(new_markdown_cell(source))
        else:
            cell = new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def render() -> str:
    """The notebook as the file holds it (cell ids fixed, so the file is stable)."""
    notebook = build()
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"quickstart-{n:02d}"
    return nbformat.writes(notebook) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUT}\n")
