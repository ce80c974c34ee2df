"""Tiny base models built from a config, for fast tests: they save, reload and train offline.

``tiny_base_model_configs(root)`` writes one of each kind under ``root`` and returns the
config dicts that register them (``c.AutoML.base_models = ...``), so a test suite exercises
the same loading path a user's local model takes, in well under a second per model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "The parcel arrived two days early and well packed.",
    "Convert 5 kilometres to metres: 5000 metres.",
    "What is the capital of France? The capital of France is Paris.",
    "Support answered in minutes and fixed my problem.",
    "user assistant system customer agent hello thanks please order delivery price quality",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 2024-01-31 = + - * / ? ! , . : ; ' \" ( ) [ ] { }",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]


def byte_level_bpe(specials: list[str], vocab_size: int, corpus: list[str] = _CORPUS):
    """A byte-level BPE tokenizer (any text encodes, no unknown tokens) trained on a few lines."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus * 4, trainer=trainer)
    return tokenizer


def chatml_tokenizer(
    *, vocab_size: int = 384, corpus: list[str] = _CORPUS, chat_template: str = CHATML_TEMPLATE,
    model_max_length: int | None = None,
):
    """A tiny ChatML fast tokenizer: ``<|im_start|>``/``<|im_end|>`` specials and a chat template."""
    from transformers import PreTrainedTokenizerFast

    extra = {"model_max_length": model_max_length} if model_max_length else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], vocab_size, corpus),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        **extra,
    )
    fast.chat_template = chat_template
    return fast


def encoder_tokenizer(*, vocab_size: int = 384, corpus: list[str] = _CORPUS):
    """A tiny BERT-style fast tokenizer that wraps every text in ``[CLS] ... [SEP]``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    raw = byte_level_bpe(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], vocab_size, corpus)
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", raw.token_to_id("[CLS]")), ("[SEP]", raw.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_tiny_causal_lm(path: str | Path, *, vocab_size: int = 384, seed: int = 0) -> Path:
    """A 2-layer Llama with a ChatML chat template, saved in ``save_pretrained`` format."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    fast = chatml_tokenizer(vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_tiny_text_encoder(path: str | Path, *, vocab_size: int = 384, seed: int = 0) -> Path:
    """A 2-layer BERT with a [CLS] ... [SEP] tokenizer, saved in ``save_pretrained`` format."""
    import torch
    from transformers import BertConfig, BertModel

    path = Path(path)
    fast = encoder_tokenizer(vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        pad_token_id=fast.pad_token_id,
    )
    BertModel(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_tiny_vit(path: str | Path, *, image_size: int = 32, seed: int = 0) -> Path:
    """A 2-layer ViT (patch 8) with a preprocessor_config.json, saved in ``save_pretrained`` format."""
    import json

    import torch
    from transformers import ViTConfig, ViTModel

    path = Path(path)
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=image_size,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
    )
    ViTModel(config).save_pretrained(path)
    (path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "ViTImageProcessor",
                "do_resize": True,
                "size": {"height": image_size, "width": image_size},
                "do_normalize": True,
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
            }
        ),
        encoding="utf-8",
    )
    return path


def tiny_base_model_configs(root: str | Path) -> list[dict[str, Any]]:
    """Build the three tiny models under ``root`` and return their registry config dicts.

    Names: ``tiny-llm`` (llm_text, llm_chat), ``tiny-encoder`` (text_classification),
    ``tiny-vit`` (image_classification, 32 px). Reuses folders that already exist.
    """
    root = Path(root)
    llm, encoder, vit = root / "tiny-llm", root / "tiny-encoder", root / "tiny-vit"
    if not (llm / "config.json").exists():
        build_tiny_causal_lm(llm)
    if not (encoder / "config.json").exists():
        build_tiny_text_encoder(encoder)
    if not (vit / "config.json").exists():
        build_tiny_vit(vit)
    return [
        {
            "name": "tiny-llm",
            "display_name": "Tiny Llama (tests)",
            "model_types": ["llm_text", "llm_chat"],
            "source": "local",
            "location": str(llm),
            "default_max_epochs": 1,
            "description": "2-layer Llama built from a config, random weights.",
        },
        {
            "name": "tiny-encoder",
            "display_name": "Tiny BERT (tests)",
            "model_types": ["text_classification"],
            "source": "local",
            "location": str(encoder),
            "default_max_epochs": 1,
            "description": "2-layer BERT built from a config, random weights.",
        },
        {
            "name": "tiny-vit",
            "display_name": "Tiny ViT (tests)",
            "model_types": ["image_classification"],
            "source": "local",
            "location": str(vit),
            "default_max_epochs": 1,
            "image_size": 32,
            "description": "2-layer ViT built from a config, random weights.",
        },
    ]
