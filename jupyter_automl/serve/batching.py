"""Dynamic batching: concurrent requests to one model become one model call.

Requests wait in a queue; the model runs on a thread of its own, so the event loop keeps
answering. A call starts at once when nobody else is expected, so a lone request never waits.
Otherwise it waits, at most ``window`` seconds (or a tenth of the last call, if longer, up to
``max_wait``), for requests that are known to be coming:

* requests still being checked and tokenized (announced with :meth:`Batcher.expect`), and
* the clients of the last call, who tend to send again as soon as they are answered. Without
  this, a burst that reached the model in two parts stays split in two cohorts that take turns
  for ever, each waiting out the other's whole generation.

``max_pending`` bounds the queue: beyond it a request is refused at once (503 with Retry-After)
instead of waiting without end.

A streamed answer cannot share a batch: :meth:`Batcher.stream` runs it alone on the model's
thread, between batches, and hands its pieces to the event loop as they come.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import Unavailable

BatchCall = Callable[[Sequence[Any]], Sequence[Any]]
_END = object()


class Streamed:
    """A job on a model's thread that reports pieces as it goes: ``async for piece in it``, then
    ``await it.result()``. :meth:`close` asks the job to stop (it watches :attr:`cancelled`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()
        self._future: asyncio.Future | None = None
        self._ended = False
        self.cancelled = threading.Event()

    def put(self, piece: Any) -> None:
        """Report a piece (called on the job's thread)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, piece)

    def _run(self, future: asyncio.Future) -> None:
        self._future = future
        # Pieces were handed to the loop before the job's end was, so they all come first.
        future.add_done_callback(lambda _: self._queue.put_nowait(_END))

    def __aiter__(self) -> "Streamed":
        return self

    async def __anext__(self) -> Any:
        if self._ended:
            raise StopAsyncIteration
        piece = await self._queue.get()
        if piece is _END:
            self._ended = True
            raise StopAsyncIteration
        return piece

    async def result(self) -> Any:
        """What the job returned, once it has ended; an exception it raised or returned is
        raised."""
        if self._future.done() and self._future.cancelled():
            raise Unavailable("the model was unloaded before this answer ended; try again")
        value = await self._future
        if isinstance(value, BaseException):
            raise value
        return value

    def close(self) -> None:
        self.cancelled.set()


class Batcher:
    """``await submit(item)`` answers one item; ``call(items)`` answers a list (an item's
    answer may be an exception, which is raised for that item alone)."""

    def __init__(
        self, call: BatchCall, *, window: float, max_batch: int, max_pending: int,
        max_wait: float = 0.1, name: str = "model",
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be at least 1")
        self.call = call
        self.window = max(0.0, window)
        self.max_wait = max(self.window, max_wait)
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.name = name
        self._queue: deque[tuple[Any, asyncio.Future]] = deque()
        self._pending = 0
        self._expected = 0
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

    def expect(self) -> None:
        """A request is on its way (being checked); the next call may wait for it."""
        self._expected += 1

    def arrived(self) -> None:
        """An expected request was submitted, or will not be (it was refused)."""
        self._expected = max(0, self._expected - 1)
        self._wake()

    def _wake(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()

    def _enough(self, returning: int) -> bool:
        """Whether everyone the next call should wait for is here: the requests being checked,
        and ``returning`` (the last call's clients plus those who queued meanwhile)."""
        if len(self._queue) >= self.max_batch:
            return True
        return self._expected == 0 and len(self._queue) >= returning

    def _admit(self) -> None:
        if self._pending >= self.max_pending:
            raise Unavailable(
                f"{self.name} has {self._pending} requests waiting (the limit); try again later",
                retry_after=self.retry_after(),
            )

    async def submit(self, item: Any) -> Any:
        self._admit()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending += 1
        self._queue.append((item, future))
        self._wake()
        if self._consumer is None or self._consumer.done():
            self._consumer = loop.create_task(self._consume())
        try:
            return await future
        finally:
            self._pending -= 1

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        returning = 0  # from idle, only requests being checked are waited for
        while self._queue or returning:
            if self.window > 0 and not self._enough(returning):
                wait = min(self.max_wait, max(self.window, self._seconds_per_batch / 10))
                deadline = loop.time() + wait
                while not self._enough(returning) and (left := deadline - loop.time()) > 0:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except asyncio.TimeoutError:
                        break
            if not self._queue:
                return
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
            returning = min(self.max_batch, len(self._queue) + len(live)) if self.window > 0 else 0
            for (_, future), answer in zip(live, answers):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    def stream(self, job: Callable[[Streamed], Any]) -> Streamed:
        """Run ``job(streamed)`` alone on the model's thread, between batches (so it never runs
        beside one, and a seed gives the same sampling as in a batch). It counts as a waiting
        request until it ends."""
        self._admit()
        streamed = Streamed(asyncio.get_running_loop())
        future = asyncio.wrap_future(self._thread.submit(job, streamed))
        self._pending += 1
        future.add_done_callback(self._stream_ended)
        streamed._run(future)
        return streamed

    def _stream_ended(self, _: asyncio.Future) -> None:
        self._pending -= 1

    def run_now(self, items: Sequence[Any]) -> Sequence[Any]:
        """The model call for faces without an event loop, on the model's own thread so it never
        runs beside a batch."""
        return self._thread.submit(self.call, items).result()

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
