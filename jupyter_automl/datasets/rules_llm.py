"""DESIGN §4 rules for LLM datasets (``llm_text``, ``llm_chat``), and how a row becomes tokens.

Columns: ``prompt`` and ``completion`` (required), ``system_prompt``, ``prompt_history`` and
``roles`` (optional). ``prompt_history`` is a JSON list of ``{"content": str, "role": str}``
turns, oldest first; ``roles`` a JSON object ``{"user": <name>, "model": <name>}`` naming the
roles the history uses (without it: ``user``, and ``assistant`` or ``model``).

What a row's tokens are (the same functions serve training and serving, so counts agree):

* ``llm_chat``: :func:`chat_messages` (system prompt, history turns mapped to ``user`` and
  ``assistant``, the prompt as ``user``, the completion as ``assistant``) rendered with the
  tokenizer's chat template, tokenized without adding special tokens -- exactly what
  ``tokenizer.apply_chat_template(messages)`` returns.
* ``llm_text``: ``tokenizer(llm_text_prompt(prompt, system_prompt))`` (with the tokenizer's
  special tokens), then ``tokenizer(completion, add_special_tokens=False)``, then one EOS token
  when the tokenizer has one. Prompt and completion are tokenized apart, so the completion's
  tokens (the ones a model learns) are the same however the prompt ends.

Counting is exact and fast: the chat template is rendered once per *shape* of conversation
(which roles, in which order) with placeholder contents, giving the fixed text around each
message; each row's text is then put together from that and checked against real renders of
a sample of rows (any difference: every row is rendered by the template). See ``tokens.py``
for the counting itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .report import Issue, ValidationReport
from .rows import Rows
from .tokens import TokenCounter, token_stats, tokenizer_label

REQUIRED = ("prompt", "completion")
PROMPT_COLUMNS = ("prompt",)  # a file of inputs to predict has no completion
OPTIONAL = ("system_prompt", "prompt_history", "roles")
COLUMNS = REQUIRED + OPTIONAL
TABLE_COLUMNS = ["row", *COLUMNS, "tokens"]
DEFAULT_ROLE_NAMES = {"user": "user", "assistant": "assistant", "model": "assistant"}
TEXT_SEPARATOR = "\n\n"
HISTORY_SHAPE = 'a JSON list of {"content": "...", "role": "..."} turns, oldest first'
ROLES_SHAPE = 'a JSON object {"user": "<name>", "model": "<name>"}'


class CellError(ValueError):
    """A cell that breaks a rule; ``column`` and ``reason`` go into an :class:`Issue`."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _json(text: str, column: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CellError(
            column,
            f"{column} is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno} (character {error.pos})",
        ) from None


def parse_roles(text: str) -> dict[str, str] | None:
    """The ``roles`` cell as ``{"user": name, "model": name}``, or None for an empty cell."""
    text = text.strip()
    if not text:
        return None
    value = _json(text, "roles")
    if not isinstance(value, dict):
        raise CellError("roles", f"roles must be {ROLES_SHAPE}; got {_kind(value)}")
    unknown = [k for k in value if k not in ("user", "model")]
    if unknown:
        raise CellError("roles", f"roles has an unknown key {unknown[0]!r}; it takes 'user' and 'model'")
    for key in ("user", "model"):
        if key not in value:
            raise CellError("roles", f"roles has no {key!r} name; it must be {ROLES_SHAPE}")
        if not isinstance(value[key], str) or not value[key].strip():
            raise CellError("roles", f"roles: {key!r} must be a non-empty string, got {_kind(value[key])}")
    user, model = value["user"].strip(), value["model"].strip()
    if user == model:
        raise CellError("roles", f"roles names the user and the model both {user!r}")
    return {"user": user, "model": model}


def role_names(roles: dict[str, str] | None) -> dict[str, str]:
    """History role name -> chat-template role (``user`` or ``assistant``)."""
    if roles is None:
        return DEFAULT_ROLE_NAMES
    return {roles["user"]: "user", roles["model"]: "assistant"}


def parse_prompt_history(text: str, roles: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The ``prompt_history`` cell as turns ``{"role": name, "content": text}`` (names as written).

    Raises :class:`CellError` for bad JSON (with its position), a wrong shape, or a role that
    ``roles`` (or the default names) does not name.
    """
    return _parse_history(text.strip(), roles)[0]


def _parse_history(text: str, roles: dict[str, str] | None) -> tuple[list[dict[str, str]], bool]:
    """The turns, and whether ``text`` already is their normal form (only content and role)."""
    if not text:
        return [], True
    value = _json(text, "prompt_history")
    if not isinstance(value, list):
        raise CellError("prompt_history", f"prompt_history must be {HISTORY_SHAPE}; got {_kind(value)}")
    names = role_names(roles)
    turns = []
    normal = True
    for n, turn in enumerate(value, 1):
        where = f"turn {n} of prompt_history"
        if not isinstance(turn, dict):
            raise CellError(
                "prompt_history", f"{where} is {_kind(turn)}, not an object with 'content' and 'role'"
            )
        for key in ("content", "role"):
            if key not in turn:
                raise CellError("prompt_history", f"{where} has no {key!r}")
            if not isinstance(turn[key], str):
                raise CellError("prompt_history", f"{where}: {key!r} must be a string, got {_kind(turn[key])}")
        role = turn["role"].strip()
        if role not in names:
            if roles is None:
                expected = "'user' or 'assistant' (or 'model'); a roles column can name others"
            else:
                expected = f"{roles['user']!r} (user) or {roles['model']!r} (model), as roles says"
            raise CellError("prompt_history", f"{where} has unknown role {role!r}; expected {expected}")
        turns.append({"role": role, "content": turn["content"]})
        normal = normal and len(turn) == 2 and role == turn["role"]
    return turns, normal


def chat_messages(
    prompt: str,
    completion: str | None = None,
    *,
    system_prompt: str = "",
    history: Sequence[dict[str, str]] = (),
    roles: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    """The conversation a chat template renders for one row (or one request, without completion)."""
    names = role_names(roles)
    messages = []
    if system_prompt and system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt})
    messages += [{"role": names[t["role"].strip()], "content": t["content"]} for t in history]
    messages.append({"role": "user", "content": prompt})
    if completion is not None:
        messages.append({"role": "assistant", "content": completion})
    return messages


def llm_text_prompt(prompt: str, system_prompt: str = "") -> str:
    """The text an ``llm_text`` model reads before its completion."""
    if system_prompt and system_prompt.strip():
        return system_prompt + TEXT_SEPARATOR + prompt
    return prompt


# -- chat templates, fast ----------------------------------------------------------------------


class ChatLayouts:
    """The fixed text a chat template writes around the messages of each conversation shape.

    ``literals(shape)`` renders placeholder messages (with surrounding spaces and line breaks,
    so a template that strips or changes contents is noticed) and returns the texts between
    them, or None when the template does not copy each content verbatim exactly once.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._layouts: dict[tuple[str, ...], list[str] | None] = {}

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def literals(self, shape: tuple[str, ...]) -> list[str] | None:
        if shape in self._layouts:
            return self._layouts[shape]
        marks = [f" \n\ue000JamlMessage{i}\ue001\n " for i in range(len(shape))]
        layout: list[str] | None = None
        try:
            text = self.render([{"role": r, "content": m} for r, m in zip(shape, marks)])
        except Exception:  # noqa: BLE001 - the template refuses this shape; rows render one by one
            text = None
        if isinstance(text, str) and all(text.count(m) == 1 for m in marks):
            layout, start = [], 0
            for mark in marks:
                at = text.find(mark, start)
                if at < 0:
                    layout = None
                    break
                layout.append(text[start:at])
                start = at + len(mark)
            if layout is not None:
                layout.append(text[start:])
        self._layouts[shape] = layout
        return layout


def _join(literals: list[str], contents: list[str]) -> str:
    parts = [""] * (2 * len(contents) + 1)
    parts[0::2] = literals
    parts[1::2] = contents
    return "".join(parts)


def _render_chats(
    layouts: ChatLayouts,
    shapes: list[tuple[str, ...]],
    contents: list[list[str]],
    sample: list[int],
) -> tuple[list[str | None], dict[int, str]]:
    """Each conversation's rendered text (None where the template refuses it) and the errors."""
    texts: list[str | None] = [None] * len(shapes)
    errors: dict[int, str] = {}
    slow: list[int] = []
    for i, (shape, parts) in enumerate(zip(shapes, contents)):
        literals = layouts.literals(shape)
        if literals is None:
            slow.append(i)
        else:
            texts[i] = _join(literals, parts)
    # Check the layouts against real renders of a sample; one difference and all render.
    for i in sample:
        if texts[i] is None:
            continue
        try:
            real = layouts.render([{"role": r, "content": c} for r, c in zip(shapes[i], contents[i])])
        except Exception:  # noqa: BLE001
            real = None
        if real != texts[i]:
            slow = list(range(len(shapes)))
            break
    for i in slow:
        try:
            texts[i] = layouts.render([{"role": r, "content": c} for r, c in zip(shapes[i], contents[i])])
        except Exception as error:  # noqa: BLE001 - a template may raise (e.g. roles must alternate)
            texts[i] = None
            errors[i] = f"the chat template refuses this conversation: {error}"
    return texts, errors


# -- the rules -----------------------------------------------------------------------------------


def check_llm(rows: Rows, settings: Any, report: ValidationReport, *, chat: bool) -> pd.DataFrame:
    """Check every row; return the valid rows as the LLM table (see ``validation.py``)."""
    tokenizer = settings.tokenizer
    prompts, completions = rows.cells("prompt"), rows.cells("completion")
    systems = rows.cells("system_prompt")
    histories, roles_cells = rows.cells("prompt_history"), rows.cells("roles")
    n = len(rows)
    predicting = settings.prediction
    answer: tuple[str, ...] = () if predicting else ("assistant",)
    if not chat:
        for column in ("prompt_history", "roles"):
            if column in rows.columns:
                report.warnings.append(
                    Issue(None, column, f"{column} is used only by llm_chat models; ignored for llm_text")
                )
    if chat and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        report.errors.append(
            Issue(
                None,
                None,
                f"the tokenizer of {tokenizer_label(tokenizer, settings.tokenizer_name)} has no chat "
                "template, so llm_chat rows cannot be rendered; choose a chat base model or llm_text",
            )
        )
        tokenizer = None

    norm_history = [""] * n
    norm_roles = [""] * n
    shapes: list[tuple[str, ...]] = []
    contents: list[list[str]] = []
    positions: list[int] = []  # row index of each conversation
    roles_cache: dict[str, Any] = {}
    history_cache: dict[tuple[str, str], Any] = {}
    for i in range(n):
        prompt, completion = prompts[i], completions[i]
        if not prompt.strip():
            rows.add(i, "prompt", "empty prompt")
        if not completion.strip() and not predicting:
            rows.add(i, "completion", "empty completion")
        if not chat:
            continue
        roles_text = roles_cells[i]
        roles = roles_cache.get(roles_text)
        if roles is None and roles_text not in roles_cache:
            try:
                parsed = parse_roles(roles_text)
                roles = (parsed, json.dumps(parsed, ensure_ascii=False) if parsed else "")
            except CellError as error:
                roles = error
            roles_cache[roles_text] = roles
        if isinstance(roles, CellError):
            rows.add(i, roles.column, roles.reason)
            continue
        key = (histories[i], roles_text)
        history = history_cache.get(key)
        if history is None:
            try:
                text = histories[i].strip()
                turns, normal = _parse_history(text, roles[0])
                names = role_names(roles[0])
                history = (
                    "" if not turns else text if normal else json.dumps(turns, ensure_ascii=False),
                    tuple(names[t["role"]] for t in turns),
                    [t["content"] for t in turns],
                )
            except CellError as error:
                history = error
            history_cache[key] = history
        if isinstance(history, CellError):
            rows.add(i, history.column, history.reason)
            continue
        norm_history[i], norm_roles[i] = history[0], roles[1]
        if rows.bad[i]:
            continue
        system = systems[i]
        if system.strip():
            shapes.append(("system", *history[1], "user", *answer))
            contents.append([system, *history[2], prompt, *([] if predicting else [completion])])
        else:
            shapes.append((*history[1], "user", *answer))
            contents.append([*history[2], prompt, *([] if predicting else [completion])])
        positions.append(i)

    tokens: list[Any] = [None] * n
    if tokenizer is None:
        if settings.tokenizer is None:
            report.warnings.append(
                Issue(None, None, "no tokenizer given: token counts and the max_tokens check were skipped")
            )
    elif chat:
        counter = TokenCounter(tokenizer)
        sample = counter.sample_indices(len(positions))
        texts, errors = _render_chats(ChatLayouts(tokenizer), shapes, contents, sample)
        for j, reason in errors.items():
            rows.add(positions[j], None, reason)
        keep = [j for j, t in enumerate(texts) if t is not None]
        if len(keep) != len(texts):
            texts = [texts[j] for j in keep]
            positions = [positions[j] for j in keep]
            sample = counter.sample_indices(len(positions))
        for i, count in zip(positions, counter.count(texts, add_special_tokens=False, sample=sample)):
            tokens[i] = count
    else:
        good = [i for i in range(n) if not rows.bad[i]]
        counter = TokenCounter(tokenizer)
        heads = counter.count(
            [llm_text_prompt(prompts[i], systems[i]) for i in good], add_special_tokens=True
        )
        tails = counter.count([completions[i] for i in good], add_special_tokens=False)
        eos = 1 if getattr(tokenizer, "eos_token_id", None) is not None and not predicting else 0
        for i, a, b in zip(good, heads, tails):
            tokens[i] = a + b + eos

    if tokenizer is not None:
        limit = settings.max_tokens
        for i in range(n):
            t = tokens[i]
            if t is not None and t > limit and not rows.bad[i]:
                rows.add(i, None, f"{t:,} tokens, more than max_tokens {limit:,}")

    good = rows.good()
    if tokenizer is not None:
        report.token_stats = token_stats(
            [tokens[i] for i in good], tokenizer_label(tokenizer, settings.tokenizer_name)
        )
    return pd.DataFrame(
        {
            "row": [rows.numbers[i] for i in good],
            "prompt": [prompts[i] for i in good],
            "completion": [completions[i] for i in good],
            "system_prompt": [systems[i] for i in good],
            "prompt_history": [norm_history[i] for i in good],
            "roles": [norm_roles[i] for i in good],
            "tokens": pd.Series([tokens[i] for i in good], dtype="int64" if tokenizer is not None else object),
        },
        columns=TABLE_COLUMNS,
    )
