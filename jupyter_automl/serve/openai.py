"""OpenAI-compatible endpoints for deployed LLMs (DESIGN §7), so existing OpenAI clients work
with a base URL (``<server>/automl/v1``) and the deployment's key.

* ``POST /automl/v1/chat/completions``: ``messages`` become the task API's LLM options -- the
  leading system (or developer) messages the ``system_prompt``, the user and assistant turns
  before the last the ``prompt_history``, the last user message the prompt -- so the prompt is
  built by the same chat template path as training.
* ``POST /automl/v1/completions``: ``prompt`` is the task's ``text_data``.
* ``GET /automl/v1/models``: the LLM deployment the key belongs to (a key has one).

The key comes as ``Authorization: Bearer <key>``; ``model`` must name that deployment (by name
or id). Answers without ``stream`` go through the deployment's batcher and are recorded as sync
tasks, with usage counted, like the task API's; their ``id`` holds the task's id. With
``stream: true`` the completion is generated alone on the model's thread and sent as
server-sent events as it is generated, then recorded the same way. Sampling follows the task
API: greedy unless ``temperature`` > 0, ``max_tokens`` 256 by default. Errors have OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import AutoMLError, InvalidInput, Unauthorized, error_answer
from ..schemas import DeploymentInfo
from ..training.predictor import generation_settings
from .batching import Streamed
from .deployments import Caller
from .inputs import TaskRequest
from .keys import key_from_header
from .runtime import ServingRuntime
from .tasks import SYNC

LLM_TYPES = ("llm_text", "llm_chat")
GENERATION_FIELDS = ("max_tokens", "temperature", "top_p", "seed", "stop")
SYSTEM_ROLES = ("system", "developer")


class OpenAIError(AutoMLError):
    """An error that names the request field at fault (OpenAI's ``param``) and a ``code``."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.param = param
        self.code = code


def bad(param: str | None, message: str, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def error_shape(error: BaseException | None, status: int = 500,
                reason: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, body, headers)`` of an error in OpenAI's shape."""
    param = code = None
    headers: dict[str, str] = {}
    if isinstance(error, AutoMLError):
        status, _, headers = error_answer(error)
        message = error.message
        param, code = getattr(error, "param", None), getattr(error, "code", None)
        if isinstance(error, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="jupyter-automl"'
            code = code or "invalid_api_key"
        elif status == 404:
            code = code or "model_not_found"
    elif isinstance(error, web.HTTPError):
        status, message = error.status_code, error.log_message or error.reason or reason
    elif error is None and status < 500:
        message = reason or f"HTTP {status}"
    else:
        status, message = 500, "internal error; the server log has the details"
    kind = "invalid_request_error" if status < 500 else "server_error"
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers


# ------------------------------------------------------------------ translation
def _generation(body: dict[str, Any], *, chat: bool) -> dict[str, Any]:
    """The task API's generation options of an OpenAI request, checked (naming the field)."""
    options = {name: body[name] for name in GENERATION_FIELDS if body.get(name) is not None}
    source = {name: name for name in options}
    if chat and body.get("max_completion_tokens") is not None:
        options["max_tokens"] = body["max_completion_tokens"]
        source["max_tokens"] = "max_completion_tokens"
    try:
        generation_settings(options)
    except InvalidInput as error:
        raise bad(source.get(error.message.split(" ", 1)[0]), error.message) from None
    return options


def _refuse_unsupported(body: dict[str, Any], *, chat: bool) -> tuple[bool, bool]:
    """Refuse what a deployment cannot do; ``(stream, include_usage)``."""
    if body.get("n") not in (None, 1):
        raise bad("n", f"n must be 1: a deployment gives one completion per request, got {body['n']!r}")
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0):
            raise bad(name, f"{name} is not supported; leave it out or 0")
    if body.get("logit_bias"):
        raise bad("logit_bias", "logit_bias is not supported")
    if chat:
        if body.get("logprobs") or body.get("top_logprobs"):
            raise bad("logprobs", "logprobs are not available from this server")
        for name in ("tools", "functions"):
            if body.get(name):
                raise bad(name, f"{name} (function calling) are not supported by this deployment")
        response_format = body.get("response_format")
        if response_format is not None and (not isinstance(response_format, dict)
                                            or response_format.get("type") != "text"):
            raise bad("response_format", "response_format must be {\"type\": \"text\"}; "
                      "JSON modes are not supported")
    else:
        if body.get("logprobs") is not None:
            raise bad("logprobs", "logprobs are not available from this server")
        if body.get("echo"):
            raise bad("echo", "echo is not supported")
        if body.get("best_of") not in (None, 1):
            raise bad("best_of", "best_of must be 1")
        if body.get("suffix"):
            raise bad("suffix", "suffix (insertion) is not supported")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream", f"stream must be true or false, got {stream!r}")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise bad("stream_options", "stream_options is only allowed with stream: true")
        if not isinstance(options, dict):
            raise bad("stream_options", "stream_options must be an object")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise bad("stream_options", "stream_options.include_usage must be true or false")
    return bool(stream), include_usage


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or a list of text parts (joined by line breaks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise bad("messages", f"{where}: only text content parts are supported")
            texts.append(part["text"])
        return "\n".join(texts)
    raise bad("messages", f"{where}: content must be a string or a list of text parts")


def chat_options(messages: Any) -> tuple[str, dict[str, Any]]:
    """``(prompt, options)`` of OpenAI ``messages``: the task API's ``system_prompt`` (the
    leading system messages), ``prompt_history`` (the turns before the last) and the prompt
    (the last message, the user's)."""
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "messages must be a non-empty list of {\"role\", \"content\"} messages")
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, dict):
            raise bad("messages", f"{where} must be an object with role and content")
        role = message.get("role")
        if role in SYSTEM_ROLES:
            if turns:
                raise bad("messages", f"{where}: a {role} message must come before the conversation "
                          "(the model was trained with one system prompt at its start)")
            system.append(_text(message.get("content"), where))
        elif role in ("user", "assistant"):
            if message.get("tool_calls") or message.get("function_call"):
                raise bad("messages", f"{where}: tool calls are not supported")
            turns.append({"role": role, "content": _text(message.get("content"), where)})
        else:
            raise bad("messages", f"{where}: role {role!r} is not supported; use system, user or assistant")
    if not turns or turns[-1]["role"] != "user":
        raise bad("messages", "the last message must be the user's")
    prompt = turns[-1]["content"]
    if not prompt.strip():
        raise bad("messages", "the last user message is empty")
    options: dict[str, Any] = {}
    if system:
        options["system_prompt"] = "\n\n".join(system)
    if len(turns) > 1:
        options["prompt_history"] = turns[:-1]
    return prompt, options


def completion_prompt(prompt: Any) -> str:
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad("prompt", "prompt must be a string (one prompt per request; token ids are not accepted)")
    if not prompt.strip():
        raise bad("prompt", "prompt is empty")
    return prompt


def _timestamp(at: datetime) -> int:
    return int((at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp())


def model_object(deployment: DeploymentInfo) -> dict[str, Any]:
    return {"id": deployment.name, "object": "model",
            "created": _timestamp(deployment.deployed_at or deployment.created_at),
            "owned_by": "jupyter-automl"}


def _output(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """The completion of a finished task, and its usage in OpenAI's shape."""
    output = task["status"][0]["response"]["output"][0]
    prompt, completion = task["usage"]["prompt_tokens"] or 0, task["usage"]["completion_tokens"] or 0
    return output, {"prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion}


# --------------------------------------------------------------------- handlers
class OpenAIHandler(web.RequestHandler):
    def initialize(self, runtime: ServingRuntime) -> None:
        self.runtime = runtime

    def check_xsrf_cookie(self) -> None:
        """Key-authenticated API calls carry no cookies, so cross-site forgery does not apply."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        status, body, headers = error_shape(error, status_code, self._reason)
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ, value, tb) -> None:
        """Bad input is the client's business, not an error of the server's."""
        if isinstance(value, AutoMLError) and value.http_status < 500:
            return
        super().log_exception(typ, value, tb)

    async def caller(self) -> Caller:
        key = key_from_header(self.request.headers.get("Authorization"))
        if key is None:
            raise Unauthorized("missing API key: send the deployment's key as 'Authorization: Bearer <key>'")
        return await asyncio.get_running_loop().run_in_executor(None, self.runtime.caller, key)

    async def deployment(self, caller: Caller) -> DeploymentInfo:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.runtime.registry.get, caller.deployment_id)

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise bad(None, f"the request body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise bad(None, "the request body must be a JSON object")
        return body

    def send_json(self, data: Any) -> None:
        self.finish(json.dumps(data))


class ModelsHandler(OpenAIHandler):
    async def get(self) -> None:
        """The deployments this key may use: its own, when it is an LLM."""
        caller = await self.caller()
        deployment = await self.deployment(caller)
        data = [model_object(deployment)] if deployment.model_type in LLM_TYPES else []
        self.send_json({"object": "list", "data": data})


class _CompletionHandler(OpenAIHandler):
    """What chat and text completions share: the key, the model, the options, streaming."""

    chat = False
    input_field = "prompt"
    id_prefix = "cmpl"

    def task_request(self, body: dict[str, Any]) -> TaskRequest:
        raise NotImplementedError

    def answer_shape(self, task: dict[str, Any], model: str) -> dict[str, Any]:
        raise NotImplementedError

    def chunk(self, model: str, text: str | None, finish: str | None = None) -> dict[str, Any]:
        raise NotImplementedError

    async def complete(self) -> None:
        caller = await self.caller()
        body = self.json_body()
        model = await self.model(caller, body.get("model"))
        stream, include_usage = _refuse_unsupported(body, chat=self.chat)
        request = self.task_request(body)
        try:
            if stream:
                streamed = await self.runtime.stream(caller, request, SYNC)
            else:
                task = await self.runtime.answer(caller, request, SYNC)
        except InvalidInput as error:  # the prompt or conversation does not fit the model
            raise bad(self.input_field, error.message) from None
        if stream:
            await self.send_events(streamed, model, include_usage)
        else:
            self.send_json(self.answer_shape(task, model))

    async def model(self, caller: Caller, model: Any) -> str:
        """The deployment's name, when ``model`` names the key's deployment (else 404) and it
        is an LLM (else 400)."""
        if not isinstance(model, str) or not model:
            raise bad("model", "model is required: the name (or id) of the deployment")
        deployment = await self.deployment(caller)
        if model not in (deployment.name, deployment.id):
            raise OpenAIError(404, f"the model {model!r} does not exist or this key may not use it; "
                              f"this key's deployment is {deployment.name!r}",
                              param="model", code="model_not_found")
        if deployment.model_type not in LLM_TYPES:
            raise bad("model", f"deployment {deployment.name!r} is a {deployment.model_type} model, "
                      "not an LLM: ask it through the task API (/automl/api/v2/task/sync)",
                      code="model_not_supported")
        return deployment.name

    def options(self, body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        return {**options, **_generation(body, chat=self.chat)}

    # -- streaming
    async def send_events(self, streamed: Streamed, model: str, include_usage: bool) -> None:
        """The answer as server-sent events, each piece flushed as it is generated."""
        self._streamed = streamed
        self.stream_id = f"{self.id_prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.include_usage = include_usage
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            if self.chat:
                await self.event(self.chunk(model, ""))
            async for piece in streamed:
                await self.event(self.chunk(model, piece))
            try:
                task = await streamed.result()
            except Exception as error:  # the model failed: say so in the stream
                if streamed.cancelled.is_set():
                    return  # the client left
                if not (isinstance(error, AutoMLError) and error.http_status < 500):
                    self.log_exception(type(error), error, error.__traceback__)
                await self.event(error_shape(error)[1])
                self.finish()
                return
            output, usage = _output(task)
            await self.event(self.chunk(model, None, output["finish_reason"]))
            if include_usage:
                await self.event({**self.chunk(model, None), "choices": [], "usage": usage})
            self.write("data: [DONE]\n\n")
            self.finish()
        except StreamClosedError:
            pass  # the client left; closing the stream stops the generation
        finally:
            streamed.close()

    async def event(self, data: dict[str, Any]) -> None:
        self.write(f"data: {json.dumps(data)}\n\n")
        await self.flush()

    def on_connection_close(self) -> None:
        streamed = getattr(self, "_streamed", None)
        if streamed is not None:
            streamed.close()

    def chunk_base(self, model: str, kind: str) -> dict[str, Any]:
        base = {"id": self.stream_id, "object": kind, "created": self.created, "model": model}
        if self.include_usage:
            base["usage"] = None
        return base


class ChatCompletionsHandler(_CompletionHandler):
    chat = True
    input_field = "messages"
    id_prefix = "chatcmpl"

    async def post(self) -> None:
        await self.complete()

    def task_request(self, body: dict[str, Any]) -> TaskRequest:
        prompt, options = chat_options(body.get("messages"))
        return TaskRequest.from_fields({"text_data": prompt, "options": self.options(body, options)},
                                       max_media_bytes=0)

    def answer_shape(self, task: dict[str, Any], model: str) -> dict[str, Any]:
        output, usage = _output(task)
        return {
            "id": f"chatcmpl-{task['id']}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": output["completion"],
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": output["finish_reason"]}],
            "usage": usage,
        }

    def chunk(self, model: str, text: str | None, finish: str | None = None) -> dict[str, Any]:
        if text == "" and finish is None:
            delta: dict[str, Any] = {"role": "assistant", "content": ""}
        else:
            delta = {} if text is None else {"content": text}
        return {**self.chunk_base(model, "chat.completion.chunk"), "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


class CompletionsHandler(_CompletionHandler):
    async def post(self) -> None:
        await self.complete()

    def task_request(self, body: dict[str, Any]) -> TaskRequest:
        prompt = completion_prompt(body.get("prompt"))
        return TaskRequest.from_fields({"text_data": prompt, "options": self.options(body, {})},
                                       max_media_bytes=0)

    def answer_shape(self, task: dict[str, Any], model: str) -> dict[str, Any]:
        output, usage = _output(task)
        return {
            "id": f"cmpl-{task['id']}", "object": "text_completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "text": output["completion"], "logprobs": None,
                         "finish_reason": output["finish_reason"]}],
            "usage": usage,
        }

    def chunk(self, model: str, text: str | None, finish: str | None = None) -> dict[str, Any]:
        return {**self.chunk_base(model, "text_completion"),
                "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}]}


def openai_routes(runtime: ServingRuntime | None, prefix: str = "/") -> list[tuple[str, type, dict]]:
    base = prefix.rstrip("/") + "/automl/v1"
    args = {"runtime": runtime}
    return [
        (f"{base}/chat/completions", ChatCompletionsHandler, args),
        (f"{base}/completions", CompletionsHandler, args),
        (f"{base}/models", ModelsHandler, args),
    ]
