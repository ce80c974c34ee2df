"""LLM rows to tokens: completion-only labels, chat roles, limits, batching and packing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.llm_data import (
    IGNORE,
    collate_packed,
    collate_padded,
    encode_rows,
    length_grouped_batches,
    packed_batches,
    padding_waste,
)

from .conftest import llm_rows


def labelled_text(tokenizer, example):
    return tokenizer.decode([t for t in example.labels if t != IGNORE])


def test_chat_labels_cover_the_completion_and_the_end_of_turn_only(tiny_llm_tokenizer):
    tok = tiny_llm_tokenizer
    out = encode_rows(llm_rows(6, history=True), tok, chat=True, max_tokens=None)
    assert len(out.examples) == 6 and not out.too_long and not out.invalid
    for example, completion in zip(out.examples, llm_rows(6)["completion"]):
        assert labelled_text(tok, example) == completion + "<|im_end|>\n"
        context = tok.decode(example.input_ids[: example.labels.index(next(t for t in example.labels if t != IGNORE))])
        assert context.endswith("<|im_start|>assistant\n")


def test_chat_context_has_system_prompt_history_and_mapped_roles(tiny_llm_tokenizer):
    out = encode_rows(llm_rows(2, history=True), tiny_llm_tokenizer, chat=True, max_tokens=None)
    first = tiny_llm_tokenizer.decode(out.examples[0].input_ids)
    assert "<|im_start|>user\nhello<|im_end|>" in first and "<|im_start|>assistant\nhi<|im_end|>" in first
    assert "customer" not in first and "agent" not in first
    second = tiny_llm_tokenizer.decode(out.examples[1].input_ids)
    assert second.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>")


def test_text_rows_are_prompt_then_completion_and_eos(tiny_llm_tokenizer):
    tok = tiny_llm_tokenizer
    out = encode_rows(llm_rows(4), tok, chat=False, max_tokens=None)
    assert labelled_text(tok, out.examples[0]) == "It is 1." + tok.eos_token
    assert tok.decode(out.examples[1].input_ids).startswith("Answer briefly.\n\nWhat is 1 plus one?")


def test_rows_over_max_tokens_are_left_out_with_their_counts_and_zero_means_no_limit(tiny_llm_tokenizer):
    table = llm_rows(4)
    table.loc[2, "completion"] = "word " * 200
    limited = encode_rows(table, tiny_llm_tokenizer, chat=True, max_tokens=60)
    assert [r for r, _ in limited.too_long] == [4] and limited.too_long[0][1] > 60
    assert len(limited.examples) == 3
    for unlimited in (None, 0):
        assert len(encode_rows(table, tiny_llm_tokenizer, chat=True, max_tokens=unlimited).examples) == 4


def test_bad_json_in_a_row_makes_it_invalid_not_a_crash(tiny_llm_tokenizer):
    table = llm_rows(3)
    table.loc[1, "prompt_history"] = "[{"
    out = encode_rows(table, tiny_llm_tokenizer, chat=True, max_tokens=None)
    assert [r for r, _ in out.invalid] == [3] and "prompt_history" in out.invalid[0][1]


def test_a_tokenizer_without_chat_template_is_refused_for_chat(tiny_llm_tokenizer):
    import copy

    tok = copy.deepcopy(tiny_llm_tokenizer)
    tok.chat_template = None
    with pytest.raises(InvalidInput, match="no chat template"):
        encode_rows(llm_rows(2), tok, chat=True, max_tokens=None)


def lognormal_lengths(n=2000, seed=0):
    return np.clip(np.random.default_rng(seed).lognormal(5.5, 0.6, n), 32, 1024).astype(int).tolist()


def test_length_grouped_batches_cover_every_row_once_within_limits_and_waste_little():
    lengths = lognormal_lengths()
    batches = length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 16 and max(lengths[i] for i in b) * len(b) <= 4096 or len(b) == 1 for b in batches)
    assert batches == length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=0)
    assert batches != length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=1)
    order = np.random.default_rng(0).permutation(len(lengths)).tolist()
    random_batches = [order[i : i + 16] for i in range(0, len(order), 16)]
    grouped, plain = padding_waste(batches, lengths), padding_waste(random_batches, lengths)
    assert grouped < 0.1 < 0.3 < plain


def test_packed_batches_respect_the_token_cap():
    lengths = lognormal_lengths(500) + [5000]
    bins = packed_batches(lengths, max_batch_tokens=4096, seed=0, epoch=0)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 4096 or len(b) == 1 for b in bins)
    assert padding_waste([[i] for b in bins for i in b], lengths) == 0


def test_a_packed_forward_equals_each_example_alone(tiny_llm, tiny_llm_tokenizer):
    """The block-diagonal mask and restarting positions: no example sees another."""
    from jupyter_automl.base_models.loading import load_causal_lm

    examples = encode_rows(llm_rows(3, history=True), tiny_llm_tokenizer, chat=True, max_tokens=None).examples
    for attention in ("sdpa", "eager"):
        model = load_causal_lm(tiny_llm, dtype=torch.float32, attn_implementation=attention).eval()
        with torch.no_grad():
            packed = collate_packed(examples)
            assert (packed["labels"][0, [0, len(examples[0].input_ids)]] == IGNORE).all()
            logits = model(**{k: v for k, v in packed.items() if k != "labels"}).logits[0]
            start = 0
            for example in examples:
                alone = model(**{k: v for k, v in collate_padded([example], 0).items() if k != "labels"}).logits[0]
                n = len(example.input_ids)
                torch.testing.assert_close(logits[start : start + n], alone, atol=1e-5, rtol=1e-4)
                start += n
