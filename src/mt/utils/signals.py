"""Stop at a safe point on SIGTERM or SIGINT instead of dying mid-step."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

from mt.utils.logging import get_logger

log = get_logger(__name__)


@contextlib.contextmanager
def stop_requests(request_stop: Callable[[int], None]) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT call ``request_stop(signum)`` (the loop then saves and leaves)
    instead of raising; the previous handlers come back on exit. Off the main thread (a test runner's
    thread), where handlers cannot be set, nothing changes."""
    def handler(signum, _frame):
        log.warning("received signal %d: saving checkpoints/last.pt at the end of this step", signum)
        request_stop(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
