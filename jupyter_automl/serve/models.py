"""A loaded model version as the server uses it: check a request, then answer a batch.

Each model type turns a :class:`TaskRequest` into what its predictor takes (``prepare``, per
request, where a bad request fails alone) and answers a list of prepared items in one call
(``call``, one batch). Outputs follow DESIGN §7: classification gives every class of every head
with its score; an LLM gives the completion with its token counts.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..training import decoding
from ..training.predictor import generation_settings, load_predictor
from .inputs import (
    CLASSIFIER_OPTIONS,
    LLM_GENERATION_OPTIONS,
    LLM_PROMPT_OPTIONS,
    TaskRequest,
    check_options,
    fetch_url,
)


@dataclass
class Answer:
    output: list[dict[str, Any]]
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _top_k(options: dict[str, Any]) -> int | None:
    top_k = options.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise InvalidInput(f"options.top_k must be a positive integer, got {top_k!r}")
    return top_k


def _heads(prediction: dict[str, list[dict[str, Any]]], top_k: int | None) -> list[dict[str, Any]]:
    return [{"head": head, "classes": classes[:top_k] if top_k else classes}
            for head, classes in prediction.items()]


class ServedModel:
    """Base: what every model type shares (its identity and its predictor)."""

    def __init__(self, predictor: Any, *, version_id: str, model_type: str, model_name: str,
                 version: int) -> None:
        self.predictor = predictor
        self.version_id = version_id
        self.model_type = model_type
        self.model_name = model_name
        self.version = version

    def prepare(self, request: TaskRequest, *, allow_urls: bool, max_media_bytes: int) -> Any:
        raise NotImplementedError

    def call(self, items: Sequence[Any]) -> list[Answer | Exception]:
        raise NotImplementedError


class ServedTextClassifier(ServedModel):
    def prepare(self, request: TaskRequest, *, allow_urls: bool, max_media_bytes: int) -> Any:
        if request.text_data is None:
            raise InvalidInput("this deployment classifies text: send text_data")
        check_options(request.options, CLASSIFIER_OPTIONS, "text classification")
        return request.text_data, _top_k(request.options)

    def call(self, items: Sequence[Any]) -> list[Answer | Exception]:
        predictions = self.predictor.predict([text for text, _ in items])
        return [Answer(_heads(p, top_k)) for p, (_, top_k) in zip(predictions, items)]


class ServedImageClassifier(ServedModel):
    def prepare(self, request: TaskRequest, *, allow_urls: bool, max_media_bytes: int) -> Any:
        from PIL import Image

        from ..training.images import load_image

        if request.text_data is not None:
            raise InvalidInput("this deployment classifies images: send media (a file) or url")
        check_options(request.options, CLASSIFIER_OPTIONS, "image classification")
        data = request.media
        if data is None:
            if not allow_urls:
                raise InvalidInput("url inputs are turned off on this server; send the image as media")
            data = fetch_url(request.url, max_bytes=max_media_bytes)
        try:
            image = load_image(data, draft_size=self.predictor.image_size)
        except (OSError, ValueError, TypeError, Image.DecompressionBombError) as error:
            raise InvalidInput(f"the image does not decode: {error}") from None
        return image, _top_k(request.options)

    def call(self, items: Sequence[Any]) -> list[Answer | Exception]:
        predictions = self.predictor.predict([image for image, _ in items])
        return [Answer(_heads(p, top_k)) for p, (_, top_k) in zip(predictions, items)]


class ServedLLM(ServedModel):
    def prepare(self, request: TaskRequest, *, allow_urls: bool, max_media_bytes: int) -> Any:
        if request.text_data is None:
            raise InvalidInput("this deployment is an LLM: send the prompt as text_data")
        check_options(request.options, LLM_PROMPT_OPTIONS + LLM_GENERATION_OPTIONS, "LLM")
        item = {"prompt": request.text_data,
                **{k: request.options[k] for k in LLM_PROMPT_OPTIONS if k in request.options}}
        if not self.predictor.chat and ("prompt_history" in item or "roles" in item):
            raise InvalidInput("prompt_history and roles are for chat models; this one completes text")
        settings = generation_settings(
            {k: request.options[k] for k in LLM_GENERATION_OPTIONS if k in request.options}
        )
        ids = self.predictor.prompt_ids(item)
        return ids, tuple(sorted(settings.items()))

    def call(self, items: Sequence[Any]) -> list[Answer | Exception]:
        """Requests with the same generation settings are generated together."""
        groups: dict[tuple, list[int]] = {}
        for n, (_, settings) in enumerate(items):
            groups.setdefault(settings, []).append(n)
        answers: list[Answer | Exception] = [RuntimeError("not answered")] * len(items)
        for settings, members in groups.items():
            try:
                outs = self.predictor.generate_ids([items[n][0] for n in members], dict(settings))
            except Exception as error:
                for n in members:
                    answers[n] = error
                continue
            for n, out in zip(members, outs):
                answers[n] = self._answer(out)
        return answers

    def stream(self, item: Any, on_text: Callable[[str], None], cancel: threading.Event) -> Answer:
        """Answer one prepared request alone, handing each piece of the completion to
        ``on_text`` as it is generated; the answer is the one :meth:`call` would give."""
        ids, settings = item
        return self._answer(self.predictor.stream_ids(ids, dict(settings), on_text, cancel))

    @functools.cached_property
    def continuous(self) -> bool:
        """Whether requests can join and leave a running generation (see ``decoding``)."""
        return decoding.supports(self.predictor.model)

    def decoder(self, *, prefix_cache: bool = True) -> decoding.Decoder:
        return decoding.Decoder(self.predictor, prefix_cache=prefix_cache)

    @staticmethod
    def row(item: Any, on_text: Callable[[str], None] | None = None,
            cancel: threading.Event | None = None) -> decoding.Row:
        """A prepared request as a row for :meth:`decoder`."""
        ids, settings = item
        return decoding.Row(ids, dict(settings), on_text=on_text, cancel=cancel or threading.Event())

    def answer_of(self, row: decoding.Row) -> Answer:
        """The answer of a row that has ended: the same as :meth:`call` gives."""
        return self._answer(dict(row.result))

    @staticmethod
    def _answer(out: dict[str, Any]) -> Answer:
        prompt, completion = out.pop("prompt_tokens"), out.pop("completion_tokens")
        return Answer([{**out, "prompt_tokens": prompt, "completion_tokens": completion}], prompt, completion)


SERVED = {
    "text_classification": ServedTextClassifier,
    "image_classification": ServedImageClassifier,
    "llm_text": ServedLLM,
    "llm_chat": ServedLLM,
}


def load_served(artifacts_path: str, *, version_id: str, model_type: str, model_name: str,
                version: int, device: str | None = None) -> ServedModel:
    predictor = load_predictor(artifacts_path, device=device or None)
    return SERVED[model_type](predictor, version_id=version_id, model_type=model_type,
                              model_name=model_name, version=version)
