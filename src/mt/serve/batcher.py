"""Dynamic batching: the lines of requests that arrive together are decoded in one call.

Requests wait in a bounded queue that one worker drains into decoding calls, up to ``calls`` of them at
once (CTranslate2 runs one batch per worker; mt's decoder uses every core in one call). A call takes
what is waiting and what is still arriving:

* while other calls run, requests arriving within ``max_wait_ms``, so that busy cores get large batches;
* with the decoder idle, at once, except for the requests of the clients the last call answered: a
  client that sends its next request when answered (an app, a page, a batch job) gets up to
  ``max_wait_ms`` to send it, so that the clients answered together join those already waiting
  instead of being left to the call after it (the load then splits into two halves that take turns,
  each half a batch). A lone client pays no wait.

It stops early at ``max_batch_tokens`` source tokens. Each call runs on a worker thread, so the event
loop keeps answering; it keeps line order (``mt.decode.lines``), and each request gets back its own
slice. If a call fails, each of its requests is decoded again alone: a request that breaks the model
fails alone, with its own error, and the others get their translations.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mt.serve.metrics import Metrics
from mt.utils.logging import get_logger

log = get_logger(__name__)


class QueueFull(Exception):
    """More requests are waiting than ``max_queue``: the caller should come back later."""


@dataclass
class Job:
    """The lines of one request, and where their translations go."""

    lines: list[str]
    tokens: int
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Merges waiting requests into decoding calls of ``translate`` (lines -> translations, in order).

    ``start`` it inside the running event loop; ``submit`` lines and await the result; ``close``
    after the last request (it lets the running call finish)."""

    def __init__(self, translate: Callable[[list[str]], list[str]], count_tokens: Callable[[Sequence[str]], int],
                 *, max_batch_tokens: int, max_wait_ms: float, max_queue: int, metrics: Metrics, calls: int = 1):
        if calls < 1:
            raise ValueError(f"calls={calls}: at least one decoding call must be allowed")
        self.translate, self.count_tokens = translate, count_tokens
        self.max_batch_tokens, self.max_wait_s, self.max_queue = max_batch_tokens, max_wait_ms / 1000, max_queue
        self.calls, self.metrics = calls, metrics
        self._coming_back = 0
        """Requests still expected from the clients the last finished call answered (when idle)."""
        self._pending: collections.deque[Job] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._free: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task] = set()
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(calls, thread_name_prefix="decode")

    @property
    def depth(self) -> int:
        """Requests waiting to be decoded."""
        return len(self._pending)

    def start(self) -> None:
        self._arrived, self._free = asyncio.Event(), asyncio.Semaphore(self.calls)
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def close(self) -> None:
        """Stop taking requests, let the calls in progress finish, then stop the decoding threads."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._pending.clear()
        self._executor.shutdown(wait=True)

    def submit(self, lines: list[str]) -> asyncio.Future:
        """Queue ``lines``; the future resolves to their translations. ``QueueFull`` if ``max_queue``
        requests are already waiting."""
        if self._worker is None or self._arrived is None:
            raise RuntimeError("the batcher is not started")
        if len(self._pending) >= self.max_queue:
            raise QueueFull(f"{len(self._pending)} requests are waiting")
        job = Job(lines, self.count_tokens(lines), asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._coming_back = max(0, self._coming_back - 1)
        self.metrics.queue_depth.set(len(self._pending))
        self._arrived.set()
        return job.future

    async def _run(self) -> None:
        assert self._free is not None
        while True:
            await self._free.acquire()  # a call may start
            try:
                batch = await self._next_batch()
            except BaseException:
                self._free.release()
                raise
            call = asyncio.get_running_loop().create_task(self._call(batch))
            self._running.add(call)
            call.add_done_callback(self._running.discard)

    async def _call(self, batch: list[Job]) -> None:
        """One decoding call; its slot is free again when it ends, whatever happened."""
        assert self._free is not None and self._arrived is not None
        try:
            await self._decode(batch)
        except Exception:  # never leave a request waiting forever
            log.exception("decoding a batch failed")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("decoding failed"))
        finally:
            self._running.discard(asyncio.current_task())  # before the wake-up: a waiting batch sees it
            if not self._running:
                self._coming_back = len(batch)
            self._free.release()
            self._arrived.set()  # a batch waiting for others to finish may go now

    async def _next_batch(self) -> list[Job]:
        """The waiting requests for one call, while their tokens fit in ``max_batch_tokens``, and those
        still arriving for up to ``max_wait_ms``: any while other calls run; with the decoder idle,
        only until the clients the last call answered have sent their next requests."""
        assert self._arrived is not None
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = time.monotonic() + self.max_wait_s
        while sum(job.tokens for job in self._pending) < self.max_batch_tokens:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not (self._running or self._coming_back):
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        self._coming_back = 0
        batch, tokens = [], 0
        while self._pending and (not batch or tokens + self._pending[0].tokens <= self.max_batch_tokens):
            job = self._pending.popleft()
            batch.append(job)
            tokens += job.tokens
        self.metrics.queue_depth.set(len(self._pending))
        return batch

    async def _decode(self, batch: list[Job]) -> None:
        """Translate the lines of ``batch`` in one call and hand each request its slice; after an
        error, each request alone."""
        jobs = [job for job in batch if not job.future.done()]  # a client that went away is skipped
        if not jobs:
            return
        lines = [line for job in jobs for line in job.lines]
        self.metrics.batch_requests.observe(len(jobs))
        self.metrics.batch_sentences.observe(len(lines))
        try:
            translations = await self._timed_call(lines)
        except Exception as e:
            if len(jobs) > 1:
                for job in jobs:
                    await self._decode([job])
            elif not jobs[0].future.done():
                log.warning("a request failed in the model: %s: %s", type(e).__name__, e)
                jobs[0].future.set_exception(e)
            return
        first = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(translations[first:first + len(job.lines)])
            first += len(job.lines)

    async def _timed_call(self, lines: list[str]) -> list[str]:
        """``translate(lines)`` on a decoding thread, counted and timed in the metrics."""
        start = time.perf_counter()
        self.metrics.decoding.inc()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.translate, lines)
        finally:
            self.metrics.decoding.dec()
            self.metrics.decode_seconds.observe(time.perf_counter() - start)
