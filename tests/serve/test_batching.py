"""The batcher on its own: who waits for whom, per-request errors, and the bounded queue."""

from __future__ import annotations

import asyncio
import time

import pytest

from jupyter_automl.errors import Unavailable
from jupyter_automl.serve.batching import Batcher


class Model:
    """Answers each item doubled, after ``seconds``; records the size of every call."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[int] = []
        self.seconds = seconds

    def __call__(self, items):
        self.calls.append(len(items))
        time.sleep(self.seconds)
        return [ValueError(f"bad {i}") if i < 0 else i * 2 for i in items]


async def test_a_lone_request_does_not_wait_for_the_window():
    model = Model()
    batcher = Batcher(model, window=2.0, max_batch=8, max_pending=8)
    started = time.perf_counter()
    assert await batcher.submit(21) == 42
    assert time.perf_counter() - started < 0.5 and model.calls == [1]
    batcher.close()


async def test_requests_announced_as_coming_join_the_call():
    model = Model()
    batcher = Batcher(model, window=1.0, max_batch=8, max_pending=8)
    for _ in range(3):
        batcher.expect()

    async def late(value: int, delay: float):
        await asyncio.sleep(delay)
        batcher.arrived()
        return await batcher.submit(value)

    answers = await asyncio.gather(batcher.submit(1), late(2, 0.05), late(3, 0.1), late(4, 0.15))
    assert answers == [2, 4, 6, 8] and model.calls == [4]
    batcher.close()


async def test_clients_of_the_last_call_are_waited_for_so_cohorts_merge():
    model = Model(seconds=0.2)
    batcher = Batcher(model, window=0.05, max_wait=0.2, max_batch=16, max_pending=64)

    async def client(first_delay: float, rounds: int):
        await asyncio.sleep(first_delay)
        for n in range(rounds):
            await batcher.submit(n)

    # Two cohorts of four reach an idle model 0.1 s apart: the first call takes four.
    await asyncio.gather(*[client(0.0, 3) for _ in range(4)], *[client(0.1, 3) for _ in range(4)])
    assert model.calls[0] == 4
    assert 8 in model.calls, f"the cohorts never merged: {model.calls}"
    batcher.close()


async def test_an_item_error_fails_that_request_alone():
    batcher = Batcher(Model(), window=0.05, max_batch=8, max_pending=8)
    good, bad = await asyncio.gather(batcher.submit(1), batcher.submit(-1), return_exceptions=True)
    assert good == 2 and isinstance(bad, ValueError) and "bad -1" in str(bad)
    batcher.close()


async def test_a_failed_call_fails_every_request_in_it():
    def broken(items):
        raise RuntimeError("out of memory")

    batcher = Batcher(broken, window=0.05, max_batch=8, max_pending=8)
    answers = await asyncio.gather(*[batcher.submit(i) for i in range(3)], return_exceptions=True)
    assert all(isinstance(a, RuntimeError) for a in answers)
    batcher.close()


async def test_a_full_queue_refuses_at_once_with_retry_after():
    batcher = Batcher(Model(seconds=0.3), window=0.0, max_batch=1, max_pending=2)
    answers = await asyncio.gather(*[batcher.submit(i) for i in range(5)], return_exceptions=True)
    refused = [a for a in answers if isinstance(a, Unavailable)]
    assert len(refused) == 3 and all(a.retry_after >= 1 for a in refused)
    assert [a for a in answers if not isinstance(a, Exception)] == [0, 2]
    batcher.close()


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        Batcher(Model(), window=0.0, max_batch=0, max_pending=1)
