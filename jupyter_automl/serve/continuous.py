"""Continuous batching for LLM deployments: requests join the running generation between tokens.

The :class:`~.batching.Batcher` hands a model whole batches, which suits classifiers: every
answer takes one forward pass. A generated answer takes a pass per token and nobody knows
beforehand how many, so a batch lasts as long as its longest answer, and a request that comes
meanwhile waits for all of it. Here one thread per model runs a
:class:`~jupyter_automl.training.decoding.Decoder` step after step instead: newcomers join
at the next step (their prompts prefilled in the same forward pass where the model's
architecture allows it), an answer leaves as soon as it ends and is recorded
(``finish``) and handed back at once. Streamed answers are rows like the others, whose pieces
are sent as they come.

At most ``max_rows`` rows are in flight; ``max_pending`` bounds those in flight and waiting
together, beyond which a request is refused at once (503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import AutoMLError, Unavailable
from ..store.orm import utcnow as now
from .batching import Streamed

if TYPE_CHECKING:
    from ..training.decoding import Row
    from .models import ServedLLM

# finish(works, answers, starts) -> what each caller gets (an exception is raised to it)
Finish = Callable[[Sequence[Any], Sequence[Any], Sequence[datetime]], Sequence[Any]]


@dataclass(eq=False)
class _Entry:
    work: Any
    row: "Row"
    future: Future = field(default_factory=Future)
    streamed: bool = False
    started: datetime | None = None


class ContinuousBatcher:
    """``await submit(work)`` answers one request, ``stream(work)`` answers it piece by piece,
    ``run_now(works)`` answers a list for callers without an event loop."""

    def __init__(self, model: "ServedLLM", finish: Finish, *, max_rows: int,
                 max_pending: int, prefix_cache: bool = True, name: str = "model") -> None:
        if max_rows < 1 or max_pending < 1:
            raise ValueError("max_rows and max_pending must be at least 1")
        self.model = model
        self.finish = finish
        self.max_rows = max_rows
        self.max_pending = max_pending
        self.prefix_cache = prefix_cache
        self.name = name
        self._waiting: deque[_Entry] = deque()
        self._active: dict[int, _Entry] = {}  # by id() of the row
        self._changed = threading.Condition()
        self._closed = False
        self._seconds_per_answer = 0.0
        self._thread: threading.Thread | None = None
        self.batches = 0  # decoding steps (newcomers join one)
        self.items = 0  # answers

    @property
    def pending(self) -> int:
        return len(self._waiting) + len(self._active)

    def retry_after(self) -> int:
        """Seconds until the rows ahead have likely made room for one more."""
        waves = self.pending / self.max_rows
        return max(1, math.ceil(waves * max(self._seconds_per_answer, 0.05)))

    # ------------------------------------------------------------------ faces
    async def submit(self, work: Any) -> Any:
        entry = self._enqueue([work])[0]
        return await asyncio.wrap_future(entry.future)

    def stream(self, work: Any) -> Streamed:
        """The answer to ``work`` piece by piece (``close()`` on it stops the row; the task is
        then recorded as failed)."""
        streamed = Streamed(asyncio.get_running_loop())
        entry = self._enqueue([work], on_text=streamed.put, cancel=streamed.cancelled)[0]
        streamed._run(asyncio.wrap_future(entry.future))
        return streamed

    def run_now(self, works: Sequence[Any]) -> list[Any]:
        """Answers for ``works`` (an exception as the answer of a request that failed), waiting
        on this thread."""
        entries = self._enqueue(works)
        return [entry.future.exception() or entry.future.result() for entry in entries]

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _enqueue(self, works: Sequence[Any], on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> list[_Entry]:
        with self._changed:
            if self._closed:
                raise Unavailable(f"{self.name} was unloaded; try again")
            if self.pending + len(works) > self.max_pending:
                raise Unavailable(
                    f"{self.name} has {self.pending} requests in flight or waiting (the limit is "
                    f"{self.max_pending}); try again later", retry_after=self.retry_after())
            entries = [_Entry(work, self.model.row(work.prepared, on_text, cancel), streamed=on_text is not None)
                       for work in works]
            self._waiting.extend(entries)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"decode-{self.name}", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return entries

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        decoder = None
        while True:
            with self._changed:
                while not self._closed and not self._waiting and not self._active:
                    self._changed.wait()
                if self._closed:
                    break
                new = [self._waiting.popleft()
                       for _ in range(min(self.max_rows - len(self._active), len(self._waiting)))]
                for entry in new:
                    self._active[id(entry.row)] = entry
            ended: list[Row] = []
            try:
                if decoder is None:
                    decoder = self.model.decoder(prefix_cache=self.prefix_cache)
                at = now()
                for entry in new:
                    entry.started = at
                for entry in self._active.values():  # a caller that left stops its row
                    if entry.future.cancelled():
                        entry.row.cancel.set()
                ended += decoder.advance([entry.row for entry in new])
                self.batches += 1
            except Exception as error:  # the rows in flight fail; the cache is dropped
                self._end(list(self._active.values()), error)
                decoder = None
                continue
            if ended:
                self._end([self._active[id(row)] for row in ended])
        # Unloaded (undeployed, or the server stops): nothing is recorded, so an async task is
        # left queued for a later sweep or the restarted server, as if it had never been taken.
        left = [*self._active.values(), *self._waiting]
        self._hand(left, [Unavailable("the model was unloaded before this answer ended; try again")] * len(left))

    def _end(self, entries: list[_Entry], error: BaseException | None = None) -> None:
        """Record the ``entries`` that ended (with ``error``, when they failed) and hand each
        its answer."""
        answers: list[Any] = []
        for entry in entries:
            if error is not None:
                answers.append(error)
            elif entry.row.cancel.is_set():
                answers.append(AutoMLError(
                    f"the client left before the {'streamed ' if entry.streamed else ''}answer ended"))
            else:
                answers.append(self.model.answer_of(entry.row))
        at = now()
        try:
            results = self.finish([e.work for e in entries], answers, [e.started or at for e in entries])
        except Exception as failure:
            results = [failure] * len(entries)
        with self._changed:
            for entry in entries:
                self._active.pop(id(entry.row), None)
            if entries:
                self.items += len(entries)
                spent = sum((at - (e.started or at)).total_seconds() for e in entries) / len(entries)
                self._seconds_per_answer = spent
        self._hand(entries, results)

    @staticmethod
    def _hand(entries: Sequence[_Entry], results: Sequence[Any]) -> None:
        """Give each entry's caller its result (raised to it when it is an exception)."""
        for entry, result in zip(entries, results):
            try:
                if isinstance(result, BaseException) and not entry.streamed:
                    entry.future.set_exception(result)
                else:  # a streamed answer raises an exception it is given from ``result()``
                    entry.future.set_result(result)
            except InvalidStateError:  # its caller left (the future was cancelled)
                pass
