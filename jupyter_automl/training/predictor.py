"""Loading a trained version for answers: ``load_predictor(version_dir)``.

Classification predictors have ``predict(batch)`` (for each head, every class with its score);
LLM predictors have ``generate(batch, options)`` (the completion and its token counts). The
playground and the deployment server (later issues) use these objects and nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
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


def read_version(version_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(version_dir) / "version.json"
    if not path.is_file():
        raise NotFound(f"{str(version_dir)!r} is not a trained model version (no version.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def generation_settings(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = set(options) - {"max_tokens", "temperature", "top_p", "seed"}
    if unknown:
        raise InvalidInput(
            f"unknown generation option(s) {', '.join(sorted(unknown))}; "
            "use max_tokens, temperature, top_p, seed"
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
    return {"max_new_tokens": new_tokens, "temperature": float(temperature), "top_p": float(top_p),
            "seed": options.get("seed")}


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
        sample = settings["temperature"] > 0
        if settings["seed"] is not None:
            torch.manual_seed(int(settings["seed"]))
        kwargs: dict[str, Any] = {"do_sample": sample}
        if sample:
            kwargs.update(temperature=settings["temperature"], top_p=settings["top_p"])
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=settings["max_new_tokens"],
            pad_token_id=pad,
            **kwargs,
        )
        stops = self._stop_ids()
        answers = []
        for i, ids in enumerate(prompts):
            new = out[i, width:].tolist()
            finish = "length"
            for n, token in enumerate(new):
                if token in stops:
                    new, finish = new[: n + 1], "stop"
                    break
            text_ids = [t for t in new if t not in stops]
            answers.append(
                {
                    "completion": self.tokenizer.decode(text_ids, skip_special_tokens=True),
                    "prompt_tokens": len(ids),
                    "completion_tokens": len(new),
                    "finish_reason": finish,
                }
            )
        return answers

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
