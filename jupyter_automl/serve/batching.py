"""Dynamic batching: concurrent requests to one model become one model call.

Requests wait in a queue. When the model is idle, the first request waits at most ``window``
seconds for company (or until ``max_batch`` are there); while the model is busy, requests
gather by themselves and the next call takes them at once. The model runs on a thread of its
own, so the event loop keeps answering. ``max_pending`` bounds the queue: beyond it a request
is refused at once (503 with Retry-After) instead of waiting without end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import Unavailable

BatchCall = Callable[[Sequence[Any]], Sequence[Any]]


class Batcher:
    """``await submit(item)`` answers one item; ``call(items)`` answers a list (an item's
    answer may be an exception, which is raised for that item alone)."""

    def __init__(
        self, call: BatchCall, *, window: float, max_batch: int, max_pending: int, name: str = "model"
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be at least 1")
        self.call = call
        self.window = max(0.0, window)
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.name = name
        self._queue: deque[tuple[Any, asyncio.Future]] = deque()
        self._pending = 0
        self._arrived: asyncio.Event | None = None
        self._consumer: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self._seconds_per_batch = 0.0
        self.batches = 0
        self.items = 0

    @property
    def pending(self) -> int:
        return self._pending

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained by one batch's worth of room."""
        waves = self._pending / self.max_batch
        return max(1, math.ceil(waves * max(self._seconds_per_batch, 0.05)))

    async def submit(self, item: Any) -> Any:
        if self._pending >= self.max_pending:
            raise Unavailable(
                f"{self.name} has {self._pending} requests waiting (the limit); try again later",
                retry_after=self.retry_after(),
            )
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending += 1
        self._queue.append((item, future))
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._consumer is None or self._consumer.done():
            self._consumer = loop.create_task(self._consume())
        try:
            return await future
        finally:
            self._pending -= 1

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if len(self._queue) < self.max_batch and self.window > 0:
                deadline = loop.time() + self.window
                while len(self._queue) < self.max_batch and (left := deadline - loop.time()) > 0:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except asyncio.TimeoutError:
                        break
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self._thread, self.call, [i for i, _ in live])
                if len(answers) != len(live):
                    raise RuntimeError(f"{self.name} answered {len(answers)} of {len(live)} requests")
            except Exception as error:  # the whole call failed: every request in it fails
                answers = [error] * len(live)
            self._seconds_per_batch = time.perf_counter() - started
            self.batches += 1
            self.items += len(live)
            for (_, future), answer in zip(live, answers):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    def run_now(self, items: Sequence[Any]) -> Sequence[Any]:
        """The model call for faces without an event loop, on the model's own thread so it never
        runs beside a batch."""
        return self._thread.submit(self.call, items).result()

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
