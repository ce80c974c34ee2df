"""Exact token counts for many texts, fast.

Two facts make counts add up, so that each *distinct* piece of text is tokenized once:

1. A fast (Rust) tokenizer extracts its added tokens (``<|im_start|>``, ``<|im_end|>``,
   ``[CLS]``, ...) from the text before normalization and pre-tokenization, encodes the
   *segments* between them independently, and gives each added token one id. So
   ``len(tokenizer(text))`` is the number of added tokens found plus the lengths of the
   segments; rows that repeat segments (a system prompt, a history, the fixed text a chat
   template writes around each message) cost nothing the second time.
2. Byte-level BPE tokenizers (GPT-2, SmolLM2, Llama 3, Qwen 2, ...) pre-tokenize with a regex
   under which a space that follows a non-space character always starts a new pre-token, and
   BPE never merges across pre-tokens. For those (recognised from the tokenizer's own JSON:
   no normalizer, a ByteLevel pre-tokenizer with GPT-2's regex or a known Llama 3 / Qwen 2
   split regex, a BPE model) a segment is cut before each such space into *words*, and each
   distinct word is tokenized once. Segments where a space follows another whitespace are
   tokenized whole.

:class:`TokenCounter` tokenizes the new pieces in one batched call of the backend per batch,
and checks itself: on a random sample of texts it compares its counts with the tokenizer's
own ``__call__``; if any differs it drops to the next safer level (words -> segments -> every
text in full) and counts again. Counts are always those of
``len(tokenizer(text, add_special_tokens=...).input_ids)``.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Any

import numpy as np

from .report import TokenStats

SAMPLE_SIZE = 256
BATCH = 16_384
WORD_CHUNK = 4096  # segments split into words at a time (bounds memory)

# Split regexes under which " " after a non-space character always starts a pre-token: each
# alternative holds a space only at its start, or only whitespace (proof in the module doc).
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
WORD_SAFE_SPLITS = {
    GPT2_PATTERN,
    # Llama 3
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
    # Qwen 2
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
}
_SPACE_AFTER_SPACE = re.compile(r"\s ").search


def tokenizer_label(tokenizer: Any, name: str | None = None) -> str:
    """What a report calls a tokenizer: the given name, else its ``name_or_path``, else its class."""
    return name or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__


_BACKENDS: dict[int, Any] = {}  # hash of (tokenizer JSON, split flag) -> a private copy
_BACKENDS_LOCK = threading.Lock()


def _plain_backend(tokenizer: Any) -> tuple[Any, dict[str, Any] | None]:
    """A private copy of the Rust tokenizer behind a fast tokenizer, and its JSON config.

    A copy, because a shared tokenizer's truncation and padding settings change under us when
    other code calls it (transformers sets them on every call); without them here. Copies are
    cached by content, so each distinct tokenizer is copied once per process.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return None, None
    from tokenizers import Tokenizer

    text = backend.to_str()
    # transformers sets this on the backend at every call, from the tokenizer's attribute.
    split_specials = bool(getattr(tokenizer, "split_special_tokens", False))
    key = hash((text, split_specials))
    with _BACKENDS_LOCK:
        private = _BACKENDS.get(key)
    if private is None:
        private = Tokenizer.from_str(text)
        private.no_truncation()
        private.no_padding()
        private.encode_special_tokens = split_specials
        with _BACKENDS_LOCK:
            if len(_BACKENDS) >= 8:
                _BACKENDS.pop(next(iter(_BACKENDS)))
            _BACKENDS[key] = private
    return private, json.loads(text)


def _word_safe(config: dict[str, Any] | None) -> bool:
    """True when cutting a segment before each space that follows a non-space keeps counts."""
    if not config:
        return False
    if config.get("normalizer") is not None or (config.get("model") or {}).get("type") != "BPE":
        return False
    if (config.get("model") or {}).get("dropout"):
        return False
    pre = config.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel":
        return bool(pre.get("use_regex", True))
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers") or []
        if len(steps) != 2:
            return False
        split, byte_level = steps
        pattern = (split.get("pattern") or {}).get("Regex")
        return (
            split.get("type") == "Split"
            and split.get("behavior") == "Isolated"
            and not split.get("invert")
            and pattern in WORD_SAFE_SPLITS
            and byte_level.get("type") == "ByteLevel"
            and not byte_level.get("use_regex", True)
        )
    return False


def _added_tokens(backend) -> list[Any]:
    try:
        return list(backend.get_added_tokens_decoder().values())
    except AttributeError:
        return []


def _split_pattern(tokenizer: Any, backend) -> tuple[Callable[[str], list[str]] | None, set[str]]:
    """A function that splits text at the added tokens the backend extracts as-is (or None),
    and those tokens."""
    added = _added_tokens(backend) if backend is not None else []
    if not added:
        return None, set()
    skip_special = bool(getattr(backend, "encode_special_tokens", False))
    has_normalizer = backend.normalizer is not None
    contents = {
        t.content
        for t in added
        if t.content
        and not (t.lstrip or t.rstrip or t.single_word)
        and not (t.normalized and has_normalizer)
        and not (t.special and skip_special)
    }
    if not contents:
        return None, set()
    # Longest first: the backend matches the leftmost, longest added token.
    pattern = "|".join(re.escape(c) for c in sorted(contents, key=len, reverse=True))
    return re.compile(pattern).split, contents


class TokenCounter:
    """Counts tokens exactly as ``tokenizer(text, add_special_tokens=...)`` would, fast.

    One counter per tokenizer and validation; it caches the counts of the pieces it has seen.
    ``level`` is the fastest level still trusted (``"words"``, ``"segments"`` or ``"full"``);
    ``mode`` says how the last :meth:`count` was done; ``mismatches`` how often a sample check
    found a difference (each one drops a level).
    """

    LEVELS = ("words", "segments", "full")

    def __init__(self, tokenizer: Any, *, sample_size: int = SAMPLE_SIZE, seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.sample_size = sample_size
        self.seed = seed
        self._backend, self._config = _plain_backend(tokenizer)
        self._split, self._split_at = _split_pattern(tokenizer, self._backend)
        self._pieces: dict[str, int] = {"": 0}  # text -> tokens, tokenized alone
        self._spaced: dict[str, int] = {}  # word -> tokens of " " + word
        self._segments: dict[str, int] = {"": 0}  # segment -> tokens, at the current level
        self._specials: dict[bool, int] = {}
        if self._backend is None:
            self.level = "full"
        elif self._word_level_possible():
            self.level = "words"
        else:
            self.level = "segments"
        self.mode = self.level
        self.mismatches = 0

    def _word_level_possible(self) -> bool:
        if not _word_safe(self._config):
            return False
        # Every added token must be a segment boundary, so that none is left inside a word.
        added = {t.content for t in _added_tokens(self._backend) if t.content}
        return added == self._split_at

    # -- the reference ------------------------------------------------------------------------

    def full(self, texts: Sequence[str], *, add_special_tokens: bool) -> list[int]:
        """Token counts from the tokenizer's own ``__call__``, in batches."""
        counts: list[int] = []
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start : start + BATCH])
            if not batch:
                continue
            encoded = self.tokenizer(
                batch,
                add_special_tokens=add_special_tokens,
                truncation=False,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
            counts.extend(map(len, encoded["input_ids"]))
        return counts

    # -- the fast levels ----------------------------------------------------------------------

    def _special_count(self, add_special_tokens: bool) -> int:
        if not add_special_tokens:
            return 0
        if True not in self._specials:
            processor = self._backend.post_processor
            self._specials[True] = processor.num_special_tokens_to_add(False) if processor else 0
        return self._specials[True]

    def _encode(self, texts: list[str]) -> list[int]:
        counts: list[int] = []
        for start in range(0, len(texts), BATCH):
            encodings = self._backend.encode_batch_fast(texts[start : start + BATCH], add_special_tokens=False)
            counts.extend(map(len, encodings))
        return counts

    def _learn_whole(self, pieces: Sequence[str]) -> None:
        new = [p for p in pieces if p not in self._pieces]
        self._pieces.update(zip(new, self._encode(new)))

    def _learn_segments(self, segments: set[str]) -> None:
        new = [s for s in segments if s not in self._segments]
        if self.level == "segments":
            self._learn_whole(new)
            get = self._pieces.__getitem__
            self._segments.update((s, get(s)) for s in new)
            return
        # Word level: cut each segment before every space that follows a non-space.
        whole: list[str] = []
        clean: list[str] = []
        for s in new:
            (whole if _SPACE_AFTER_SPACE(s) else clean).append(s)
        self._learn_whole(whole)
        get = self._pieces.__getitem__
        self._segments.update((s, get(s)) for s in whole)
        spaced = self._spaced
        for start in range(0, len(clean), WORD_CHUNK):
            chunk = clean[start : start + WORD_CHUNK]
            words = [s.split(" ") for s in chunk]
            firsts: set[str] = set()
            rest: set[str] = set()
            for w in words:
                firsts.add(w[0])
                rest.update(islice(w, 1, None))
            self._learn_whole(list(firsts))
            new_words = [w for w in rest if w not in spaced]
            spaced.update(zip(new_words, self._encode([" " + w for w in new_words])))
            spaced_get = spaced.__getitem__
            for segment, w in zip(chunk, words):
                # w[0] is the text before the first space; every other word had " " before it.
                self._segments[segment] = get(w[0]) + sum(map(spaced_get, islice(w, 1, None)))

    def _fast(self, texts: Sequence[str], add_special_tokens: bool) -> list[int]:
        extra = self._special_count(add_special_tokens)
        split = self._split
        if split is None:
            self._learn_segments(set(texts))
            get = self._segments.__getitem__
            return [get(t) + extra for t in texts]
        parts = [split(t) for t in texts]
        seen: set[str] = set()
        for p in parts:
            seen.update(p)
        self._learn_segments(seen)
        get = self._segments.__getitem__
        # len(p) - 1 added tokens sit between the len(p) segments of a text.
        return [sum(map(get, p)) + len(p) - 1 + extra for p in parts]

    def _drop_level(self) -> None:
        self.mismatches += 1
        self.level = self.LEVELS[self.LEVELS.index(self.level) + 1]
        self._segments = {"": 0}

    def count(
        self,
        texts: Sequence[str],
        *,
        add_special_tokens: bool,
        sample: Sequence[int] | None = None,
    ) -> list[int]:
        """Exact token counts of ``texts``.

        ``sample`` names the indices checked against the tokenizer itself (by default a random
        sample of :attr:`sample_size`, plus the first and the last text).
        """
        if not texts:
            return []
        if sample is None:
            sample = self.sample_indices(len(texts))
        reference: list[int] | None = None
        while self.level != "full":
            counts = self._fast(texts, add_special_tokens)
            if reference is None:
                reference = self.full([texts[i] for i in sample], add_special_tokens=add_special_tokens)
            if all(counts[i] == r for i, r in zip(sample, reference)):
                self.mode = self.level
                return counts
            self._drop_level()  # the fast level disagrees with the tokenizer: never trust it again
        self.mode = "full"
        return self.full(texts, add_special_tokens=add_special_tokens)

    def sample_indices(self, n: int) -> list[int]:
        if n <= self.sample_size + 2:
            return list(range(n))
        picked = random.Random(self.seed).sample(range(1, n - 1), self.sample_size)
        return [0, *sorted(picked), n - 1]


def token_stats(counts: Sequence[int], tokenizer: str, bins: int = 10) -> TokenStats | None:
    """Min, max, mean, median, 95th percentile and a histogram of ~``bins`` integer ranges."""
    if len(counts) == 0:
        return None
    values = np.asarray(counts, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    width = max(1, math.ceil((high - low + 1) / bins))
    per_bin = np.bincount((values - low) // width)
    histogram = [
        (low + i * width, min(high, low + (i + 1) * width - 1), int(n))
        for i, n in enumerate(per_bin.tolist())
    ]
    return TokenStats(
        tokenizer=tokenizer,
        count=len(values),
        min=low,
        max=high,
        mean=round(float(values.mean()), 2),
        p50=int(np.percentile(values, 50, method="inverted_cdf")),
        p95=int(np.percentile(values, 95, method="inverted_cdf")),
        histogram=histogram,
    )
