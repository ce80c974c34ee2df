"""Loading a trained version for answers: ``load_predictor(version_dir)``.

Classification predictors have ``predict(batch)`` (for each head, every class with its score);
LLM predictors have ``generate(batch, options)`` (the completion and its token counts). The
playground and the deployment server (later issues) use these objects and nothing else.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..datasets.rules_llm import (
    CellError,
    chat_messages,
    llm_text_prompt,
    parse_prompt_history,
    parse_roles,
)
from ..errors import InvalidInput, NotFound

DEFAULT_NEW_TOKENS = 256
MAX_NEW_TOKENS = 4096
MAX_STOP_SEQUENCES = 4


def read_version(version_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(version_dir) / "version.json"
    if not path.is_file():
        raise NotFound(f"{str(version_dir)!r} is not a trained model version (no version.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def stop_sequences(value: Any) -> tuple[str, ...]:
    """The ``stop`` option: a string, or a list of up to four. The completion ends before the
    first of them that it would contain."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if (not isinstance(items, (list, tuple)) or len(items) > MAX_STOP_SEQUENCES
            or not all(isinstance(s, str) and s for s in items)):
        raise InvalidInput(
            f"stop must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} non-empty "
            f"strings, got {value!r}"
        )
    return tuple(dict.fromkeys(items))


def generation_settings(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = set(options) - {"max_tokens", "temperature", "top_p", "seed", "stop"}
    if unknown:
        raise InvalidInput(
            f"unknown generation option(s) {', '.join(sorted(unknown))}; "
            "use max_tokens, temperature, top_p, seed, stop"
        )
    new_tokens = options.get("max_tokens", DEFAULT_NEW_TOKENS)
    if isinstance(new_tokens, bool) or not isinstance(new_tokens, int) or not 1 <= new_tokens <= MAX_NEW_TOKENS:
        raise InvalidInput(f"max_tokens must be an integer from 1 to {MAX_NEW_TOKENS}, got {new_tokens!r}")
    temperature = options.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 5:
        raise InvalidInput(f"temperature must be a number from 0 to 5, got {temperature!r}")
    top_p = options.get("top_p", 1.0)
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise InvalidInput(f"top_p must be a number in (0, 1], got {top_p!r}")
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**63):
        raise InvalidInput(f"seed must be a 64-bit integer, got {seed!r}")
    return {"max_new_tokens": new_tokens, "temperature": float(temperature), "top_p": float(top_p),
            "seed": seed, "stop": stop_sequences(options.get("stop"))}


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first stop sequence in ``text`` begins (None: there is none)."""
    found = [at for at in (text.find(s) for s in stops) if at >= 0]
    return min(found) if found else None


def _safe_prefix(text: str, stops: Sequence[str]) -> str:
    """The part of a completion in progress that can be sent: not a character still being
    decoded, nor an end that may be the beginning of a stop sequence."""
    text = text.rstrip("\ufffd")
    keep = len(text)
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                keep = min(keep, len(text) - size)
                break
    return text[:keep]


def _criterion(check: Callable[[torch.Tensor], list[bool]]) -> Any:
    """A transformers stopping criterion from ``check(input_ids) -> [done per row]``."""
    from transformers import StoppingCriteria

    class Criterion(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            return torch.tensor(check(input_ids), dtype=torch.bool, device=input_ids.device)

    return Criterion()


class _Pieces:
    """A transformers streamer that hands each new piece of one completion's text to
    ``on_text`` as it is generated, never past a stop sequence (nor a part of one that may yet
    turn out to be one), so that the pieces join to the completion :meth:`LLMPredictor._finish`
    gives."""

    def __init__(self, predictor: "LLMPredictor", stops: Sequence[str],
                 on_text: Callable[[str], None]) -> None:
        self.predictor = predictor
        self.stops = stops
        self.on_text = on_text
        self.ends = predictor._stop_ids()
        self.tokens: list[int] = []
        self.sent = ""
        self.prompt_seen = False
        self.done = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() hands over the prompt first
            self.prompt_seen = True
            return
        if self.done:
            return
        for token in value.reshape(-1).tolist():
            if token in self.ends:
                self.done = True
                break
            self.tokens.append(token)
        text = self.predictor._decode(self.tokens)
        cut = _first_stop(text, self.stops)
        if cut is not None:
            self.done = True
            self.send(text[:cut])
        else:
            self.send(_safe_prefix(text, self.stops))

    def end(self) -> None:
        """The rest is sent by :meth:`LLMPredictor.stream_ids`, from the final completion."""

    def send(self, text: str) -> None:
        if len(text) > len(self.sent):
            piece, self.sent = text[len(self.sent):], text
            self.on_text(piece)


class LLMPredictor:
    """A fine-tuned causal LM that completes prompts (text) or conversations (chat)."""

    def __init__(self, model: Any, tokenizer: Any, *, chat: bool, device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.chat = chat
        self.device = device

    @classmethod
    def load(cls, version_dir: str | os.PathLike[str], device: str | None = None) -> "LLMPredictor":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        info = read_version(version_dir)["predictor"]
        model_dir = Path(version_dir) / "model"
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model.to(dev).eval(), tokenizer, chat=bool(info.get("chat")), device=dev)

    @classmethod
    def for_base(cls, version_dir: str | os.PathLike[str], *, cache_dir: str | Path | None = None,
                 device: str | None = None) -> "LLMPredictor":
        """The base model a version was fine-tuned from, untuned, with the version's own
        tokenizer and prompt format: what the version would answer without its training."""
        from transformers import AutoTokenizer

        from ..base_models import BaseModelEntry
        from ..base_models.loading import load_causal_lm

        info = read_version(version_dir)
        entry = BaseModelEntry.from_dict(info["base_model"])
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
        model = load_causal_lm(entry, cache_dir=cache_dir, dtype=dtype, device=dev)
        tokenizer = AutoTokenizer.from_pretrained(Path(version_dir) / "model", local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model.eval(), tokenizer, chat=bool(info["predictor"].get("chat")), device=dev)

    def prompt_ids(self, item: str | Mapping[str, Any]) -> list[int]:
        """The token ids the model continues, built exactly as training built them."""
        if isinstance(item, str):
            item = {"prompt": item}
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("each request needs a non-empty 'prompt' string")
        system = item.get("system_prompt") or ""
        if not self.chat:
            return self.tokenizer(llm_text_prompt(prompt, system))["input_ids"]
        try:
            roles = item.get("roles")
            if roles is not None and not isinstance(roles, str):
                roles = json.dumps(roles)
            roles = parse_roles(roles) if roles else None
            history = item.get("prompt_history") or ""
            if not isinstance(history, str):  # turns given as data get the same checks as text
                history = json.dumps(history)
            history = parse_prompt_history(history, roles)
        except CellError as error:
            raise InvalidInput(str(error)) from None
        messages = chat_messages(prompt, system_prompt=system, history=history, roles=roles)
        rendered = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer(rendered, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def generate(
        self, batch: Sequence[str | Mapping[str, Any]], options: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Complete every item of ``batch`` together (left-padded); greedy unless temperature > 0."""
        settings = generation_settings(options)
        prompts = []
        for n, item in enumerate(batch):
            try:
                prompts.append(self.prompt_ids(item))
            except InvalidInput as error:
                raise InvalidInput(f"request {n}: {error.message}") from None
        return self.generate_ids(prompts, settings)

    @torch.no_grad()
    def generate_ids(self, prompts: Sequence[Sequence[int]], settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Complete prompts given as token ids (see :meth:`prompt_ids`) with settings from
        :func:`generation_settings`; the serving batcher calls this with one batch of requests."""
        if not prompts:
            return []
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, ids in enumerate(prompts):
            input_ids[i, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
            attention[i, width - len(ids):] = 1
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            **self._generation_kwargs(settings, width),
        )
        stops = settings.get("stop") or ()
        answers = []
        for i, ids in enumerate(prompts):
            completion, tokens, finish = self._finish(out[i, width:].tolist(), stops)
            answers.append({"completion": completion, "prompt_tokens": len(ids),
                            "completion_tokens": tokens, "finish_reason": finish})
        return answers

    @torch.no_grad()
    def stream_ids(self, prompt: Sequence[int], settings: Mapping[str, Any],
                   on_text: Callable[[str], None], cancel: threading.Event | None = None) -> dict[str, Any]:
        """Complete one prompt as :meth:`generate_ids` does, handing each new piece of the
        completion to ``on_text`` as soon as it is generated (on this thread). Setting
        ``cancel`` stops the generation at the next token. Returns what :meth:`generate_ids`
        returns for the prompt; the pieces join to its ``completion``."""
        stops = settings.get("stop") or ()
        streamer = _Pieces(self, stops, on_text)
        input_ids = torch.tensor([list(prompt)], dtype=torch.long, device=self.device)
        out = self.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer,
            **self._generation_kwargs(settings, len(prompt), cancel),
        )
        completion, tokens, finish = self._finish(out[0, len(prompt):].tolist(), stops)
        streamer.send(completion)
        return {"completion": completion, "prompt_tokens": len(prompt), "completion_tokens": tokens,
                "finish_reason": finish}

    def _generation_kwargs(self, settings: Mapping[str, Any], start: int,
                           cancel: threading.Event | None = None) -> dict[str, Any]:
        """``generate()``'s arguments for the settings (seeding the sampler when asked);
        ``start`` is where the completions begin in the rows."""
        from transformers import StoppingCriteriaList

        sample = settings["temperature"] > 0
        if settings["seed"] is not None:
            torch.manual_seed(int(settings["seed"]))
        kwargs: dict[str, Any] = {"do_sample": sample, "max_new_tokens": settings["max_new_tokens"],
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sample:
            kwargs.update(temperature=settings["temperature"], top_p=settings["top_p"])
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        criteria = []
        stops = settings.get("stop") or ()
        if stops:
            criteria.append(_criterion(
                lambda input_ids: [self._stopped(row, stops) for row in input_ids[:, start:].tolist()]
            ))
        if cancel is not None:
            criteria.append(_criterion(lambda input_ids: [cancel.is_set()] * input_ids.shape[0]))
        if criteria:
            kwargs["stopping_criteria"] = StoppingCriteriaList(criteria)
        return kwargs

    def _stopped(self, tokens: Sequence[int], stops: Sequence[str]) -> bool:
        """Whether a completion in progress has just come to hold a stop sequence (its last
        tokens, enough to hold a new occurrence, are decoded; end tokens are left out)."""
        ends = self._stop_ids()
        window = max(len(s) for s in stops) + 4
        return _first_stop(self._decode([t for t in tokens if t not in ends][-window:]), stops) is not None

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _finish(self, new: list[int], stops: Sequence[str]) -> tuple[str, int, str]:
        """One row's new tokens as ``(completion, tokens generated, finish reason)``: up to the
        first end-of-sequence token (counted), or to the first stop sequence (left out of the
        completion; counted are the tokens up to the one that completed it)."""
        ends = self._stop_ids()
        end = next((n for n, token in enumerate(new) if token in ends), None)
        body = new if end is None else new[:end]
        text = self._decode(body)
        cut = _first_stop(text, stops)
        if cut is not None:
            low, high = 1, len(body)  # the fewest tokens whose text holds a stop sequence
            while low < high:
                middle = (low + high) // 2
                if _first_stop(self._decode(body[:middle]), stops) is None:
                    low = middle + 1
                else:
                    high = middle
            return text[:cut], low, "stop"
        if end is not None:
            return text, end + 1, "stop"
        return text, len(new), "length"

    def _stop_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        stops = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            stops.add(self.tokenizer.eos_token_id)
        return stops


def load_predictor(version_dir: str | os.PathLike[str], device: str | None = None) -> Any:
    """The predictor for a version directory, by its model type."""
    kind = read_version(version_dir)["model_type"]
    if kind in ("llm_text", "llm_chat"):
        return LLMPredictor.load(version_dir, device)
    if kind == "text_classification":
        from .text_classification import TextClassifier

        return TextClassifier.load(Path(version_dir) / "model", device=device)
    if kind == "image_classification":
        from .image_classification import ImageClassifier

        return ImageClassifier.load(Path(version_dir) / "model", device=device)
    raise InvalidInput(f"unknown model type {kind!r} in {version_dir}")
