"""Causal-LM fine-tuning for ``llm_text`` and ``llm_chat``: LoRA (default) or full.

The loss is the mean cross-entropy over completion tokens only, teacher-forced. It is computed
from the hidden states of the completion positions alone: the vocabulary projection (the
largest matrix of a small LLM) runs on the tokens that count instead of on every position, and
in chunks when they are many, so neither compute nor memory goes to the prompt's logits.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..base_models.loading import load_causal_lm, load_tokenizer
from ..evaluation import LossAccumulator, token_stats_from_selected
from .devices import Placement
from .llm_data import (
    Example,
    collate_packed,
    collate_padded,
    encode_rows,
    length_grouped_batches,
    packed_batches,
    padding_waste,
)
from .options import ResolvedOptions
from .task import Batch, Preparation, Task

# Above this many logits (tokens x vocabulary) a chunk's logits are recomputed in the
# backward pass instead of kept: about 1 GB of float32.
RECOMPUTE_LOGITS_ABOVE = 2**28
LOGIT_CHUNK = 2048
EVAL_BATCH_TOKENS = 16_384


def _inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a peft wrapper (LoRA layers are injected in place)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _decoder_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """The transformer body and the vocabulary projection, or None when logits need more
    than a projection (soft-capping, scaling) and the model's own forward must be used."""
    inner = _inner_model(model)
    config = inner.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    head = inner.get_output_embeddings()
    decoder = getattr(inner, getattr(inner, "base_model_prefix", "model"), None)
    if head is None or decoder is None or decoder is inner:
        return None
    return decoder, head


def completion_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the next token is a completion token: (mask over positions [b, t-1], targets)."""
    targets = labels[:, 1:]
    mask = targets != -100
    return mask, targets[mask]


class LLMTask(Task):
    """Fine-tunes a causal LM on the rows of an LLM snapshot."""

    def __init__(
        self,
        options: ResolvedOptions,
        placement: Placement,
        *,
        chat: bool,
        **data: Any,
    ) -> None:
        super().__init__(options, placement, **data)
        self.chat = chat
        self.examples: dict[str, list[Example]] = {}
        self.tokenizer: Any = None

    # -- set-up -----------------------------------------------------------------------------

    def _max_tokens(self, model: torch.nn.Module) -> int | None:
        context = getattr(model.config, "max_position_embeddings", None)
        limit = self.options.max_tokens or None
        if context:
            limit = min(limit, context) if limit else context
        return limit

    def _load_model(self) -> torch.nn.Module:
        cuda = self.placement.device.type == "cuda"
        # LoRA leaves the base frozen, so on a GPU it can stay in bf16; full fine-tuning keeps
        # float32 master weights and computes in bf16 under autocast.
        if self.options.method == "lora" and cuda and self.placement.dtype != torch.float32:
            dtype = self.placement.dtype
        else:
            dtype = torch.float32
        model = load_causal_lm(
            self.entry, cache_dir=self.cache_dir, dtype=dtype, device=self.placement.device
        )
        model.config.use_cache = False
        if self.options.method == "lora":
            from peft import LoraConfig, get_peft_model

            targets = self.options.lora_targets
            config = LoraConfig(
                r=self.options.lora_r,
                lora_alpha=self.options.lora_alpha,
                lora_dropout=self.options.lora_dropout,
                target_modules=targets,
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, config)
        else:
            for parameter in model.parameters():
                parameter.requires_grad_(True)
        return model

    def prepare(self) -> Preparation:
        self.tokenizer = load_tokenizer(self.entry, cache_dir=self.cache_dir)
        self.model = self._load_model()
        limit = self._max_tokens(self.model)
        invalid: list[dict[str, Any]] = []
        summary: dict[str, Any] = {"max_tokens": limit}
        for split, table in self.tables.items():
            encoded = encode_rows(table, self.tokenizer, chat=self.chat, max_tokens=limit)
            self.examples[split] = encoded.examples
            left_out = [
                {"row": row, "reason": f"{count} tokens, more than max_tokens ({limit})", "split": split}
                for row, count in encoded.too_long
            ] + [{"row": row, "reason": reason, "split": split} for row, reason in encoded.invalid]
            if split != "test":
                invalid += left_out
            else:
                summary["test_rows_left_out"] = left_out
            lengths = [len(e.input_ids) for e in encoded.examples]
            completion = [sum(1 for y in e.labels if y != -100) for e in encoded.examples]
            summary[split] = {
                "rows": len(table),
                "examples": len(encoded.examples),
                "tokens": int(sum(lengths)),
                "completion_tokens": int(sum(completion)),
                "median_tokens": float(statistics.median(lengths)) if lengths else None,
                "max_tokens": max(lengths) if lengths else None,
            }
        rows = len(self.tables["train"]) + len(self.tables["validation"])
        if not self.examples["train"]:
            return Preparation(rows=rows, invalid_rows=invalid, summary=summary, training_rows=0)
        lengths = [len(e.input_ids) for e in self.examples["train"]]
        batches = self.train_batches(0)
        packed = self.options.batching == "packed"
        summary["padding_waste"] = 0.0 if packed else round(padding_waste(batches, lengths), 4)
        summary["batches_per_epoch"] = len(batches)
        return Preparation(rows=rows, invalid_rows=invalid, summary=summary,
                           training_rows=len(self.examples["train"]))

    # -- batches ------------------------------------------------------------------------------

    def _batch_token_cap(self, lengths: list[int]) -> int:
        if self.options.max_batch_tokens:
            return self.options.max_batch_tokens
        return max(max(lengths), int(self.options.batch_size * float(np.mean(lengths))))

    def train_batches(self, epoch: int) -> list[list[int]]:
        lengths = [len(e.input_ids) for e in self.examples["train"]]
        if self.options.batching == "packed":
            return packed_batches(
                lengths, max_batch_tokens=self._batch_token_cap(lengths),
                seed=self.options.seed, epoch=epoch,
            )
        return length_grouped_batches(
            lengths, batch_size=self.options.batch_size,
            max_batch_tokens=self.options.max_batch_tokens, seed=self.options.seed, epoch=epoch,
        )

    def _collate(self, examples: list[Example], packed: bool) -> Batch:
        if packed:
            inputs = collate_packed(examples)
        else:
            inputs = collate_padded(examples, self.tokenizer.pad_token_id)
        inputs = {k: v.to(self.placement.device, non_blocking=True) for k, v in inputs.items()}
        count = int((inputs["labels"][:, 1:] != -100).sum())
        tokens = sum(len(e.input_ids) for e in examples)
        return Batch(inputs=inputs, count=count, samples=len(examples), tokens=tokens)

    def load_batch(self, spec: list[int]) -> Batch:
        examples = [self.examples["train"][i] for i in spec]
        return self._collate(examples, self.options.batching == "packed")

    # -- loss ---------------------------------------------------------------------------------

    def _completion_logits(self, inputs: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Logits of the completion positions (in chunks) and their target tokens."""
        labels = inputs["labels"]
        mask, targets = completion_positions(labels)
        # No KV cache: with one, transformers skips the check that keeps packed rows apart.
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        model_inputs["use_cache"] = False
        parts = _decoder_and_head(self.model)
        if parts is None:
            logits = self.model(**model_inputs).logits[:, :-1][mask]
            return [logits], targets
        decoder, head = parts
        hidden = decoder(**model_inputs).last_hidden_state[:, :-1][mask]
        vocab = head.weight.shape[0]
        recompute = torch.is_grad_enabled() and hidden.shape[0] * vocab > RECOMPUTE_LOGITS_ABOVE
        chunks = []
        for start in range(0, hidden.shape[0], LOGIT_CHUNK):
            part = hidden[start : start + LOGIT_CHUNK]
            if recompute:
                chunks.append(checkpoint(head, part, use_reentrant=False))
            else:
                chunks.append(head(part))
        return chunks, targets

    def loss_sum(self, inputs: dict[str, Any]) -> torch.Tensor:
        chunks, targets = self._completion_logits(inputs)
        total = torch.zeros((), device=targets.device, dtype=torch.float32)
        start = 0
        for logits in chunks:
            end = start + logits.shape[0]
            total = total + F.cross_entropy(logits.float(), targets[start:end], reduction="sum")
            start = end
        return total

    # -- evaluation -----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, Any]:
        assert self.model is not None
        examples = self.examples[split]
        was_training = self.model.training
        self.model.eval()
        totals = LossAccumulator()
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
        batch: list[Example] = []
        longest = 0

        def flush() -> None:
            if not batch:
                return
            inputs = self._collate(batch, packed=False).inputs
            with self._autocast():
                chunks, targets = self._completion_logits(inputs)
            start = 0
            for logits in chunks:
                end = start + logits.shape[0]
                totals.add(*token_stats_from_selected(logits.float(), targets[start:end]))
                start = end
            batch.clear()

        for i in order:
            length = len(examples[i].input_ids)
            if batch and (max(longest, length) * (len(batch) + 1) > EVAL_BATCH_TOKENS):
                flush()
                longest = 0
            batch.append(examples[i])
            longest = max(longest, length)
        flush()
        if was_training:
            self.model.train()
        return {**totals.result(), "rows": len(examples)}

    def _autocast(self):
        if self.placement.autocast:
            return torch.autocast(self.placement.device.type, dtype=self.placement.dtype)
        return torch.autocast(self.placement.device.type, enabled=False)

    # -- saving ---------------------------------------------------------------------------------

    def save(self, model_dir: Path) -> dict[str, Any]:
        """The merged model (plain ``from_pretrained``) and, for LoRA, the adapter beside it."""
        assert self.model is not None
        model_dir.mkdir(parents=True, exist_ok=True)
        model = self.model
        base_dtype = getattr(_inner_model(model).config, "dtype", None) or torch.float32
        if isinstance(base_dtype, str):
            base_dtype = getattr(torch, base_dtype)
        if self.options.method == "lora":
            model.save_pretrained(model_dir / "adapter")
            model = model.merge_and_unload()
            self.model = model
        model.config.use_cache = True
        model.to(base_dtype).save_pretrained(model_dir)
        self.tokenizer.save_pretrained(model_dir)
        return {
            "framework": "transformers",
            "kind": "llm_chat" if self.chat else "llm_text",
            "chat": self.chat,
            "adapter": "adapter" if self.options.method == "lora" else None,
            "max_tokens": self.options.max_tokens,
        }
