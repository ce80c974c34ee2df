"""LLM rows to tokens (completion-only labels, chat roles, limits) and batching and packing."""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from jupyter_automl.base_models.tiny import build_tiny_causal_lm
from jupyter_automl.datasets.rules_llm import TABLE_COLUMNS
from jupyter_automl.errors import InvalidInput
from jupyter_automl.training.llm_data import (
    IGNORE,
    Example,
    _Encoder,
    collate_packed,
    collate_padded,
    encode_rows,
    length_grouped_batches,
    packed_batches,
    padding_waste,
)

CUSTOMER_ROLES = json.dumps({"user": "customer", "model": "agent"})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llm") / "model")


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return AutoTokenizer.from_pretrained(model_dir)


def table(*rows: dict) -> pd.DataFrame:
    """A snapshot table (rows numbered from 2, as in the spreadsheet); missing cells are empty."""
    empty = dict.fromkeys(TABLE_COLUMNS, "")
    return pd.DataFrame([{**empty, "row": n + 2, **r} for n, r in enumerate(rows)], columns=TABLE_COLUMNS)


def history(*turns: tuple[str, str]) -> str:
    return json.dumps([{"role": role, "content": content} for role, content in turns])


def turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def split_labels(example: Example) -> tuple[int, list[int]]:
    """How many tokens are context, and the labelled rest; fails unless context comes first."""
    context = example.labels.count(IGNORE)
    assert example.labels[:context] == [IGNORE] * context
    assert example.labels[context:] == example.input_ids[context:]
    return context, example.labels[context:]


COMPLETIONS = ["It is 1.", " Paris, with a leading space.", "two\nlines", "5000 metres!", "ünïcode ☕"]


def test_chat_labels_are_the_completion_and_the_end_of_turn_only(tokenizer):
    rows = [{"prompt": f"What is {i} plus one?", "completion": c} for i, c in enumerate(COMPLETIONS)]
    out = encode_rows(table(*rows), tokenizer, chat=True, max_tokens=None)
    assert [e.row for e in out.examples] == [2, 3, 4, 5, 6]
    assert not out.too_long and not out.invalid
    for example, row in zip(out.examples, rows):
        messages = [turn("user", row["prompt"]), turn("assistant", row["completion"])]
        prompt_part = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
        whole = tokenizer.apply_chat_template(messages, tokenize=False)
        assert example.input_ids == ids_of(tokenizer, whole)
        context, labelled = split_labels(example)
        assert example.input_ids[:context] == ids_of(tokenizer, prompt_part)  # what generation is given
        assert tokenizer.decode(labelled) == row["completion"] + "<|im_end|>\n"


def test_system_prompt_history_and_custom_roles_land_in_the_right_chat_roles(tokenizer):
    rows = table(
        {
            "prompt": "Where is my parcel?",
            "completion": "It arrives today.",
            "system_prompt": "Answer briefly.",
            "prompt_history": history(("customer", "hello"), ("agent", "hi, how can I help?")),
            "roles": CUSTOMER_ROLES,
        },
        {  # default role names, "model" standing for the assistant
            "prompt": "And the price?",
            "completion": "10 euros.",
            "prompt_history": history(("user", "order 5"), ("model", "done")),
        },
    )
    first, second = encode_rows(rows, tokenizer, chat=True, max_tokens=None).examples
    assert tokenizer.decode(first.input_ids) == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
        "<|im_start|>user\nhello<|im_end|>\n"
        "<|im_start|>assistant\nhi, how can I help?<|im_end|>\n"
        "<|im_start|>user\nWhere is my parcel?<|im_end|>\n"
        "<|im_start|>assistant\nIt arrives today.<|im_end|>\n"
    )
    # Only the last answer is learnt, not the one in the history.
    assert tokenizer.decode(split_labels(first)[1]) == "It arrives today.<|im_end|>\n"
    assert tokenizer.decode(second.input_ids) == (
        "<|im_start|>user\norder 5<|im_end|>\n<|im_start|>assistant\ndone<|im_end|>\n"
        "<|im_start|>user\nAnd the price?<|im_end|>\n<|im_start|>assistant\n10 euros.<|im_end|>\n"
    )
    assert tokenizer.decode(split_labels(second)[1]) == "10 euros.<|im_end|>\n"


def test_fast_encoding_is_exactly_the_tokenizers(tokenizer):
    """Pieces and words encoded once each give the same ids as the tokenizer, even for special
    tokens written inside a message, runs of spaces, line breaks and repeated system prompts."""
    prompts = ["What is  2 + 2?", "Say <|im_end|> please", "a\n\n b  c ", "Cost: 10 000!"]
    completions = [" It is 4.", "done<|im_start|>", "ok\n", "  spaced  out  "]
    rows = []
    for i in range(240):
        rows.append(
            {
                "prompt": prompts[i % 4] + f" #{i}",
                "completion": completions[i % 3] + f" v{i % 7}",
                "system_prompt": ["", "Answer briefly.", "Be kind.  Be exact."][i % 3],
                "prompt_history": history(("customer", f"hello {i % 5}"), ("agent", "hi")) if i % 2 else "",
                "roles": CUSTOMER_ROLES if i % 2 else "",
            }
        )
    out = encode_rows(table(*rows), tokenizer, chat=True, max_tokens=None)
    assert len(out.examples) == 240
    for example, row in zip(out.examples, rows):
        messages = [turn("system", row["system_prompt"])] if row["system_prompt"] else []
        if row["prompt_history"]:
            messages += [turn("user", f"hello {(example.row - 2) % 5}"), turn("assistant", "hi")]
        messages += [turn("user", row["prompt"]), turn("assistant", row["completion"])]
        assert example.input_ids == ids_of(tokenizer, tokenizer.apply_chat_template(messages, tokenize=False))

    texts = [tokenizer.apply_chat_template([turn("user", r["prompt"])], tokenize=False) for r in rows]
    encoder = _Encoder(tokenizer)
    assert encoder._words  # the word level is what runs (and 240 texts are all checked)
    assert encoder(texts) == [ids_of(tokenizer, t) for t in texts] and encoder.exact


def test_a_prompt_token_that_the_answer_would_merge_with_is_kept(tokenizer):
    """A template whose generation prompt ends in a space: the whole conversation tokenizes the
    space with the answer's first word, but generation is given the prompt's own tokens."""
    spaced = copy.deepcopy(tokenizer)
    spaced.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    rows = table({"prompt": "hello", "completion": "two days."})
    (example,) = encode_rows(rows, spaced, chat=True, max_tokens=None).examples
    prompt_ids = ids_of(spaced, "user: hello\nassistant: ")
    assert ids_of(spaced, "user: hello\nassistant: two days.\n")[: len(prompt_ids)] != prompt_ids
    assert example.input_ids == prompt_ids + ids_of(spaced, "two days.\n")
    context, labelled = split_labels(example)
    assert context == len(prompt_ids) and spaced.decode(labelled) == "two days.\n"


def test_text_rows_are_the_prompt_then_the_completion_and_eos(tokenizer):
    rows = table(
        {"prompt": "What is 1 plus one?", "completion": " It is 2."},
        {"prompt": "Hi", "completion": "Hello", "system_prompt": "Answer briefly."},
    )
    first, second = encode_rows(rows, tokenizer, chat=False, max_tokens=None).examples
    eos = tokenizer.eos_token_id
    prompt, completion = ids_of(tokenizer, "What is 1 plus one?"), ids_of(tokenizer, " It is 2.")
    assert first.input_ids == prompt + completion + [eos]
    assert tokenizer.decode(split_labels(first)[1]) == " It is 2." + tokenizer.eos_token
    assert tokenizer.decode(second.input_ids) == "Answer briefly.\n\nHi" + "Hello" + tokenizer.eos_token
    assert tokenizer.decode(split_labels(second)[1]) == "Hello" + tokenizer.eos_token

    with_bos = copy.deepcopy(tokenizer)
    with_bos.add_bos_token = True
    (example,) = encode_rows(rows.iloc[:1], with_bos, chat=False, max_tokens=None).examples
    assert example.input_ids == [with_bos.bos_token_id] + first.input_ids
    assert example.labels[1:] == first.labels


def test_rows_over_max_tokens_are_left_out_with_their_counts(tokenizer):
    rows = table(*[{"prompt": f"Q{i}", "completion": "word " * (200 if i == 2 else 3)} for i in range(4)])
    for chat in (True, False):
        unlimited = encode_rows(rows, tokenizer, chat=chat, max_tokens=None)
        lengths = {e.row: len(e.input_ids) for e in unlimited.examples}
        limit = sorted(lengths.values())[-2]  # only the long row is over
        limited = encode_rows(rows, tokenizer, chat=chat, max_tokens=limit)
        assert limited.too_long == [(4, lengths[4])] and lengths[4] > limit
        assert [e.row for e in limited.examples] == [2, 3, 5]
        assert [e.row for e in encode_rows(rows, tokenizer, chat=chat, max_tokens=0).examples] == [2, 3, 4, 5]


def test_rows_that_cannot_be_encoded_are_invalid_with_a_reason(tokenizer):
    rows = table(
        {"prompt": "a", "completion": "fine"},
        {"prompt": "b", "completion": "x", "prompt_history": "[{"},
        {"prompt": "c", "completion": "x", "prompt_history": history(("stranger", "hi"))},
        {"prompt": "d", "completion": "x", "roles": '{"user": "customer"}'},
        {"prompt": "e", "completion": "  "},
        {"prompt": "f", "completion": "fine too"},
    )
    out = encode_rows(rows, tokenizer, chat=True, max_tokens=None)
    assert [e.row for e in out.examples] == [2, 7]
    reasons = dict(out.invalid)
    assert list(reasons) == [3, 4, 5, 6]
    assert "prompt_history is not valid JSON" in reasons[3]
    assert "unknown role 'stranger'" in reasons[4]
    assert "roles has no 'model'" in reasons[5]
    assert reasons[6] == "empty completion"
    assert [r for r, _ in encode_rows(rows, tokenizer, chat=False, max_tokens=None).invalid] == [6]


def test_chat_needs_a_chat_template(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    rows = table({"prompt": "a", "completion": "b"})
    with pytest.raises(InvalidInput, match="no chat template"):
        encode_rows(rows, plain, chat=True, max_tokens=None)
    assert len(encode_rows(rows, plain, chat=False, max_tokens=None).examples) == 1


def lognormal_lengths(n: int = 4000, seed: int = 0) -> list[int]:
    """Chat-like lengths: median about 250 tokens, 32..1024."""
    return np.clip(np.random.default_rng(seed).lognormal(5.5, 0.6, n), 32, 1024).astype(int).tolist()


def test_length_grouped_batches_cover_every_row_once_within_limits():
    lengths = lognormal_lengths()
    batches = length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 16 for b in batches)
    assert all(max(lengths[i] for i in b) * len(b) <= 4096 for b in batches if len(b) > 1)
    assert any(len(b) < 16 and max(lengths[i] for i in b) * 16 > 4096 for b in batches)  # the cap cut them
    assert any(len(b) == 16 for b in batches)
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths != sorted(widths, reverse=True) and widths != sorted(widths)  # batch order shuffled

    assert batches == length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=0)
    assert batches != length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=1, epoch=1)
    assert batches != length_grouped_batches(lengths, batch_size=16, max_batch_tokens=4096, seed=2, epoch=0)

    uncapped = length_grouped_batches(lengths, batch_size=16, max_batch_tokens=None, seed=1, epoch=0)
    assert sorted(i for b in uncapped for i in b) == list(range(len(lengths)))
    assert sum(len(b) < 16 for b in uncapped) <= len(lengths) // (16 * 50) + 1  # one short batch a mega-chunk


def test_length_grouping_wastes_much_less_padding_than_random_batches():
    lengths = lognormal_lengths()
    batches = length_grouped_batches(lengths, batch_size=16, max_batch_tokens=None, seed=0, epoch=0)
    grouped = padding_waste(batches, lengths)
    order = np.random.default_rng(0).permutation(len(lengths)).tolist()
    plain = padding_waste([order[i : i + 16] for i in range(0, len(order), 16)], lengths)
    print(f"padding waste: grouped {grouped:.1%}, random {plain:.1%}")
    assert grouped < 0.05 and plain > 0.35
    assert padding_waste([[0, 1]], [3, 1]) == pytest.approx(2 / 6)


def test_packed_bins_respect_the_cap_and_hold_every_row_once():
    lengths = lognormal_lengths(2000) + [5000]
    bins = packed_batches(lengths, max_batch_tokens=4096, seed=0, epoch=0)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 4096 for b in bins if b != [2000])
    assert [2000] in bins  # longer than the cap: a bin of its own
    assert len(bins) <= 1.02 * sum(lengths[:2000]) / 4096 + 2  # nearly full bins
    assert bins == packed_batches(lengths, max_batch_tokens=4096, seed=0, epoch=0)
    assert bins != packed_batches(lengths, max_batch_tokens=4096, seed=0, epoch=1)


def test_collate_padded_pads_on_the_right_and_ignores_padding():
    examples = [Example(2, [5, 6, 7], [IGNORE, 6, 7]), Example(3, [8], [IGNORE])]
    batch = collate_padded(examples, pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, IGNORE, IGNORE]]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_forward_equals_each_example_alone(tokenizer, model_dir, attention):
    """Position ids restarting at 0 and no attention mask: transformers masks block-diagonally,
    so no example sees another (the model runs without a KV cache, as in training)."""
    rows = table(
        *[
            {"prompt": f"What is {i} plus one?", "completion": "one more. " * i, "system_prompt": "Brief." * (i % 2)}
            for i in range(1, 5)
        ]
    )
    examples = encode_rows(rows, tokenizer, chat=True, max_tokens=None).examples
    packed = collate_packed(examples)
    assert set(packed) == {"input_ids", "labels", "position_ids"}
    starts = np.cumsum([0] + [len(e.input_ids) for e in examples[:-1]]).tolist()
    assert packed["position_ids"][0, starts].tolist() == [0] * len(examples)
    assert (packed["labels"][0, starts] == IGNORE).all()

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attention)
    model.eval()
    padded = collate_padded(examples, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        inputs = {k: packed[k] for k in ("input_ids", "position_ids")}
        logits = model(**inputs, use_cache=False).logits[0]
        padded_logits = model(
            input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], use_cache=False
        ).logits
        for k, (example, start) in enumerate(zip(examples, starts)):
            n = len(example.input_ids)
            alone = model(input_ids=torch.tensor([example.input_ids]), use_cache=False).logits[0]
            torch.testing.assert_close(logits[start : start + n], alone, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(padded_logits[k, :n], alone, atol=1e-5, rtol=1e-5)


def test_two_thousand_chat_rows_encode_fast(tokenizer):
    rng = np.random.default_rng(0)
    words = "the parcel arrived two days early and well packed support answered in minutes".split()

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words, n)).capitalize() + "."

    rows = table(
        *[
            {
                "prompt": sentence(int(rng.integers(5, 40))),
                "completion": sentence(int(rng.integers(5, 60))),
                "system_prompt": ["Answer briefly.", "You are a support agent."][i % 2],
                "prompt_history": history(("customer", sentence(10)), ("agent", sentence(12))),
                "roles": CUSTOMER_ROLES,
            }
            for i in range(2000)
        ]
    )
    start = time.perf_counter()
    out = encode_rows(rows, tokenizer, chat=True, max_tokens=None)
    seconds = time.perf_counter() - start
    tokens = sum(len(e.input_ids) for e in out.examples)
    print(f"encoded 2,000 chat rows ({tokens:,} tokens) in {seconds:.2f} s")
    assert len(out.examples) == 2000 and not out.invalid
