"""Helpers every benchmark shares: the result line, the machine description, measured subprocesses.

A benchmark prints a short human-readable summary on stderr and its result as ONE JSON line, the
last line of stdout, so that scripts can take ``tail -n 1`` of the output.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mt.utils.cpu import usable_cores
from mt.utils.errors import MTError

GIB = 1024**3


class BenchmarkError(MTError):
    """A benchmark cannot run or its subject failed; the message says which and what to do."""


def log(message: str) -> None:
    """One line of the human-readable summary (stderr, so stdout stays machine-readable)."""
    print(message, file=sys.stderr, flush=True)


def emit_result(result: Mapping) -> None:
    """Print ``result`` as one JSON line on stdout; call it last."""
    sys.stdout.write(json.dumps(result, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def hydra_value(value: object) -> str:
    """``value`` quoted for a Hydra override, so paths with spaces, ``=`` or quotes survive."""
    # Inside Hydra quotes a backslash escapes only a quote or another backslash before a quote/the end.
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, str(value))
    return "'" + text.replace("'", "\\'") + "'"


def machine_description() -> str:
    """One line naming the CPU, usable cores, memory, OS and Python, for comparing results."""
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) * 1024 / GIB:.1f} GiB RAM"
                break
    except OSError:  # no /proc (not Linux): the platform module's answer has to do
        pass
    return (f"{cpu}, {usable_cores()} of {os.cpu_count()} CPUs usable{memory}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


# ----------------------------------------------------------------------------- measured processes


def _process_table() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, resident bytes, CPU seconds) of every process in /proc (empty without it).

    The CPU seconds are the process's own user and system time plus those of its reaped children.
    """
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the process ended while we looked
            continue
        # The command name (field 2) may hold spaces and parentheses; field 3 (state) follows its ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        # fields[i] is field i + 3 of proc(5): ppid 4, utime..cstime 14-17, rss 24 (pages)
        cpu = sum(int(v) for v in fields[11:15]) / tick
        table[int(name)] = (int(fields[1]), int(fields[21]) * page, cpu)
    return table


def tree_usage(root: int) -> tuple[int, float]:
    """Resident bytes and CPU seconds so far of ``root`` and all its descendants ((0, 0) if gone).

    Shared pages (libraries, copy-on-write memory) count once per process, so the memory errs high.
    """
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    rss, cpu, todo = 0, 0.0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        if pid in table:
            rss += table[pid][1]
            cpu += table[pid][2]
    return rss, cpu


@dataclass
class MeasuredRun:
    """What ``run_measured`` observed of one command."""

    returncode: int
    seconds: float
    stdout: str
    stderr: str
    max_process_rss_gib: float
    """High-water mark of the largest single process of the tree (kernel-exact, from wait4)."""
    peak_tree_rss_gib: float
    """Largest sum of the RSS of all processes of the tree at one instant (sampled)."""
    cpu_s: float = 0.0
    """User plus system CPU seconds of the whole tree: unlike the wall time, not inflated when other
    work competes for the cores."""
    marks: dict[str, float] = field(default_factory=dict)
    """Seconds from the start at which each marker was first seen."""
    mark_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds the tree had used when each marker was seen (from the latest sample)."""

    @property
    def peak_rss_gib(self) -> float:
        """The memory the command needs: the larger of the sampled tree sum and the exact maximum."""
        return max(self.max_process_rss_gib, self.peak_tree_rss_gib)


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    poll_s: float = 0.1,
    file_marks: Mapping[str, Callable[[], bool]] | None = None,
    log_marks: Mapping[str, str] | None = None,
    echo_prefix: str | None = None,
) -> MeasuredRun:
    """Run ``cmd`` to completion, timing it and measuring the peak memory of its process tree.

    Two measurements, because neither is enough alone: ``wait4`` returns the kernel's exact RSS
    high-water mark, but for a tree only that of its largest single process (the worker processes
    of a pool run at the same time, so their memory adds up); polling ``/proc`` every ``poll_s``
    seconds sums the whole tree but can miss a spike shorter than the interval.

    ``file_marks`` are predicates polled with the memory; ``log_marks`` map a name to a substring
    of a stderr line. The time each first holds is recorded in ``marks``, with the CPU time used by
    then in ``mark_cpu``. Stderr lines are echoed to our stderr with ``echo_prefix`` when given.
    """
    started = time.monotonic()
    proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks: dict[str, float] = {}
    mark_cpu: dict[str, float] = {}
    cpu_now = [0.0]  # the latest sample, shared with the stderr reader
    out: list[str] = []
    err: list[str] = []

    def read_stdout() -> None:
        out.append(proc.stdout.read())

    def read_stderr() -> None:
        for line in proc.stderr:
            now = time.monotonic() - started
            err.append(line)
            for name, text in (log_marks or {}).items():
                if name not in marks and text in line:
                    marks[name], mark_cpu[name] = now, cpu_now[0]
            if echo_prefix is not None:
                log(f"{echo_prefix}{line.rstrip()}")

    readers = [threading.Thread(target=fn, daemon=True) for fn in (read_stdout, read_stderr)]
    for t in readers:
        t.start()
    peak_tree = 0
    try:
        while True:
            # wait4 (not Popen.poll) reaps the child: it is the only call that returns its rusage.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            now = time.monotonic() - started
            if pid:
                break
            rss, cpu_now[0] = tree_usage(proc.pid)
            peak_tree = max(peak_tree, rss)
            for name, predicate in (file_marks or {}).items():
                if name not in marks and predicate():
                    marks[name], mark_cpu[name] = now, cpu_now[0]
            time.sleep(poll_s)
    except BaseException:  # Ctrl-C or an error here: do not leave the command running
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is already reaped
    for t in readers:
        t.join()
    proc.stdout.close()
    proc.stderr.close()
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    return MeasuredRun(
        returncode=proc.returncode, seconds=now, stdout="".join(out), stderr="".join(err),
        max_process_rss_gib=usage.ru_maxrss * rss_unit / GIB, peak_tree_rss_gib=peak_tree / GIB,
        cpu_s=usage.ru_utime + usage.ru_stime, marks=marks, mark_cpu=mark_cpu,
    )
