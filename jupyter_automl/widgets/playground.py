"""Try a trained version: a chat for LLMs, a box that shows every head's class scores for
classifiers. Both go through the playground (``AutoML.playground``): limited requests within
days of training, unless the version is deployed, in which case its deployment answers."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import AutoMLError
from ..model_types import ModelType
from ..training.predictor import DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS
from .base import STYLE, WIDE, Panel, html_table


def _output(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer of a finished playground task, or its failure as an error."""
    entry = task["status"][0]
    if task["state"] != "succeeded":
        raise AutoMLError(entry["status"]["message"])
    return entry["response"]["output"]


class _Tryout(Panel):
    """What the chat and the try-it box share: the version and the remaining requests."""

    def __init__(self, automl: Any | None, model: str, version: int | None) -> None:
        super().__init__(automl)
        self.target = self.automl.get_version(model, version)
        self.model = self.automl.get_model(model)
        self.remaining = w.HTML()
        self.usage: Any = None
        self.attempt(self.refresh_usage)

    def refresh_usage(self) -> None:
        usage = self.automl.playground_usage(self.model.name, self.target.version)
        self.usage = usage
        if usage.deployment_id:
            self.remaining.value = ("<small>deployed: requests go to the deployment, "
                                    "without the playground limit</small>")
        else:
            until = f" until {usage.expires_at:%Y-%m-%d %H:%M} UTC" if usage.expires_at else ""
            self.remaining.value = (f"<small><b>{usage.remaining}</b> of {usage.limit} playground "
                                    f"requests left{until}; deploy the version for more</small>")

    def ask(self, text: str | None = None, **inputs: Any) -> list[dict[str, Any]]:
        try:
            task = self.automl.playground(self.model.name, self.target.version, text, **inputs)
        finally:
            self.attempt(self.refresh_usage)
        return _output(task)


def _bubble(role: str, text: str, *, note: str = "") -> str:
    mine = role == "user"
    color = "var(--jp-brand-color3)" if mine else "var(--jp-layout-color2)"
    align = "flex-end" if mine else "flex-start"
    return (f"<div style='display:flex;justify-content:{align};margin:3px 0'>"
            f"<div style='background:{color};color:var(--jp-ui-font-color0);padding:6px 10px;"
            f"border-radius:10px;max-width:75%;white-space:pre-wrap'>"
            f"<small><b>{html.escape(role)}</b>{html.escape(note)}</small><br>"
            f"{html.escape(text.strip()) or '<i>(an empty answer: only white space)</i>'}</div></div>")


class ChatPlayground(_Tryout):
    """A conversation with an LLM version. Each turn sends the message with the system prompt and
    the conversation so far as ``prompt_history``; with ``compare_base`` the base model answers
    the same request beside it (run here, not counted)."""

    def __init__(self, automl: Any | None, model: str, version: int | None = None, *,
                 system_prompt: str = "", compare_base: bool = False) -> None:
        super().__init__(automl, model, version)
        if not ModelType(self.model.model_type).is_llm:
            raise AutoMLError(f"model {self.model.name!r} is a classifier: use TryIt")
        self.history: list[dict[str, str]] = []
        self.base_answers: list[str | None] = []
        chat = ModelType(self.model.model_type) is ModelType.LLM_CHAT
        self.system_prompt = w.Textarea(value=system_prompt, description="System prompt",
                                        style=STYLE, layout=WIDE, rows=2)
        self.conversation = w.HTML(layout=w.Layout(max_height="360px", overflow="auto",
                                                   width="640px", border="1px solid var(--jp-border-color2)",
                                                   padding="6px"))
        self.prompt = w.Textarea(placeholder="Your message", layout=w.Layout(width="560px"), rows=2)
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.clear_button = w.Button(description="New conversation", icon="trash",
                                     layout=w.Layout(width="max-content"))
        self.max_tokens = w.BoundedIntText(value=min(DEFAULT_NEW_TOKENS, 128), min=1, max=MAX_NEW_TOKENS,
                                           description="Max new tokens", style=STYLE)
        self.temperature = w.BoundedFloatText(value=0.0, min=0.0, max=5.0, step=0.1,
                                              description="Temperature", style=STYLE)
        self.top_p = w.BoundedFloatText(value=1.0, min=0.01, max=1.0, step=0.05,
                                        description="Top p", style=STYLE)
        self.compare_base = w.Checkbox(value=compare_base, description="Also ask the base model",
                                       style={"description_width": "initial"})
        self.send_button.on_click(lambda _: self.send())
        self.clear_button.on_click(lambda _: self.clear())
        self.keeps_history = chat
        self.children = [
            w.HTML(f"<h3>Playground: {html.escape(self.model.name)} v{self.target.version}</h3>"),
            self.remaining, self.system_prompt, self.conversation,
            w.HBox([self.prompt, w.VBox([self.send_button, self.clear_button])]),
            w.HBox([self.max_tokens, self.temperature, self.top_p]), self.compare_base, self.message,
        ]
        self._draw()

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"max_tokens": self.max_tokens.value,
                                   "temperature": self.temperature.value, "top_p": self.top_p.value}
        if self.system_prompt.value.strip():
            options["system_prompt"] = self.system_prompt.value
        if self.keeps_history and self.history:
            options["prompt_history"] = list(self.history)
        return options

    def send(self, text: str | None = None) -> str | None:
        """Send ``text`` (or what is typed) and return the answer; the turn joins the history."""
        message = (text if text is not None else self.prompt.value).strip()
        if not message:
            self.show_error("type a message first")
            return None
        self.show_info("")  # an earlier error no longer applies
        options = self._options()
        answer = self.attempt(lambda: self.ask(message, options=options))
        if answer is None:
            return None
        completion = answer[0]["completion"]
        base = None
        if self.compare_base.value:
            base = self.attempt(lambda: self.automl.base_model_answer(
                self.model.name, self.target.version, message, options=options))
        if self.keeps_history:
            self.history += [{"role": "user", "content": message},
                             {"role": "assistant", "content": completion}]
        self.base_answers.append(base["completion"] if base else None)
        self.prompt.value = ""
        if self.error is None:
            self.show_info(f"{answer[0]['completion_tokens']} tokens, finish: {answer[0]['finish_reason']}")
        self._draw(answer_only=None if self.keeps_history else (message, completion))
        return completion

    def clear(self) -> None:
        self.history, self.base_answers = [], []
        self._draw()

    def _draw(self, answer_only: tuple[str, str] | None = None) -> None:
        turns = self.history if answer_only is None else [
            {"role": "user", "content": answer_only[0]}, {"role": "assistant", "content": answer_only[1]}]
        parts = []
        answers = iter(self.base_answers[-(len(turns) // 2):] if turns else [])
        for turn in turns:
            parts.append(_bubble(turn["role"], turn["content"],
                                 note=f" (v{self.target.version})" if turn["role"] != "user" else ""))
            if turn["role"] != "user":
                base = next(answers, None)
                if base is not None:
                    parts.append(_bubble("base model", base, note=f" ({self.target.base_model}, untuned)"))
        self.conversation.value = "".join(parts) or "<i>No messages yet.</i>"


class TryIt(_Tryout):
    """Text or an image for a classifier version; shows every head's class scores."""

    def __init__(self, automl: Any | None, model: str, version: int | None = None) -> None:
        super().__init__(automl, model, version)
        kind = ModelType(self.model.model_type)
        if kind.is_llm:
            raise AutoMLError(f"model {self.model.name!r} is an LLM: use ChatPlayground")
        self.images = kind is ModelType.IMAGE_CLASSIFICATION
        self.text = w.Textarea(placeholder="Text to classify", layout=WIDE, rows=3)
        self.image_path = w.Text(description="Image file", style=STYLE, layout=WIDE,
                                 placeholder="path of an image on the server")
        self.button = w.Button(description="Classify", button_style="primary", icon="tags")
        self.scores = w.HTML()
        self.table: pd.DataFrame | None = None
        self.button.on_click(lambda _: self.classify())
        field = self.image_path if self.images else self.text
        self.children = [
            w.HTML(f"<h3>Try {html.escape(self.model.name)} v{self.target.version}</h3>"),
            self.remaining, field, self.button, self.message, self.scores,
        ]

    def classify(self, text: str | None = None, *, image: str | Path | bytes | None = None) -> pd.DataFrame | None:
        """Every class of every head with its score, best first."""
        def run() -> pd.DataFrame:
            if self.images:
                media = image if image is not None else self.image_path.value.strip()
                if not media:
                    raise AutoMLError("give the path of an image")
                output = self.ask(None, media=media)
            else:
                value = text if text is not None else self.text.value
                output = self.ask(value)
            rows = [{"head": h["head"], "class": c["class"], "score": c["score"]}
                    for h in output for c in h["classes"]]
            return pd.DataFrame(rows, columns=["head", "class", "score"])

        table = self.attempt(run)
        if table is not None:
            self.table = table
            self.show_info("")
            self.scores.value = "".join(
                f"<b>{html.escape(head)}</b>" + html_table(group.drop(columns="head"), index=False)
                for head, group in table.groupby("head", sort=False))
        return table
