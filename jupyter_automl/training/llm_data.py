"""LLM snapshot rows to token sequences with completion-only labels, and low-padding batches.

A chat row renders through the tokenizer's chat template; everything up to the generation
prompt is context (label -100), the assistant turn and whatever the template closes it with
(``<|im_end|>``...) are the completion, so the model learns to stop. A text row is the prompt's
tokens followed by the completion's tokens and EOS, tokenized apart on purpose: at generation
time the model continues the prompt's own tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..datasets.rules_llm import CellError, chat_messages, llm_text_prompt, parse_prompt_history, parse_roles
from ..errors import InvalidInput

IGNORE = -100
MEGA_CHUNK_BATCHES = 50


@dataclass
class Example:
    row: int  # spreadsheet row number
    input_ids: list[int]
    labels: list[int]  # IGNORE on every token that is not completion


@dataclass
class EncodedRows:
    examples: list[Example] = field(default_factory=list)
    too_long: list[tuple[int, int]] = field(default_factory=list)  # (row, tokens)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)


def _cell(value: object) -> str:
    return value if isinstance(value, str) else ""


def _chat_texts(table: pd.DataFrame, tokenizer) -> tuple[list[int], list[str], list[str], list[tuple[int, str]]]:
    rows, prompts, fulls, invalid = [], [], [], []
    for record in table.itertuples(index=False):
        row = int(record.row)
        try:
            roles_cell = _cell(getattr(record, "roles", ""))
            roles = parse_roles(roles_cell) if roles_cell.strip() else None
            history = parse_prompt_history(_cell(getattr(record, "prompt_history", "")), roles)
        except CellError as error:
            invalid.append((row, str(error)))
            continue
        messages = chat_messages(
            record.prompt, record.completion, system_prompt=_cell(getattr(record, "system_prompt", "")),
            history=history, roles=roles,
        )
        prompts.append(tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False))
        fulls.append(tokenizer.apply_chat_template(messages, tokenize=False))
        rows.append(row)
    return rows, prompts, fulls, invalid


def encode_rows(table: pd.DataFrame, tokenizer, *, chat: bool, max_tokens: int | None) -> EncodedRows:
    """Tokenize every row (one batched call per part); rows over ``max_tokens`` are left out.

    ``max_tokens`` None or 0 means no limit.
    """
    out = EncodedRows()
    if table.empty:
        return out
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise InvalidInput("this base model's tokenizer has no chat template; train it as llm_text")
        rows, prompts, fulls, out.invalid = _chat_texts(table, tokenizer)
        prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(fulls, add_special_tokens=False)["input_ids"]
        pairs = []
        for prompt, full, prompt_text, full_text in zip(prompt_ids, full_ids, prompts, fulls):
            if full[: len(prompt)] != prompt:
                # The template or a merge across the boundary tokenized the prompt differently
                # inside the whole conversation: tokenize the two parts apart instead.
                if full_text.startswith(prompt_text):
                    rest = full_text[len(prompt_text):]
                    full = prompt + tokenizer(rest, add_special_tokens=False)["input_ids"]
            pairs.append((prompt, full[len(prompt):]))
    else:
        rows = [int(r) for r in table["row"]]
        system = table["system_prompt"] if "system_prompt" in table else [""] * len(table)
        texts = [llm_text_prompt(p, _cell(s)) for p, s in zip(table["prompt"], system)]
        prompt_ids = tokenizer(texts)["input_ids"]  # the tokenizer's own BOS, as at generation
        completion_ids = tokenizer(list(table["completion"]), add_special_tokens=False)["input_ids"]
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        pairs = [(p, c + eos) for p, c in zip(prompt_ids, completion_ids)]
    limit = max_tokens or None
    for row, (prompt, completion) in zip(rows, pairs):
        total = len(prompt) + len(completion)
        if not completion:
            out.invalid.append((row, "the completion has no tokens"))
        elif limit is not None and total > limit:
            out.too_long.append((row, total))
        else:
            out.examples.append(Example(row, list(prompt) + list(completion), [IGNORE] * len(prompt) + list(completion)))
    return out


def length_grouped_batches(
    lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int | None, seed: int, epoch: int
) -> list[list[int]]:
    """Batches of rows of similar length: shuffle, sort inside mega-chunks, cut, shuffle batches.

    At most ``batch_size`` rows and, when given, ``max_batch_tokens`` padded tokens a batch.
    Deterministic for (seed, epoch); every index appears once.
    """
    rng = np.random.default_rng((seed, epoch))
    order = rng.permutation(len(lengths))
    chunk = batch_size * MEGA_CHUNK_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: -lengths[i])
        current: list[int] = []
        longest = 0
        for i in part:
            width = max(longest, lengths[i])
            too_many = len(current) >= batch_size
            too_wide = max_batch_tokens is not None and width * (len(current) + 1) > max_batch_tokens
            if current and (too_many or too_wide):
                batches.append(current)
                current, width = [], lengths[i]
            current.append(i)
            longest = width
        if current:
            batches.append(current)
    return [batches[i] for i in rng.permutation(len(batches))]


def packed_batches(lengths: Sequence[int], *, max_batch_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """Rows packed first-fit-decreasing into bins of at most ``max_batch_tokens`` tokens."""
    rng = np.random.default_rng((seed, epoch))
    order = rng.permutation(len(lengths)).tolist()
    order.sort(key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(max(0, max_batch_tokens - lengths[i]))
    return [bins[i] for i in rng.permutation(len(bins))]


def collate_padded(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_packed(examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    """One row of concatenated examples that never see each other.

    Position ids restart at 0 for each example, and a 4-D additive attention mask is
    block-diagonal and causal. The mask is explicit because transformers 5 does not infer the
    blocks from the position ids for sdpa or eager attention (measured: without it, the second
    example's logits change). The first token of each example is never a target.
    """
    ids, labels, positions, segments = [], [], [], []
    for n, e in enumerate(examples):
        ids += e.input_ids
        labels += [IGNORE] + e.labels[1:]
        positions += range(len(e.input_ids))
        segments += [n] * len(e.input_ids)
    segment = torch.tensor(segments)
    allowed = (segment[:, None] == segment[None, :]).tril()
    mask = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill_(~allowed, torch.finfo(torch.float32).min)
    return {
        "input_ids": torch.tensor([ids], dtype=torch.long),
        "labels": torch.tensor([labels], dtype=torch.long),
        "position_ids": torch.tensor([positions], dtype=torch.long),
        "attention_mask": mask[None, None],
    }


def padding_waste(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of the positions in padded batches that are padding."""
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 1 - real / padded if padded else 0.0
