"""LLM snapshot rows to token sequences with completion-only labels, and low-padding batches.

Tokens are those of ``datasets/rules_llm.py`` (validation counts them, the predictor feeds
them), so a row's length here is the length validation checked against Max Tokens:

* ``llm_chat``: the conversation rendered by the tokenizer's chat template. The render of the
  conversation up to the model's turn (with the generation prompt) is the context, label -100;
  everything after it -- the completion and whatever the template closes the turn with
  (``<|im_end|>\\n``) -- is labelled, so the model learns to stop.
* ``llm_text``: ``tokenizer(prompt text)`` (with the tokenizer's default special tokens: BOS for
  Llama-style tokenizers), then the completion tokenized apart, then EOS. Tokenizing the two
  apart is deliberate: at generation time the model continues the prompt's own tokens.

Labels line up with ``input_ids`` (the model shifts them, as transformers' causal LMs do).

Encoding is fast (50,000 chat rows in seconds on two cores): chat rows render through each
conversation shape's template layout (``rules_llm``), and every row is tokenized together,
each distinct piece of text once (:class:`_Encoder`), with results checked against the
tokenizer and template themselves.

Batching: :func:`length_grouped_batches` puts rows of similar length together so that little
of a padded batch (:func:`collate_padded`) is padding; :func:`packed_batches` with
:func:`collate_packed` leaves no padding at all.
"""

from __future__ import annotations

import bisect
import gc
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..datasets.rules_llm import (
    CellError,
    ChatLayouts,
    _render_chats,
    chat_messages,
    llm_text_prompt,
    parse_prompt_history,
    parse_roles,
)
from ..datasets.tokens import (
    _SPACE_AFTER_SPACE,
    _added_tokens,
    _plain_backend,
    _split_pattern,
    _word_safe,
    tokenizer_label,
)
from ..errors import InvalidInput

IGNORE = -100
MEGA_CHUNK_BATCHES = 50  # batches sorted together, as in transformers' LengthGroupedSampler
CHECKED_TEXTS = 256  # texts (and renders) checked against the tokenizer (template) itself
ENCODE_BATCH = 16_384  # texts per call of the tokenizer backend (bounds memory)


@dataclass
class Example:
    row: int  # spreadsheet row number
    input_ids: list[int]
    labels: list[int]  # IGNORE on every token not of the completion (system, history, prompt, template)


@dataclass
class EncodedRows:
    examples: list[Example] = field(default_factory=list)
    too_long: list[tuple[int, int]] = field(default_factory=list)  # (row, tokens), left out
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (row, reason), left out


def _sample(n: int) -> list[int]:
    """The indices checked: all of few, else the first, the last and a seeded random sample."""
    if n <= CHECKED_TEXTS + 2:
        return list(range(n))
    return [0, *sorted(random.Random(0).sample(range(1, n - 1), CHECKED_TEXTS)), n - 1]


class _Encoder:
    """``tokenizer(texts, add_special_tokens=...)["input_ids"]``, fast and exact.

    The two facts ``datasets/tokens.py`` counts with hold for ids too: a fast tokenizer cuts
    text at its added tokens (``<|im_start|>``...) and encodes the *segments* between them
    independently; and for byte-level BPE tokenizers with a GPT-2-like split (SmolLM2, Llama 3,
    Qwen 2...) a segment cut before each space that follows a non-space encodes as its *words*
    one by one. So each distinct segment, and at word level each distinct word, is encoded
    once, in one batched call of the Rust backend: what rows repeat (system prompts, histories,
    the template's text, the context a chat row has in its prompt render and in its full render,
    common words) costs nothing the second time. Every call checks a sample of texts against the
    tokenizer itself; on any difference it (and every later call) tokenizes whole texts.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._backend, config = _plain_backend(tokenizer)
        self._cut = None
        self._words = False
        # Text -> ids: segments, first words, and the added tokens (never a segment's text).
        self._known: dict[str, list[int]] = {"": []}
        self._spaced: dict[str, list[int]] = {}  # word -> ids of " " + word
        self._wrap = None
        if self._backend is not None:
            _, cut_at = _split_pattern(tokenizer, self._backend)
            if cut_at:
                # Longest first (the backend takes the longest added token); a group, so that
                # re.split keeps the added tokens, at the odd positions.
                alternatives = "|".join(re.escape(a) for a in sorted(cut_at, key=len, reverse=True))
                self._cut = re.compile(f"({alternatives})").split
                self._known.update((a, [self._backend.token_to_id(a)]) for a in cut_at)
            # Words only where every added token is a cut, so that none is left inside a word.
            added = {t.content for t in _added_tokens(self._backend) if t.content}
            self._words = _word_safe(config) and added == cut_at
            self._wrap = self._special_wrap()
        self.exact = self._backend is not None  # pieces trusted until a sample disagrees

    def __call__(self, texts: list[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        if not texts:
            return []
        if self.exact and (self._wrap is not None or not add_special_tokens):
            ids = self._pieced(texts)
            if add_special_tokens:
                head, tail = self._wrap
                ids = [head + x + tail for x in ids]
            sample = _sample(len(texts))
            reference = self._reference([texts[i] for i in sample], add_special_tokens)
            if all(ids[i] == r for i, r in zip(sample, reference)):
                return ids
            self.exact = False
        return self._reference(texts, add_special_tokens)

    def _reference(self, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
        return self.tokenizer(
            texts, add_special_tokens=add_special_tokens, truncation=False, padding=False, verbose=False
        )["input_ids"]

    def _special_wrap(self) -> tuple[list[int], list[int]] | None:
        """The ids the tokenizer puts before and after a text by default ([BOS], []), or None."""
        plain = self._reference(["a"], False)[0]
        full = self._reference(["a"], True)[0]
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return full[:start], full[start + len(plain) :]
        return None

    def _encode(self, texts: list[str]) -> list[list[int]]:
        ids: list[list[int]] = []
        for start in range(0, len(texts), ENCODE_BATCH):
            chunk = texts[start : start + ENCODE_BATCH]
            ids += (e.ids for e in self._backend.encode_batch_fast(chunk, add_special_tokens=False))
        return ids

    def _learn(self, segments: list[str]) -> None:
        known, spaced = self._known, self._spaced
        if not self._words:
            known.update(zip(segments, self._encode(segments)))
            return
        # Segments with a space after whitespace are encoded whole; the others as words.
        whole, split = [], []
        for s in segments:
            (whole if _SPACE_AFTER_SPACE(s) else split).append(s)
        words = [s.split(" ") for s in split]
        firsts = list({w[0] for w in words if w[0] not in known})
        rest = list({x for w in words for x in islice(w, 1, None) if x not in spaced})
        ids = self._encode(whole + firsts + [" " + x for x in rest])
        known.update(zip(whole + firsts, ids))
        spaced.update(zip(rest, islice(ids, len(whole) + len(firsts), None)))
        for s, w in zip(split, words):
            known[s] = list(chain(known[w[0]], *map(spaced.__getitem__, islice(w, 1, None))))

    def _pieced(self, texts: list[str]) -> list[list[int]]:
        cut = self._cut
        parts = [cut(t) for t in texts] if cut else [[t] for t in texts]
        known = self._known
        self._learn(list({p for ps in parts for p in ps if p not in known}))
        get = known.__getitem__
        return [list(chain.from_iterable(map(get, ps))) for ps in parts]


class _PromptLayouts(ChatLayouts):
    """Template layouts of the conversation up to the model's turn, with the generation prompt."""

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Encoding makes millions of small lists, none in a cycle; the cyclic collector would scan
    them again and again (about 40% of the time), so it waits until they are made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _column(table: pd.DataFrame, name: str) -> list[str]:
    if name not in table:
        return [""] * len(table)
    return [v if isinstance(v, str) else "" for v in table[name].tolist()]


def _chat_parts(
    table: pd.DataFrame, encoder: _Encoder, invalid: dict[int, str]
) -> dict[int, tuple[list[int], int]]:
    """Each chat row's ids and how many of them are context, by position in the table;
    problems go to ``invalid``."""
    prompts, completions = _column(table, "prompt"), _column(table, "completion")
    systems = _column(table, "system_prompt")
    histories, roles_cells = _column(table, "prompt_history"), _column(table, "roles")
    parsed: dict[tuple[str, str], Any] = {}
    shapes: list[tuple[str, ...]] = []
    contents: list[list[str]] = []
    where: list[int] = []
    for i in range(len(table)):
        if not completions[i].strip():
            invalid[i] = "empty completion"
            continue
        key = (histories[i], roles_cells[i])
        if key not in parsed:
            try:
                roles = parse_roles(roles_cells[i])
                parsed[key] = (parse_prompt_history(histories[i], roles), roles)
            except CellError as error:
                parsed[key] = error
        turns = parsed[key]
        if isinstance(turns, CellError):
            invalid[i] = turns.reason
            continue
        messages = chat_messages(
            prompts[i], completions[i], system_prompt=systems[i], history=turns[0], roles=turns[1]
        )
        shapes.append(tuple(m["role"] for m in messages))
        contents.append([m["content"] for m in messages])
        where.append(i)

    # Each shape's template layout is rendered once, and checked on a sample of real renders.
    tokenizer = encoder.tokenizer
    sample = _sample(len(where))
    fulls, full_errors = _render_chats(ChatLayouts(tokenizer), shapes, contents, sample)
    heads, head_errors = _render_chats(
        _PromptLayouts(tokenizer), [s[:-1] for s in shapes], [c[:-1] for c in contents], sample
    )
    ok: list[int] = []
    for j, i in enumerate(where):
        error = full_errors.get(j) or head_errors.get(j)
        if error is not None:
            invalid[i] = error
        elif not fulls[j].startswith(heads[j]):
            invalid[i] = (
                "the chat template writes the conversation differently once the answer is added, "
                "so the answer's tokens cannot be told apart"
            )
        else:
            ok.append(j)

    ids = encoder([heads[j] for j in ok] + [fulls[j] for j in ok])
    parts: dict[int, tuple[list[int], int]] = {}
    apart: list[int] = []
    for k, j in enumerate(ok):
        head, full = ids[k], ids[len(ok) + k]
        if full[: len(head)] == head:
            parts[where[j]] = (full, len(head))
        else:
            apart.append(k)
    # Where the prompt render's tokens are not the first tokens of the whole conversation (a
    # token of the whole straddles the end of the prompt: a generation prompt that ends in a
    # space, say), the prompt's own tokens are kept, because they are what the model is given
    # at generation time, and the rest of the render is tokenized on its own.
    rests = encoder([fulls[ok[k]][len(heads[ok[k]]) :] for k in apart])
    for k, rest in zip(apart, rests):
        parts[where[ok[k]]] = (ids[k] + rest, len(ids[k]))
    return parts


def _text_parts(
    table: pd.DataFrame, encoder: _Encoder, invalid: dict[int, str]
) -> dict[int, tuple[list[int], int]]:
    prompts, completions = _column(table, "prompt"), _column(table, "completion")
    systems = _column(table, "system_prompt")
    good = []
    for i in range(len(table)):
        if completions[i].strip():
            good.append(i)
        else:
            invalid[i] = "empty completion"
    heads = encoder([llm_text_prompt(prompts[i], systems[i]) for i in good], add_special_tokens=True)
    tails = encoder([completions[i] for i in good])
    eos_id = encoder.tokenizer.eos_token_id
    eos = [eos_id] if eos_id is not None else []
    return {i: (head + tail + eos, len(head)) for i, head, tail in zip(good, heads, tails)}


def encode_rows(table: pd.DataFrame, tokenizer: Any, *, chat: bool, max_tokens: int | None) -> EncodedRows:
    """Token ids and completion-only labels of every row of an LLM snapshot table.

    Rows with more than ``max_tokens`` tokens go to ``too_long`` (None or 0: no limit); rows
    whose JSON cells do not parse, whose completion is empty or that the chat template refuses
    go to ``invalid``. Both keep the table's order.
    """
    if chat and not getattr(tokenizer, "chat_template", None):
        raise InvalidInput(
            f"the tokenizer of {tokenizer_label(tokenizer)} has no chat template, so llm_chat rows "
            "cannot be rendered; choose a chat base model or train as llm_text"
        )
    out = EncodedRows()
    limit = max_tokens or None
    with _no_cyclic_gc():
        encoder = _Encoder(tokenizer)
        invalid: dict[int, str] = {}
        parts = (_chat_parts if chat else _text_parts)(table, encoder, invalid)
        for i, row in enumerate(int(r) for r in table["row"].tolist()):
            if i in invalid:
                out.invalid.append((row, invalid[i]))
                continue
            ids, context = parts[i]
            if len(ids) == context:
                out.invalid.append((row, "the completion has no tokens"))
            elif limit is not None and len(ids) > limit:
                out.too_long.append((row, len(ids)))
            else:
                out.examples.append(Example(row, ids, [IGNORE] * context + ids[context:]))
    return out


def length_grouped_batches(
    lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int | None, seed: int, epoch: int
) -> list[list[int]]:
    """Indices of rows in batches of similar length, for padded batches.

    Like transformers' LengthGroupedSampler: shuffle, sort by length inside mega-chunks of
    about 50 batches (so batches stay random across the data set), cut, shuffle the batches. A
    batch holds at most ``batch_size`` rows and, when ``max_batch_tokens`` is given, at most
    that many tokens once padded (rows x longest; a single longer row is a batch of its own).
    Deterministic for (seed, epoch); every index appears exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    sizes = np.asarray(lengths, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(sizes))
    chunk = batch_size * MEGA_CHUNK_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(-sizes[part], kind="stable")]
        current: list[int] = []
        longest = 0  # the first row's length: rows come longest first
        for i, n in zip(part.tolist(), sizes[part].tolist()):
            if current and (
                len(current) == batch_size
                or (max_batch_tokens and longest * (len(current) + 1) > max_batch_tokens)
            ):
                batches.append(current)
                current = []
            if not current:
                longest = n
            current.append(i)
        if current:
            batches.append(current)
    return [batches[k] for k in rng.permutation(len(batches))]


def packed_batches(
    lengths: Sequence[int], *, max_batch_tokens: int, seed: int, epoch: int
) -> list[list[int]]:
    """Indices of rows packed into bins of at most ``max_batch_tokens`` tokens, for
    :func:`collate_packed`.

    Best-fit decreasing: longest rows first, each into the fullest bin it fits in (a row longer
    than the cap gets a bin of its own). Ties are broken at random, so bins differ between
    epochs; the bin order is shuffled. Deterministic for (seed, epoch).
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(sizes))
    order = order[np.argsort(-sizes[order], kind="stable")]
    bins: list[list[int]] = []
    rooms: list[tuple[int, int]] = []  # (free tokens, bin), sorted
    for i, n in zip(order.tolist(), sizes[order].tolist()):
        k = bisect.bisect_left(rooms, (n, -1))
        if k < len(rooms):
            room, b = rooms.pop(k)
            bins[b].append(i)
        else:
            room, b = max_batch_tokens, len(bins)
            bins.append([i])
        if room - n > 0:
            bisect.insort(rooms, (room - n, b))
    return [bins[k] for k in rng.permutation(len(bins))]


def collate_padded(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels``, right-padded to the longest example."""
    width = max(len(e.input_ids) for e in examples)
    ids, labels, mask = [], [], []
    for e in examples:
        pad = width - len(e.input_ids)
        ids.append(e.input_ids + [pad_id] * pad)
        labels.append(e.labels + [IGNORE] * pad)
        mask.append([1] * len(e.input_ids) + [0] * pad)
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }


def collate_packed(examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    """The examples concatenated into one row ``[1, total]``: ``input_ids``, ``labels`` and
    ``position_ids`` that restart at 0 for each example; no ``attention_mask``.

    Given position ids and no attention mask, transformers (5.x, ``masking_utils``) finds where
    the position ids restart and builds a block-diagonal causal mask, for sdpa and eager
    attention alike: no example attends to another. It does so only when the forward has no
    KV cache, so the model must run with ``use_cache=False`` (``model.config.use_cache = False``
    for training): with the default ``use_cache=True`` it makes a cache, skips the check and
    silently lets each example attend to the ones before it. The first token of each example
    is never a target, so none is predicted from the end of the previous example.
    """
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for e in examples:
        ids += e.input_ids
        labels.append(IGNORE)
        labels += e.labels[1:]
        positions += range(len(e.input_ids))
    return {
        "input_ids": torch.tensor([ids], dtype=torch.long),
        "labels": torch.tensor([labels], dtype=torch.long),
        "position_ids": torch.tensor([positions], dtype=torch.long),
    }


def padding_waste(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """The share of positions that are padding when each batch is padded to its longest row."""
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 1 - real / padded if padded else 0.0
