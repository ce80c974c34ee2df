"""One forward pass for a decoding step and the prompts of newcomers together (continuous batching).

Without this, a request that joins a :class:`~.decoding.Decoder` costs a prefill pass of its own
before it decodes with the others. Much of a pass's cost does not grow with its tokens: reading
the weights, and dispatching a few hundred small operations (on a 2-core CPU, SmolLM2-135M
spends about 40 ms on a pass of one token). Here the rows in flight (one new token each) and the
newcomers' prompts go through the projections and MLPs as one flat batch of tokens, so a prompt
folded into a step costs its tokens' compute and little else; only attention is split: each row
in flight attends to its cache, each prompt to its own tokens after its cached prefix.

This re-states the forward pass of the decoder models of the Llama family (pre-norm layers,
q/k/v/o projections, rotary positions, an MLP), so :func:`packed_forward` answers only for the
architectures in :data:`ARCHITECTURES`, whose own forward the tests compare it with; other models
get a prefill pass per arrival through their own forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

ARCHITECTURES = frozenset({"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"})

# Per layer: keys and values, (rows, key/value heads, tokens, head dim).
States = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Prompt:
    """A newcomer's tokens to prefill: ``ids`` at positions ``start`` on, after ``prefix`` (the
    states of its first ``start`` tokens, from a :class:`~.decoding.PrefixCache`)."""

    ids: Sequence[int]
    start: int = 0
    prefix: States | None = None


def packed_forward(model: Any) -> "PackedForward | None":
    """The packed forward pass of ``model``, or None when its architecture is not one this
    module re-states (or it is not a plain model: a PEFT wrapper, say)."""
    if type(model).__name__ not in ARCHITECTURES or not hasattr(model, "model"):
        return None
    body = model.model
    if not all(hasattr(body, name) for name in ("embed_tokens", "layers", "norm", "rotary_emb")):
        return None
    return PackedForward(model)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class PackedForward:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.body = model.model
        self.head_dim = self.body.layers[0].self_attn.head_dim

    @torch.inference_mode()
    def __call__(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None,
                 cache: Any, prompts: Sequence[Prompt]) -> tuple[torch.Tensor, list[States]]:
        """Feed each row in flight its next token (``tokens`` and ``positions``: one per row;
        ``mask``: (rows, cache length + 1), 1 where a row has a token; ``cache``: layers whose
        ``update`` appends a token to every row) and each of ``prompts`` its ids.

        Returns the next-token logits, (rows + prompts, vocabulary) in float32: the rows'
        first, then the prompts'; and the states of each prompt (its prefix's and its own), to
        join the cache with.
        """
        device = tokens.device
        rows = tokens.shape[0]
        ids = torch.cat([tokens, *(torch.as_tensor(p.ids, dtype=torch.long, device=device) for p in prompts)])
        where = torch.cat([positions, *(torch.arange(p.start, p.start + len(p.ids), device=device)
                                        for p in prompts)])
        spans, end = [], rows
        for prompt in prompts:
            spans.append((end, end + len(prompt.ids)))
            end += len(prompt.ids)
        # Each prompt's queries see the prefix and its own tokens up to themselves.
        causal = [None if p.start == 0 else
                  torch.ones((len(p.ids), p.start + len(p.ids)), dtype=torch.bool, device=device).tril(p.start)
                  for p in prompts]
        seen = mask.bool()[:, None, None, :] if rows else None

        x = self.body.embed_tokens(ids)
        cos, sin = self.body.rotary_emb(x[None], where[None])
        cos, sin = cos[0, :, None], sin[0, :, None]
        states: list[States] = [[] for _ in prompts]
        count = ids.shape[0]
        for number, layer in enumerate(self.body.layers):
            attention = layer.self_attn
            h = layer.input_layernorm(x)
            q = attention.q_proj(h).view(count, -1, self.head_dim)
            k = attention.k_proj(h).view(count, -1, self.head_dim)
            v = attention.v_proj(h).view(count, -1, self.head_dim)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            out = []
            if rows:
                keys, values = cache.layers[number].update(k[:rows, :, None], v[:rows, :, None])
                out.append(F.scaled_dot_product_attention(
                    q[:rows, :, None], keys, values, attn_mask=seen, scale=attention.scaling,
                    enable_gqa=True).reshape(rows, -1))
            for n, (prompt, (first, last)) in enumerate(zip(prompts, spans)):
                keys, values = k[first:last].transpose(0, 1)[None], v[first:last].transpose(0, 1)[None]
                if prompt.prefix is not None:
                    before_keys, before_values = prompt.prefix[number]
                    keys, values = torch.cat([before_keys, keys], dim=2), torch.cat([before_values, values], dim=2)
                states[n].append((keys, values))
                answer = F.scaled_dot_product_attention(
                    q[first:last].transpose(0, 1)[None], keys, values, attn_mask=causal[n],
                    is_causal=causal[n] is None, scale=attention.scaling, enable_gqa=True)
                out.append(answer[0].transpose(0, 1).reshape(last - first, -1))
            x = x + attention.o_proj(torch.cat(out))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        chosen = torch.tensor([*range(rows), *(last - 1 for _, last in spans)], device=device)
        return self.model.lm_head(self.body.norm(x[chosen])).float(), states
