"""Continuous batching (training/decoding.py): rows that join a running generation between
tokens, and leave it as soon as they end, get exactly what ``generate`` gives each alone."""

from __future__ import annotations

import pytest
import torch

from jupyter_automl.training import load_predictor
from jupyter_automl.training.decoding import Decoder, Row, supports
from jupyter_automl.training.kv_cache import fill_holes
from jupyter_automl.training.predictor import generation_settings

PROMPTS = [
    {"prompt": "What is 1 plus one?"},
    {"prompt": "What is 3 plus one?", "system_prompt": "Answer briefly."},
    {"prompt": "hi", "prompt_history": [{"role": "user", "content": "a much longer first turn, "
                                         "so that this prompt is the longest of them all"},
                                        {"role": "assistant", "content": "ok"}]},
    {"prompt": "Tell me a story about a lamp."},
]


@pytest.fixture(scope="module")
def predictor(tiny_runs):
    torch.manual_seed(0)
    return load_predictor(tiny_runs["llm_chat"], device="cpu")


def settings(**options):
    return generation_settings({"max_tokens": 12, **options})


def alone(predictor, item, **options):
    return predictor.generate_ids([predictor.prompt_ids(item)], settings(**options))[0]


def test_rows_joining_a_running_generation_get_what_generate_gives_each_alone(predictor, one_torch_thread):
    expected = [alone(predictor, item, max_tokens=4 + 3 * n) for n, item in enumerate(PROMPTS)]
    rows = [Row(predictor.prompt_ids(item), settings(max_tokens=4 + 3 * n)) for n, item in enumerate(PROMPTS)]
    decoder = Decoder(predictor)
    ended = decoder.add(rows[:2])
    ended += decoder.step()
    ended += decoder.add(rows[2:])  # a longer prompt joins rows that are two tokens in
    in_flight = []
    while decoder.rows:
        in_flight.append(len(decoder.rows))
        ended += decoder.step()
    assert [row.result for row in rows] == expected
    assert sorted(map(id, ended)) == sorted(map(id, rows))
    # Rows left as they ended: the shortest first, so fewer rows were decoded at each step.
    assert in_flight == sorted(in_flight, reverse=True) and in_flight[-1] < len(rows)


def test_a_row_that_ends_leaves_the_cache_and_its_columns_are_cut(predictor, one_torch_thread):
    long_prompt, short_prompt = (predictor.prompt_ids(PROMPTS[2]), predictor.prompt_ids(PROMPTS[0]))
    decoder = Decoder(predictor)
    decoder.add([Row(long_prompt, settings(max_tokens=2)), Row(short_prompt, settings(max_tokens=6))])
    assert decoder._mask.shape == (2, len(long_prompt))
    ended = decoder.step()  # the long prompt's row has its two tokens
    assert [len(row.prompt) for row in ended] == [len(long_prompt)]
    # The short row alone is left, with no column of padding before its prompt.
    assert decoder._mask.shape == (1, len(short_prompt) + 1) and bool(decoder._mask.all())
    assert decoder._cache.get_seq_length() == len(short_prompt) + 1


def test_rows_join_into_free_rows_and_the_last_row_takes_the_place_of_one_that_left(
        predictor, one_torch_thread):
    items = [(PROMPTS[2], 10), (PROMPTS[0], 3), (PROMPTS[1], 6)]
    expected = [alone(predictor, item, max_tokens=n) for item, n in items]
    rows = [Row(predictor.prompt_ids(item), settings(max_tokens=n)) for item, n in items]
    decoder = Decoder(predictor)
    decoder.add(rows[:2])
    decoder.step()
    buffers = decoder._cache.layers[0]._keys
    decoder.add(rows[2:])  # shorter than the rows in flight: written into a free row
    assert decoder._cache.layers[0]._keys is buffers and decoder.rows == rows
    while rows[1].result is None:
        decoder.step()
    # The second row left; the third took its place, and nothing was reallocated.
    assert decoder.rows == [rows[0], rows[2]] and decoder._cache.layers[0]._keys is buffers
    while decoder.rows:
        decoder.step()
    assert [row.result for row in rows] == expected


def test_fill_holes_moves_only_the_last_rows_into_the_places_left():
    assert fill_holes([0, 1, 2]) == [0, 1, 2]  # nobody left from the first places
    assert fill_holes([0, 2, 3]) == [0, 3, 2]  # row 1 left: row 3 takes its place
    assert fill_holes([1, 2, 4]) == [4, 1, 2] and fill_holes([2, 3]) == [2, 3]
    assert fill_holes([]) == []


def test_a_row_can_end_at_its_first_token(predictor, one_torch_thread):
    row = Row(predictor.prompt_ids(PROMPTS[0]), settings(max_tokens=1))
    decoder = Decoder(predictor)
    assert decoder.add([row]) == [row] and decoder.rows == []
    assert row.result == alone(predictor, PROMPTS[0], max_tokens=1)


def test_stop_sequences_end_a_row_as_they_end_generate(predictor, one_torch_thread):
    free = alone(predictor, PROMPTS[3], max_tokens=16)["completion"]
    assert len(free) > 3
    stop = free[2:4]
    row = Row(predictor.prompt_ids(PROMPTS[3]), settings(max_tokens=16, stop=stop))
    decoder = Decoder(predictor)
    decoder.add([row, Row(predictor.prompt_ids(PROMPTS[1]), settings(max_tokens=16))])
    while row.result is None:
        decoder.step()
    assert row.result == alone(predictor, PROMPTS[3], max_tokens=16, stop=stop)
    assert row.result["finish_reason"] == "stop" and stop not in row.result["completion"]


def test_a_seeded_sampled_row_draws_the_same_alone_or_in_company(predictor, one_torch_thread):
    sampled = dict(max_tokens=16, temperature=1.5, top_p=0.9, seed=42)

    def draw(company: int) -> dict:
        row = Row(predictor.prompt_ids(PROMPTS[3]), settings(**sampled))
        others = [Row(predictor.prompt_ids(PROMPTS[n % 3]), settings(max_tokens=16, temperature=1.0))
                  for n in range(company)]
        decoder = Decoder(predictor)
        decoder.add([*others, row])
        while decoder.rows:
            decoder.step()
        return row.result

    first = draw(0)
    assert draw(3) == first and draw(1) == first
    other_seed = Row(predictor.prompt_ids(PROMPTS[3]), settings(**{**sampled, "seed": 43}))
    decoder = Decoder(predictor)
    decoder.add([other_seed])
    while decoder.rows:
        decoder.step()
    assert other_seed.result != first


def test_streamed_pieces_join_to_the_completion(predictor, one_torch_thread):
    pieces: list[str] = []
    row = Row(predictor.prompt_ids(PROMPTS[3]), settings(max_tokens=16), on_text=pieces.append)
    decoder = Decoder(predictor)
    decoder.add([row, Row(predictor.prompt_ids(PROMPTS[0]), settings(max_tokens=3))])
    while decoder.rows:
        decoder.step()
    assert len(pieces) > 1 and "".join(pieces) == row.result["completion"]


def test_only_full_attention_caches_take_part():
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    small = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                 num_attention_heads=2, num_key_value_heads=1)
    assert supports(LlamaForCausalLM(LlamaConfig(**small)))
    assert not supports(MistralForCausalLM(MistralConfig(sliding_window=8, **small)))


def test_a_shared_prompt_beginning_is_prefilled_once_and_the_answers_do_not_change(predictor, one_torch_thread):
    system = "You are the support assistant of a lamp shop. Keep answers short and polite, always."
    items = [{"prompt": question, "system_prompt": system}
             for question in ("Where is my parcel?", "Can I return a lamp?", "Do you ship abroad?")]
    expected = [alone(predictor, item) for item in items]
    decoder = Decoder(predictor)
    rows = [Row(predictor.prompt_ids(item), settings()) for item in items]
    decoder.add(rows[:1])
    decoder.add(rows[1:2])  # shares the system prompt with the first: that part is cached
    decoder.step()
    decoder.add(rows[2:])  # prefilled from the cached part
    while decoder.rows:
        decoder.step()
    assert [row.result for row in rows] == expected
    # The second and third rows were prefilled from the shared beginning (at least 16 tokens),
    # which is shorter than any of the prompts.
    prefixes = decoder._prefixes
    assert prefixes.hits == 2 and prefixes.tokens_saved >= 2 * prefixes.min_tokens
    assert all(len(tokens) < min(len(row.prompt) for row in rows) for tokens in prefixes._prefixes)


def test_without_the_prefix_cache_nothing_is_kept(predictor, one_torch_thread):
    decoder = Decoder(predictor, prefix_cache=False)
    item = {"prompt": "Where is my parcel?", "system_prompt": "A long and shared system prompt " * 4}
    rows = [Row(predictor.prompt_ids(item), settings()) for _ in range(2)]
    decoder.add(rows[:1])
    decoder.add(rows[1:])
    while decoder.rows:
        decoder.step()
    assert decoder._prefixes is None and rows[0].result == rows[1].result == alone(predictor, item)


# -- one pass for a step and the newcomers' prompts (training/packed.py) ------------------------

@pytest.fixture(params=["packed", "two passes"])
def way(request):
    """How :meth:`Decoder.advance` runs: one packed pass, or a step then a prefill (the way of
    architectures ``packed`` does not re-state)."""
    return request.param


def decoder_for(predictor, way, **options):
    decoder = Decoder(predictor, **options)
    assert decoder._packed is not None  # the tiny model is a Llama
    if way == "two passes":
        decoder._packed = None
    return decoder


def test_rows_that_advance_get_what_generate_gives_each_alone(predictor, way, one_torch_thread):
    system = "You are the support assistant of a lamp shop. Keep answers short and polite, always."
    items = [*PROMPTS, *({"prompt": q, "system_prompt": system} for q in ("Where is my parcel?", "Can I return it?"))]
    lengths = [5, 1, 9, 3, 7, 4]
    expected = [alone(predictor, item, max_tokens=n) for item, n in zip(items, lengths)]
    rows = [Row(predictor.prompt_ids(item), settings(max_tokens=n)) for item, n in zip(items, lengths)]
    decoder = decoder_for(predictor, way)
    ended = decoder.advance(rows[:2])  # the second ends at its first token
    assert ended == [rows[1]] and decoder.rows == [rows[0]]
    ended += decoder.advance()
    ended += decoder.advance(rows[2:4])  # a longer prompt and a shorter one join a row in flight
    ended += decoder.advance(rows[4:5])
    ended += decoder.advance(rows[5:])  # shares the system prompt with the one before: that part is cached
    while decoder.rows:
        ended += decoder.advance()
    assert [row.result for row in rows] == expected
    assert sorted(map(id, ended)) == sorted(map(id, rows))
    assert len(decoder._prefixes._prefixes) == 1


def test_a_seeded_row_draws_the_same_whether_it_joins_alone_or_beside_others(predictor, way, one_torch_thread):
    sampled = dict(max_tokens=16, temperature=1.5, top_p=0.9, seed=7)

    def draw(company: int) -> dict:
        row = Row(predictor.prompt_ids(PROMPTS[3]), settings(**sampled))
        decoder = decoder_for(predictor, way)
        decoder.advance([Row(predictor.prompt_ids(PROMPTS[n % 3]), settings(max_tokens=16, temperature=1.0))
                         for n in range(company)])
        decoder.advance([row])
        while decoder.rows:
            decoder.advance()
        return row.result

    alone = Row(predictor.prompt_ids(PROMPTS[3]), settings(**sampled))
    decoder = Decoder(predictor)
    decoder.add([alone])
    while decoder.rows:
        decoder.step()
    assert draw(0) == draw(3) == alone.result


def test_the_packed_pass_keeps_a_new_shared_beginning_from_the_prompt_that_computed_it(
        predictor, one_torch_thread):
    system = "You are the support assistant of a lamp shop. Keep answers short and polite, always."
    items = [{"prompt": q, "system_prompt": system} for q in ("Where is my parcel?", "Can I return it?", "Hi")]
    expected = [alone(predictor, item) for item in items]
    decoder = decoder_for(predictor, "packed")
    passes = []
    decoder._forward = lambda *args: passes.append(args)  # the model's own forward: never needed
    rows = [Row(predictor.prompt_ids(item), settings()) for item in items]
    for row in rows:
        decoder.advance([row])
    while decoder.rows:
        decoder.advance()
    assert [row.result for row in rows] == expected and passes == []
    # The second prompt shared its beginning with the first: it kept that part as it prefilled
    # itself whole; the third was prefilled from it.
    prefixes = decoder._prefixes
    (tokens,) = prefixes._prefixes
    assert prefixes.hits == 1 and prefixes.tokens_saved == len(tokens) >= prefixes.min_tokens
    assert list(tokens) == rows[0].prompt[:len(tokens)] == rows[2].prompt[:len(tokens)]
    (keys, values), *_ = prefixes._prefixes[tokens].states
    assert keys.shape[2] == values.shape[2] == len(tokens) and keys._base is None  # not a view of a prompt


TINY = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2)


def tiny_model(architecture: str):
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, f"{architecture}Config")(**TINY)
    return getattr(transformers, f"{architecture}ForCausalLM")(config).eval()


@pytest.mark.parametrize("architecture", ["Llama", "Qwen2", "Mistral"])
def test_the_packed_pass_gives_what_the_models_own_forward_gives(architecture):
    from transformers import DynamicCache

    from jupyter_automl.training.packed import Prompt, packed_forward

    model = tiny_model(architecture)
    packed = packed_forward(model)
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        # Three rows in flight, left-padded to 9 tokens, each fed one more token.
        lengths = [9, 4, 6]
        ids = torch.randint(0, TINY["vocab_size"], (3, 9), generator=generator)
        mask = torch.tensor([[0] * (9 - n) + [1] * n for n in lengths])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        theirs, ours = DynamicCache(config=model.config), DynamicCache(config=model.config)
        for cache in (theirs, ours):
            model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        step = torch.randint(0, TINY["vocab_size"], (3, 1), generator=generator)
        mask = torch.cat([mask, torch.ones((3, 1), dtype=torch.long)], dim=1)
        expected = model(input_ids=step, attention_mask=mask, position_ids=torch.tensor(lengths)[:, None],
                         cache=theirs, use_cache=True).logits[:, -1]
        # Two prompts join: one whole, one after a prefix of 5 tokens computed before.
        whole, later = (torch.randint(0, TINY["vocab_size"], (1, n), generator=generator) for n in (7, 11))
        prefix = DynamicCache(config=model.config)
        model(input_ids=later[:, :5], cache=prefix, use_cache=True)
        prompts = [Prompt(whole[0].tolist()),
                   Prompt(later[0, 5:].tolist(), 5, [(layer.keys, layer.values) for layer in prefix.layers])]
        logits, states = packed(step[:, 0], torch.tensor(lengths), mask, ours, prompts)
        for n, prompt in enumerate((whole, later)):
            cache = DynamicCache(config=model.config)
            alone = model(input_ids=prompt, cache=cache, use_cache=True).logits[:, -1]
            assert torch.allclose(logits[3 + n], alone[0], atol=1e-5)
            for (keys, values), layer in zip(states[n], cache.layers):
                assert torch.allclose(keys, layer.keys, atol=1e-5) and torch.allclose(values, layer.values, atol=1e-5)
    assert logits.shape == (5, TINY["vocab_size"]) and logits.dtype == torch.float32
    assert torch.allclose(logits[:3], expected, atol=1e-5)
    for mine, their in zip(ours.layers, theirs.layers):  # the rows' new token went into their cache
        assert torch.allclose(mine.keys, their.keys, atol=1e-5)


def test_only_the_architectures_it_restates_get_a_packed_pass():
    from transformers import GPT2Config, GPT2LMHeadModel

    from jupyter_automl.training.packed import packed_forward

    assert packed_forward(tiny_model("Llama")) is not None
    assert packed_forward(GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64))) is None
