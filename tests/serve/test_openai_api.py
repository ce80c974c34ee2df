"""The OpenAI-compatible endpoints of a real jupyter server, spoken to by the official ``openai``
client (run on a thread, as the server runs on the test's event loop): chat and text
completions with their real token counts, streaming that arrives while the model generates,
``stop``, ``seed``, the models list, and errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pytest
from sqlalchemy import select
from transformers import AutoModelForCausalLM, AutoTokenizer

from jupyter_automl.store import orm
from tests.rest.openapi import check

CONVERSATION = [
    {"role": "system", "content": "You are a concise support agent for Nordlys Outdoor."},
    {"role": "user", "content": "Hello, this is order 2001."},
    {"role": "assistant", "content": "Hello! How can I help with that order?"},
    {"role": "user", "content": "Where is my parcel?"},
]
LONG = 480  # tokens: long enough that the first piece comes while the answer is being generated


@pytest.fixture
def bot(deploy):
    """A deployed tiny chat LLM: ``(deployment, key)``."""
    created = deploy("bot", "llm_chat")
    return created, created.new_keys[0].key


@pytest.fixture
def base_url(http_server_client, jp_http_port, jp_base_url):
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}automl/v1"


@pytest.fixture
def client(base_url):
    """``client(key)``: the official client, pointed at the server."""
    made = []

    def make(key: str):
        made.append(openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60))
        return made[-1]

    yield make
    for each in made:
        each.close()


def run(function, *args, **kwargs):
    """The blocking client's call on a thread, so the server on this loop can answer it."""
    return asyncio.to_thread(function, *args, **kwargs)


def _model_dir(server_automl, name: str) -> Path:
    return Path(server_automl.get_version(name, 1).artifacts_path) / "model"


def expected_answer(model_dir: Path, messages: list[dict], max_tokens: int) -> tuple[int, int, str]:
    """What the trained model itself gives, greedily, straight from transformers: the prompt's
    token count (its chat template, as training rendered it), the completion's token count (up to
    and with the end token) and its text."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(rendered, add_special_tokens=False, return_tensors="pt")["input_ids"]
    out = model.generate(ids, attention_mask=ids.new_ones(ids.shape), max_new_tokens=max_tokens,
                         do_sample=False, pad_token_id=tokenizer.eos_token_id)
    new = out[0, ids.shape[1]:].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id) + 1]
    return ids.shape[1], len(new), tokenizer.decode(new, skip_special_tokens=True)


async def test_chat_completion_has_the_models_answer_and_real_usage(bot, client, server_automl):
    created, key = bot
    answer = await run(client(key).chat.completions.create, model=created.name,
                       messages=CONVERSATION, max_tokens=12)
    prompt_tokens, completion_tokens, text = expected_answer(
        _model_dir(server_automl, "bot"), CONVERSATION, 12)
    assert answer.object == "chat.completion" and answer.model == created.name
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == text
    assert choice.finish_reason == ("length" if completion_tokens == 12 else "stop")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, completion_tokens)
    assert answer.usage.total_tokens == prompt_tokens + completion_tokens
    # Recorded as a sync task of the deployment, its usage counted like the task API's.
    task_id = answer.id.removeprefix("chatcmpl-")
    with server_automl.store.session() as session:
        task = session.get(orm.Task, task_id)
        assert task.kind == "sync" and task.status == "succeeded" and task.deployment_id == created.id
        assert (task.prompt_tokens, task.completion_tokens) == (prompt_tokens, completion_tokens)
        assert task.input["text_data"] == "Where is my parcel?"
        assert task.input["options"]["system_prompt"] == CONVERSATION[0]["content"]
        assert task.input["options"]["prompt_history"] == CONVERSATION[1:3]
    info = server_automl.get_deployment(created.id)
    assert (info.requests, info.tokens) == (1, prompt_tokens + completion_tokens)


async def test_text_completion_goes_through_the_same_prompt(bot, client, server_automl):
    created, key = bot
    answer = await run(client(key).completions.create, model=created.id, prompt="Where is my parcel?",
                       max_tokens=6)
    prompt_tokens, completion_tokens, text = expected_answer(
        _model_dir(server_automl, "bot"), [{"role": "user", "content": "Where is my parcel?"}], 6)
    assert answer.object == "text_completion" and answer.model == created.name
    assert answer.choices[0].text == text
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, completion_tokens)


async def test_models_lists_exactly_the_keys_deployment(deploy, client):
    first, second = deploy("bot", "llm_chat"), deploy("helper", "llm_chat")
    listed = await run(client(first.new_keys[1].key).models.list)
    assert [m.id for m in listed.data] == [first.name]
    assert listed.data[0].object == "model" and listed.data[0].owned_by == "jupyter-automl"
    listed = await run(client(second.new_keys[0].key).models.list)
    assert [m.id for m in listed.data] == [second.name]
    # Another deployment's model is not this key's to use.
    with pytest.raises(openai.NotFoundError) as raised:
        await run(client(first.new_keys[0].key).chat.completions.create, model=second.name,
                  messages=CONVERSATION)
    assert raised.value.code == "model_not_found" and raised.value.body["param"] == "model"


async def test_streamed_chat_arrives_while_generating_and_equals_the_answer(bot, client, server_automl):
    created, key = bot
    api = client(key)
    whole = await run(api.chat.completions.create, model=created.name, messages=CONVERSATION,
                      max_tokens=LONG)
    generator = server_automl.serving._generators[created.version_id]

    def stream():
        arrivals = []  # (the row still generating when the piece came, the chunk)
        with api.chat.completions.create(model=created.name, messages=CONVERSATION, max_tokens=LONG,
                                         stream=True, stream_options={"include_usage": True}) as chunks:
            for chunk in chunks:
                arrivals.append((generator.pending > 0, chunk))
        return arrivals

    arrivals = await run(stream)
    chunks = [chunk for _, chunk in arrivals]
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [(generating, c.choices[0].delta.content) for generating, c in arrivals
               if c.choices and c.choices[0].delta.content]
    assert len(content) > 10
    assert "".join(piece for _, piece in content) == whole.choices[0].message.content
    assert content[0][0], "the first piece came only once the whole answer was generated"
    finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finished == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    # The streamed answer is recorded as a task with its token counts.
    with server_automl.store.session() as session:
        tasks = session.scalars(select(orm.Task).order_by(orm.Task.created_at)).all()
        assert [(t.kind, t.status) for t in tasks] == [("sync", "succeeded")] * 2
        assert tasks[1].completion_tokens == whole.usage.completion_tokens
    assert server_automl.get_deployment(created.id).tokens == 2 * whole.usage.total_tokens


async def test_a_seed_makes_sampling_reproducible_streamed_or_not(bot, client):
    created, key = bot
    api = client(key)
    ask = dict(model=created.name, messages=CONVERSATION, max_tokens=24, temperature=1.0, top_p=0.95)
    one = await run(api.chat.completions.create, seed=7, **ask)
    two = await run(api.chat.completions.create, seed=7, **ask)
    other = await run(api.chat.completions.create, seed=8, **ask)
    assert one.choices[0].message.content == two.choices[0].message.content
    assert one.choices[0].message.content != other.choices[0].message.content

    def stream():
        with api.chat.completions.create(seed=7, stream=True, **ask) as chunks:
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert await run(stream) == one.choices[0].message.content


async def test_stop_cuts_the_completion(bot, client):
    created, key = bot
    api = client(key)
    # Sampled (seeded, so the same each time): greedy, the tiny model repeats one character.
    ask = dict(model=created.name, messages=CONVERSATION, max_tokens=40, temperature=1.0, seed=11)
    full = (await run(api.chat.completions.create, **ask)).choices[0].message.content
    at = next(n for n in range(len(full) // 2, len(full) - 2) if "\ufffd" not in full[n: n + 2])
    stop = full[at: at + 2]  # a stop sequence after some text
    expected = full[: full.index(stop)]
    assert expected, repr(full)
    cut = await run(api.chat.completions.create, stop=[stop, "never-generated"], **ask)
    assert cut.choices[0].message.content == expected and cut.choices[0].finish_reason == "stop"
    assert cut.usage.completion_tokens < 40

    def stream():
        with api.chat.completions.create(stop=stop, stream=True, **ask) as chunks:
            chunks = list(chunks)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]

    assert await run(stream) == (expected, ["stop"])
    text = await run(api.completions.create, model=created.name, prompt="Where is my parcel?",
                     max_tokens=40, temperature=1.0, seed=11, stop=stop)
    assert stop not in text.choices[0].text


async def test_errors_have_openais_shape(bot, deploy, client):
    created, key = bot
    with pytest.raises(openai.AuthenticationError) as raised:
        await run(client("jam_not-a-key").chat.completions.create, model=created.name,
                  messages=CONVERSATION)
    assert raised.value.status_code == 401
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    assert raised.value.code == "invalid_api_key" and raised.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as raised:
        await run(client(key).chat.completions.create, model="no-such-model", messages=CONVERSATION)
    assert raised.value.code == "model_not_found"
    for bad, param in [({"temperature": 9}, "temperature"), ({"n": 2}, "n"),
                       ({"max_tokens": 0}, "max_tokens"), ({"stop": ["a"] * 5}, "stop"),
                       ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
                       ({"messages": [{"role": "tool", "content": "hi"}]}, "messages")]:
        ask = {"model": created.name, "messages": CONVERSATION, **bad}
        with pytest.raises(openai.BadRequestError) as raised:
            await run(client(key).chat.completions.create, **ask)
        assert raised.value.body["param"] == param, (bad, raised.value.body)
        assert raised.value.type == "invalid_request_error"
    reviews = deploy("reviews")
    with pytest.raises(openai.BadRequestError, match="not an LLM") as raised:
        await run(client(reviews.new_keys[0].key).chat.completions.create, model=reviews.name,
                  messages=CONVERSATION)
    assert raised.value.body["param"] == "model"
    assert (await run(client(reviews.new_keys[0].key).models.list)).data == []


async def test_a_client_that_leaves_stops_the_generation(bot, client, server_automl):
    created, key = bot

    def leave_early():
        with client(key).chat.completions.create(model=created.name, messages=CONVERSATION,
                                                 max_tokens=4000, stream=True) as chunks:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    return

    await run(leave_early)

    def recorded():
        with server_automl.store.session() as session:
            return session.scalars(select(orm.Task)).all()

    for _ in range(300):
        tasks = await run(recorded)
        if tasks:
            break
        await asyncio.sleep(0.1)
    assert [(t.status, t.error) for t in tasks] == [
        ("failed", "the client left before the streamed answer ended")]
    assert (tasks[0].finished_at - tasks[0].started_at).total_seconds() < 20


async def test_answers_match_the_openapi_document(bot, http_server_client, jp_base_url):
    created, key = bot

    async def fetch(method, path, body=None, key=key):
        response = await http_server_client.fetch(
            f"{jp_base_url}automl/v1/{path}", method=method, raise_error=False,
            body=body if body is None or isinstance(body, bytes) else json.dumps(body),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {key}"} if key else {})})
        check(response, request=response.code < 400)
        return response

    ask = {"model": created.name, "messages": CONVERSATION, "max_tokens": 3}
    assert (await fetch("POST", "chat/completions", ask)).code == 200
    text = {"model": created.name, "prompt": "hi", "max_tokens": 3}
    assert (await fetch("POST", "completions", text)).code == 200
    assert (await fetch("GET", "models")).code == 200
    streamed = await fetch("POST", "chat/completions", {**ask, "stream": True})
    assert streamed.code == 200 and streamed.headers["Content-Type"].startswith("text/event-stream")
    events = streamed.body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: ") for e in events[:-1])
    missing = await fetch("GET", "models", key=None)
    assert missing.code == 401 and json.loads(missing.body)["error"]["code"] == "invalid_api_key"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await fetch("POST", "chat/completions", {**ask, "model": "other"})).code == 404
    bad = await fetch("POST", "chat/completions", {**ask, "top_p": 0})
    assert bad.code == 400 and json.loads(bad.body)["error"]["param"] == "top_p"
    assert (await fetch("POST", "completions", b"not json")).code == 400
