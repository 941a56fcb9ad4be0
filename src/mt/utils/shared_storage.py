"""Work one rank does for all, seen by the others through storage they share.

Under torchrun, rank 0 alone prepares the data and writes the run directory; the other ranks read
both at the same paths. Two things go wrong there that collectives handle badly:

- The storage is not shared (a node-local disk mounted at the same path, another working directory
  on another node): a rank fails much later, somewhere else. ``check_shared_dirs`` tests it at
  start-up with a fresh token that rank 0 writes and every rank must find.
- Rank 0's work outlasts the process-group timeout (preparing a large corpus on a slow disk), and a
  barrier expires with an error that names nothing. ``wait_for`` polls the file system instead, with
  no collective pending, and follows the status file that rank 0 keeps fresh in a ``Heartbeat``:
  rank 0's failure, or its silence, ends the wait with an error that says so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mt.utils.dist import all_gather_object, broadcast_object, get_rank, get_world_size
from mt.utils.errors import MTError

log = logging.getLogger(__name__)

TOKEN_PREFIX = ".mt-shared-check-"
VISIBILITY_WAIT_S = 10.0
"""How long a rank looks for rank 0's token: network filesystems may show a new file a little late."""
HEARTBEAT_S = 10.0
"""How often the working rank refreshes its status file."""
STALE_S = 600.0
"""A status file unchanged this long means its writer is gone (killed, its node lost)."""
REPORT_S = 60.0
"""How often a waiting rank logs that it is still waiting."""


def check_shared_dirs(dirs: Mapping[str, Path], *, wait_s: float = VISIBILITY_WAIT_S) -> str:
    """Check that every rank sees the directories rank 0 uses, and return a token that is fresh for
    this launch and the same on every rank.

    ``dirs`` maps a label such as ``run directory (hydra.run.dir)`` to the path as this rank resolves
    it. Rank 0 creates each directory and writes the token into it; every other rank must find the
    token in its own copy within ``wait_s``. Otherwise every rank raises MTError naming the rank, its
    host, the path it looked in and the path rank 0 wrote. Alone, nothing is checked.
    """
    if get_world_size() == 1:
        return uuid.uuid4().hex
    rank, host = get_rank(), socket.gethostname()
    paths = {label: Path(path).absolute() for label, path in dirs.items()}
    sent = None
    if rank == 0:
        sent = (uuid.uuid4().hex, host, {label: str(p) for label, p in paths.items()})
        for path in paths.values():
            _write_token(path, sent[0])
    token, main_host, main_paths = broadcast_object(sent)  # after rank 0 wrote: the files exist now
    missing = [] if rank == 0 else [label for label, p in paths.items() if not _sees_token(p, token, wait_s)]
    reports = all_gather_object((rank, host, missing, {label: str(p) for label, p in paths.items()}))
    if rank == 0:
        for path in paths.values():
            (path / f"{TOKEN_PREFIX}{token}").unlink(missing_ok=True)
    failures = [(r, h, label, seen[label]) for r, h, labels, seen in reports for label in labels]
    if failures:
        raise MTError(_not_shared_message(failures, main_host, main_paths, sorted(dirs)))
    return token


def _write_token(directory: Path, token: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{TOKEN_PREFIX}{token}", "w") as f:
        f.write(token)
        f.flush()
        os.fsync(f.fileno())


def _sees_token(directory: Path, token: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.listdir(directory)  # revalidates a network filesystem's cached view of the directory
            if (directory / f"{TOKEN_PREFIX}{token}").read_text() == token:
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _not_shared_message(failures: list, main_host: str, main_paths: dict[str, str], labels: list[str]) -> str:
    rank, host, label, seen = failures[0]
    where = f"{seen}, while rank 0 wrote {main_paths[label]}" if seen != main_paths[label] else seen
    others = f" ({len(failures) - 1} more rank/directory pairs failed too)" if len(failures) > 1 else ""
    return (
        f"rank {rank} (host {host}) does not see the {label} of rank 0 (host {main_host}): it looked "
        f"in {where}{others}. The {' and the '.join(labels)} must be on storage that every node sees "
        f"at the same path (a shared filesystem): start every node in the same shared directory, or "
        f"pass absolute paths on shared storage"
    )


class Heartbeat:
    """Context manager for the rank that does the work: keeps the JSON ``status`` file fresh (state,
    host, pid, the last log message of ``follow`` from the thread that entered it) every ``interval_s``,
    and records on exit whether the work succeeded or failed, and why. Waiters only trust a file
    carrying their ``token``."""

    def __init__(self, status: Path, token: str, *, interval_s: float = HEARTBEAT_S, follow: str = "mt"):
        self.status, self.token, self.interval_s = Path(status), token, interval_s
        self.logger = logging.getLogger(follow)
        self.state: dict[str, Any] = {"token": token, "state": "running", "host": socket.gethostname(),
                                      "pid": os.getpid(), "beat": 0, "last": "", "error": ""}
        self._handler = _LastMessage(self.state)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Heartbeat:
        self._handler.thread = threading.get_ident()
        self._write()
        self.logger.addHandler(self._handler)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.logger.removeHandler(self._handler)
        if exc is None:
            self.state["state"] = "done"
        else:
            self.state["state"] = "failed"
            self.state["error"] = str(exc) if isinstance(exc, MTError) else f"{type(exc).__name__}: {exc}"
        self._write()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write()

    def _write(self) -> None:
        with self._lock:
            self.state["beat"] += 1
            tmp = self.status.with_name(f".{self.status.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(self.state))
                os.replace(tmp, self.status)
            except OSError as e:  # a full or flaky disk must not kill the work itself
                log.warning("cannot write the status file %s: %s", self.status, e)


class _LastMessage(logging.Handler):
    """Keeps the last message logged by the working thread; other threads' messages (a waiter in
    the same process, a progress thread) say nothing about the work."""

    def __init__(self, state: dict[str, Any]):
        super().__init__(logging.INFO)
        self.state = state
        self.thread: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.state["last"] = record.getMessage()[:300]


def read_status(status: Path, token: str) -> dict[str, Any] | None:
    """The heartbeat state in ``status`` if it belongs to ``token`` (this launch), else None."""
    try:
        state = json.loads(Path(status).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("token") == token else None


def wait_for(
    ready: Callable[[], bool], status: Path, token: str, what: str, *, poll_s: float = 1.0,
    stale_s: float = STALE_S, report_s: float = REPORT_S, visibility_s: float = 60.0,
) -> None:
    """Poll ``ready()`` until true while rank 0 does ``what`` (e.g. ``preparing the data in X``).

    No collective is pending, so this may take as long as the work does. Raises MTError when rank 0's
    heartbeat reports a failure, when it stays unchanged for ``stale_s`` (rank 0 is gone), or when
    rank 0 reports success but ``ready()`` stays false for ``visibility_s``.
    """
    start = last_change = time.monotonic()
    last_beat, done_at, next_report = None, None, start + report_s
    while not ready():
        now, state = time.monotonic(), read_status(status, token)
        if state is not None:
            if state["state"] == "failed":
                raise MTError(f"rank 0 failed while {what}: {state['error']}")
            if state["beat"] != last_beat:
                last_beat, last_change = state["beat"], now
            if state["state"] == "done":
                done_at = done_at or now
                if now - done_at > visibility_s:
                    raise MTError(f"rank 0 finished {what}, but rank {get_rank()} does not see the result; "
                                  f"it must be on storage that every node sees at the same path")
        if now - last_change > stale_s:
            raise MTError(f"rank 0 stopped {what}: its status file {status} has not changed for "
                          f"{stale_s / 60:.0f} min (was it killed, or its node lost?); see rank 0's log")
        if now >= next_report:
            last = f"; rank 0's last message: {state['last']}" if state and state.get("last") else ""
            log.info("waiting for rank 0 (%.0f min so far): %s%s", (now - start) / 60, what, last)
            next_report = now + report_s
        time.sleep(poll_s)
