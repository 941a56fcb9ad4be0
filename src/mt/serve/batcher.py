"""Dynamic batching: the lines of requests that arrive together are decoded in one call.

Requests wait in a bounded queue that one worker drains into decoding calls, up to ``calls`` of them at
once (CTranslate2 runs one batch per worker; mt's decoder uses every core in one call). When a call
may start and no call is running, it takes what is waiting at once: a lone request pays no wait. When
other calls are running, it waits up to ``max_wait_ms`` for more requests (or until ``max_batch_tokens``
source tokens are waiting), so that the cores go to large batches. Each call runs on a worker thread, so
the event loop keeps answering; it keeps line order (``mt.decode.lines``), and each request gets back
its own slice. If a call fails, each of its requests is decoded again alone: a request that breaks
the model fails alone, with its own error, and the others get their translations.
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
            self._free.release()
            self._arrived.set()  # a batch waiting for others to finish may go now

    async def _next_batch(self) -> list[Job]:
        """The waiting requests for one call. With no call running, those waiting now; otherwise also
        those that arrive within ``max_wait_ms`` of the first, while their tokens fit in
        ``max_batch_tokens``."""
        assert self._arrived is not None
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        if self._running:
            deadline = time.monotonic() + self.max_wait_s
            while sum(job.tokens for job in self._pending) < self.max_batch_tokens:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._running:  # the decoder went idle: go now
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
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
        loop = asyncio.get_running_loop()
        try:
            translations = await loop.run_in_executor(self._executor, self.translate, lines)
        except Exception as e:
            if len(jobs) > 1:
                for job in jobs:
                    await self._decode([job])
            elif not jobs[0].future.done():
                log.warning("a request failed in the model: %s: %s", type(e).__name__, e)
                jobs[0].future.set_exception(e)
            return
        start = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(translations[start:start + len(job.lines)])
            start += len(job.lines)
