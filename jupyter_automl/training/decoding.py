"""Continuous batching for a causal LM: requests join and leave a running batch between tokens.

``model.generate`` answers a batch as one unit: a row that ends early keeps its place (and its
share of every forward pass) until the longest row is done, and a request that arrives meanwhile
waits for the whole batch. A :class:`Decoder` keeps one key/value cache for the rows in flight
instead. :meth:`Decoder.step` decodes one token for every row; a row that ends leaves the cache
at once, and :meth:`Decoder.add` prefills newcomers and sets them into the running cache, so
they decode with the others from the next step on.

Rows sit left-padded in the cache: the attention mask hides the padding and each row has its
own position ids, so a row gets the tokens it would get alone (up to float rounding, as with
``generate`` on a padded batch). When the longest rows leave, the columns nobody needs are cut.
The cache's layers have room to grow (``kv_cache.RoomyLayer``), so a step writes its token in
place rather than copying the cache. A :class:`PrefixCache` keeps the keys and values of prompt
beginnings that requests share, so a newcomer is prefilled from where its shared part ends.
:meth:`Decoder.advance` does a step and the newcomers' prefill in one forward pass where the
model's architecture allows it (``packed``), so an arrival does not cost a pass of its own.

This needs a plain key/value cache (every layer a ``DynamicLayer``: full attention). Models
with sliding-window or recurrent layers are answered by ``generate`` instead
(:func:`supports` says which).
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .packed import Prompt, packed_forward

if TYPE_CHECKING:
    from .packed import States
    from .predictor import LLMPredictor, _Pieces


def supports(model: Any) -> bool:
    """Whether ``model`` keeps a plain key/value cache that rows can join and leave."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


@dataclass(eq=False)
class Row:
    """One completion in flight. ``result`` is set when it has ended: what
    :meth:`LLMPredictor.generate_ids` gives for the prompt."""

    prompt: Sequence[int]
    settings: dict[str, Any]
    on_text: Callable[[str], None] | None = None
    cancel: threading.Event | None = None
    tokens: list[int] = field(default_factory=list)
    result: dict[str, Any] | None = None
    generator: torch.Generator | None = None
    pieces: "_Pieces | None" = None

    @property
    def position(self) -> int:
        """The position of the next token to feed."""
        return len(self.prompt) + len(self.tokens) - 1


@dataclass(eq=False)
class _Prefix:
    tokens: tuple[int, ...]
    states: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (1, heads, tokens, dim)


class PrefixCache:
    """The keys and values of prompt beginnings that requests share (a chat deployment's
    system prompt and template, a few-shot preamble), so that a prompt that begins with one is
    prefilled from where it ends.

    A prefix is cached when a prompt shares at least ``min_tokens`` first tokens with one of the
    ``recent`` prompts before it: that shared part (never the whole prompt: its last token must
    still be fed to get the first new token's logits). The states are what a prefill of the whole
    prompt computes for those positions (attention is causal), up to float rounding: the packed
    pass hands over those of the prompt it prefills (:meth:`lookup`, :meth:`keep`); otherwise a
    pass of their own computes them (:meth:`find`). The least recently used prefixes go beyond
    ``max_tokens`` tokens in all.
    """

    def __init__(self, decoder: "Decoder", *, min_tokens: int = 16, recent: int = 32,
                 max_tokens: int = 8192) -> None:
        self.decoder = decoder
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self._recent: deque[tuple[int, ...]] = deque(maxlen=recent)
        self._prefixes: OrderedDict[tuple[int, ...], _Prefix] = OrderedDict()
        self.hits = 0  # prompts prefilled from a cached prefix
        self.tokens_saved = 0

    def find(self, prompt: Sequence[int]) -> _Prefix | None:
        """The longest cached prefix of ``prompt`` (computing and caching a new one, by a pass of
        its own, if it shares enough with a recent prompt), or None."""
        best, shared = self.lookup(prompt)
        if shared:
            best = self._compute(tuple(prompt[:shared]))
            self._count(best)
        return best

    def lookup(self, prompt: Sequence[int]) -> tuple[_Prefix | None, int]:
        """The longest cached prefix of ``prompt``, or None; and when there is none, how many
        first tokens it shares with a recent prompt if that is enough to cache them (else 0),
        for :meth:`keep` once the prompt's own prefill has computed their states."""
        prompt = tuple(prompt)
        best = None
        for tokens, prefix in self._prefixes.items():
            if len(tokens) < len(prompt) and prompt[:len(tokens)] == tokens and (
                    best is None or len(tokens) > len(best.tokens)):
                best = prefix
        shared = 0
        if best is None:
            shared = min(max((_common(prompt, other) for other in self._recent), default=0), len(prompt) - 1)
            shared = shared if shared >= self.min_tokens else 0
        self._recent.append(prompt)
        if best is not None:
            self._count(best)
        return best, shared

    def _count(self, prefix: _Prefix) -> None:
        self._prefixes.move_to_end(prefix.tokens)
        self.hits += 1
        self.tokens_saved += len(prefix.tokens)

    def keep(self, tokens: tuple[int, ...], states: "States") -> _Prefix:
        """Cache ``states`` (per layer: keys and values, (1, heads, len(tokens), dim)) as the
        prefix ``tokens``; the least recently used prefixes go beyond ``max_tokens``."""
        prefix = _Prefix(tokens, states)
        self._prefixes[tokens] = prefix
        total = sum(len(t) for t in self._prefixes)
        while total > self.max_tokens and len(self._prefixes) > 1:
            total -= len(self._prefixes.popitem(last=False)[0])
        return prefix

    def _compute(self, tokens: tuple[int, ...]) -> _Prefix:
        from transformers import DynamicCache

        device = self.decoder.device
        ids = torch.tensor([tokens], dtype=torch.long, device=device)
        cache = DynamicCache(config=self.decoder.model.config)
        self.decoder._forward(ids, torch.ones_like(ids), torch.arange(len(tokens), device=device)[None], cache)
        return self.keep(tokens, [(layer.keys, layer.values) for layer in cache.layers])


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """How many first tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class Decoder:
    """The rows of one model in flight, on one thread (not thread-safe)."""

    def __init__(self, predictor: "LLMPredictor", *, prefix_cache: bool = True) -> None:
        self.predictor = predictor
        self.model = predictor.model
        self.device = predictor.device
        self.rows: list[Row] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # (rows, cache length): 1 where a token is
        self._ends = predictor._stop_ids()
        accepted = inspect.signature(self.model.forward).parameters
        self._logits_to_keep = "logits_to_keep" in accepted
        # transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns on each call).
        self._cache_name = "cache" if "cache" in accepted else "past_key_values"
        self._prefixes = PrefixCache(self) if prefix_cache else None
        self._packed = packed_forward(self.model)

    @torch.inference_mode()
    def advance(self, rows: Sequence[Row] = ()) -> list[Row]:
        """One token for every row in flight, and the first for each of ``rows``, which then
        decode with the others: in one forward pass where the model allows it (``packed``),
        else a :meth:`step` and then an :meth:`add`. Returns the rows that ended."""
        if self._packed is None:
            return self.step() + (self.add(rows) if rows else [])
        if not rows and not self.rows:
            return []
        prompts, shared = zip(*(self._prompt(row) for row in rows)) if rows else ((), ())
        flying = self.rows
        tokens = torch.tensor([row.tokens[-1] for row in flying], dtype=torch.long, device=self.device)
        positions = torch.tensor([row.position for row in flying], dtype=torch.long, device=self.device)
        if flying:
            self._mask = torch.cat([self._mask, self._mask.new_ones((len(flying), 1))], dim=1)
        logits, states = self._packed(tokens, positions, self._mask, self._cache, prompts)
        for row, length, layers in zip(rows, shared, states):
            if length:  # a new shared beginning: its states came with the prompt's own
                self._prefixes.keep(tuple(row.prompt[:length]),
                                    [(keys[:, :, :length].clone(), values[:, :, :length].clone())
                                     for keys, values in layers])
        ended = self._take([*flying, *rows], logits)
        gone = set(map(id, ended))
        if flying and gone:
            self._drop([row for row in flying if id(row) in gone])
        for row, layers in zip(rows, states):
            if id(row) not in gone:
                mask = torch.ones((1, layers[0][0].shape[-2]), dtype=torch.long, device=self.device)
                self._join([row], layers, mask)
        return ended

    def _prompt(self, row: Row) -> tuple[Prompt, int]:
        """What of ``row``'s prompt is left to prefill after its longest cached prefix, and how
        many of its first tokens to cache as a new prefix once they are computed (0: none)."""
        self._start(row)
        if self._prefixes is None:
            return Prompt(row.prompt), 0
        prefix, shared = self._prefixes.lookup(row.prompt)
        if prefix is None:
            return Prompt(row.prompt), shared
        return Prompt(row.prompt[len(prefix.tokens):], len(prefix.tokens), prefix.states), 0

    @torch.inference_mode()
    def add(self, rows: Sequence[Row]) -> list[Row]:
        """Prefill ``rows``, choose their first tokens, and let them decode with the others
        from the next :meth:`step`. Rows that begin with a cached prefix are prefilled from it,
        one padded forward pass for each prefix. Returns the rows that ended already (after one
        token)."""
        groups: dict[int, tuple[_Prefix | None, list[Row]]] = {}
        for row in rows:
            self._start(row)
            prefix = self._prefixes.find(row.prompt) if self._prefixes is not None else None
            groups.setdefault(id(prefix), (prefix, []))[1].append(row)
        ended: list[Row] = []
        for prefix, group in groups.values():
            ended += self._prefill(group, prefix)
        return ended

    def _prefill(self, rows: list[Row], prefix: _Prefix | None) -> list[Row]:
        """One forward pass over the rows' prompts after ``prefix`` (left-padded, so that the
        cache of a row is: the prefix, padding, the rest of its prompt)."""
        from transformers import DynamicCache

        skip = len(prefix.tokens) if prefix is not None else 0
        width = max(len(row.prompt) - skip for row in rows)
        pad = self.predictor.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, row in enumerate(rows):
            rest = list(row.prompt[skip:])
            ids[n, width - len(rest):] = torch.tensor(rest, dtype=torch.long)
            mask[n, width - len(rest):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + skip
        cache = DynamicCache(config=self.model.config)
        if prefix is not None:
            for layer, (keys, values) in enumerate(prefix.states):
                cache.update(keys.expand(len(rows), -1, -1, -1), values.expand(len(rows), -1, -1, -1), layer)
            mask = torch.cat([mask.new_ones((len(rows), skip)), mask], dim=1)
        logits = self._forward(ids, mask, positions, cache)
        ended = self._take(rows, logits)
        going = [n for n, row in enumerate(rows) if row.result is None]
        if going:
            if len(going) < len(rows):
                index = torch.tensor(going, dtype=torch.long, device=self.device)
                cache.batch_select_indices(index)
                mask = mask[index]
            self._join([rows[n] for n in going], [(layer.keys, layer.values) for layer in cache.layers], mask)
        return ended

    @torch.inference_mode()
    def step(self) -> list[Row]:
        """One token for every row; returns the rows that ended with it."""
        if not self.rows:
            return []
        last = torch.tensor([[row.tokens[-1]] for row in self.rows], dtype=torch.long, device=self.device)
        positions = torch.tensor([[row.position] for row in self.rows], dtype=torch.long, device=self.device)
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(self.rows), 1))], dim=1)
        ended = self._take(self.rows, self._forward(last, self._mask, positions, self._cache))
        if ended:
            self._drop(ended)
        return ended

    def _start(self, row: Row) -> None:
        from .predictor import _Pieces

        seed = row.settings.get("seed")
        if row.settings["temperature"] > 0 and seed is not None:
            row.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        if row.on_text is not None:
            row.pieces = _Pieces(self.predictor, row.settings.get("stop") or (), row.on_text)
            row.pieces.prompt_seen = True

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> torch.Tensor:
        """The next-token logits of every row, (rows, vocabulary), in float32."""
        extra = {"logits_to_keep": 1} if self._logits_to_keep else {}
        extra[self._cache_name] = cache
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, **extra)
        return out.logits[:, -1, :].float()

    def _join(self, rows: list[Row], states: "States", mask: torch.Tensor) -> None:
        """Set the newly prefilled ``rows`` (their keys and values per layer, and their mask)
        beside those in flight."""
        from transformers import DynamicCache

        from .kv_cache import RoomyLayer, left_pad

        if not self.rows:
            cache = DynamicCache(config=self.model.config)
            cache.layers = [RoomyLayer.holding(keys, values) for keys, values in states]
            self.rows, self._cache, self._mask = rows, cache, mask
            return
        length = max(self._mask.shape[1], mask.shape[1])
        for old, (keys, values) in zip(self._cache.layers, states):
            old.join(keys, values, length)
        self._mask = torch.cat([left_pad(self._mask, length, 1), left_pad(mask, length, 1)])
        self.rows = self.rows + rows

    def _take(self, rows: list[Row], logits: torch.Tensor) -> list[Row]:
        """Append each row's next token (``logits`` has a line per row); returns the rows that
        ended."""
        tokens = self._choose(rows, logits)
        return [row for row, token in zip(rows, tokens) if self._append(row, token)]

    def _choose(self, rows: list[Row], logits: torch.Tensor) -> list[int]:
        """Greedy rows take the most likely token; sampled rows draw with their temperature and
        top-p (from their own seeded generator when they have a seed)."""
        chosen = logits.argmax(dim=-1).tolist()
        for n, row in enumerate(rows):
            temperature = row.settings["temperature"]
            if temperature <= 0:
                continue
            probs = torch.softmax(logits[n] / temperature, dim=-1)
            top_p = row.settings["top_p"]
            if top_p < 1:
                ordered, order = probs.sort(descending=True)
                keep = (ordered.cumsum(-1) - ordered) < top_p  # always keeps the first
                probs = torch.zeros_like(probs).scatter(0, order[keep], ordered[keep])
            chosen[n] = int(torch.multinomial(probs, 1, generator=row.generator))
        return chosen

    def _append(self, row: Row, token: int) -> bool:
        """Add ``token`` to ``row``; ``True`` when the row has ended (its result is set)."""
        row.tokens.append(token)
        if row.pieces is not None:
            row.pieces.put(torch.tensor([token]))
        stops = row.settings.get("stop") or ()
        ended = (token in self._ends or len(row.tokens) >= row.settings["max_new_tokens"]
                 or (row.cancel is not None and row.cancel.is_set())
                 or (bool(stops) and self.predictor._stopped(row.tokens, stops)))
        if ended:
            completion, count, finish = self.predictor._finish(row.tokens, stops)
            if row.pieces is not None:
                row.pieces.send(completion)
            row.result = {"completion": completion, "prompt_tokens": len(row.prompt),
                          "completion_tokens": count, "finish_reason": finish}
        return ended

    def _drop(self, ended: list[Row]) -> None:
        """Take ``ended`` out of the cache, then cut the columns only they needed."""
        from .kv_cache import fill_holes

        gone = set(map(id, ended))
        order = fill_holes([n for n, row in enumerate(self.rows) if id(row) not in gone])
        self.rows = [self.rows[n] for n in order]
        if not self.rows:
            self._cache = self._mask = None
            return
        self._mask = self._mask[torch.tensor(order, dtype=torch.long, device=self.device)]
        first = int(self._mask.any(dim=0).to(torch.int8).argmax())
        for layer in self._cache.layers:
            layer.keep(order, first)
        self._mask = self._mask[:, first:]
