"""A bounded closed-loop HTTP load on loopback, for ``benchmark.py serve`` (benchmarks/serve_load.py).

A server subprocess started and stopped whatever happens (SIGTERM, then SIGKILL), C asyncio clients
(aiohttp) each sending one sentence in LibreTranslate's ``POST /translate`` and the next when answered,
the resident memory of the server sampled during a soak, and the figures: sentences/s, latency
percentiles, errors by kind, RSS growth. Requests go to 127.0.0.1 only (``HOST``; no proxy from the
environment), and every loop is bounded in time, and in count where asked.

The clients share the machine with the server, so they should take as little of it as they can:
aiohttp's client spent about 0.2 ms of CPU per request here where httpx's spent 3.6 ms (32 clients, one
core of a Zen 4 EPYC), a quarter of the core the server was being measured on. The record keeps the
clients' CPU time (``client_cpu_s``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.common import BenchmarkError, log

try:
    import psutil
except ImportError:  # optional: /proc/<pid>/status gives the RSS on Linux
    psutil = None

HOST = "127.0.0.1"
"""The only address the load goes to: the server binds it and every request is sent to it."""
MIB = 1024**2
RSS_WINDOW_S = 60.0
"""RSS growth compares the median of the last minute's samples with the first minute's."""


# ------------------------------------------------------------------------------- pure functions


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating linearly between the closest
    ranks (numpy's default). E.g. ``[1, 2, 3, 4]``: p50 2.5, p95 3.85."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rss_growth(samples: Sequence[tuple[float, int]], window_s: float = RSS_WINDOW_S) -> dict:
    """Growth of the RSS from the median of the samples in the first ``window_s`` seconds to the median
    of those in the last ``window_s``; ``samples`` are ``(seconds, bytes)`` in time order.

    Medians, not the first and last samples, so that one sample taken mid-batch does not decide it."""
    if not samples:
        raise ValueError("no RSS samples")
    t_first, t_last = samples[0][0], samples[-1][0]
    first = statistics.median(rss for t, rss in samples if t <= t_first + window_s)
    last = statistics.median(rss for t, rss in samples if t >= t_last - window_s)
    return {"rss_first_mib": round(first / MIB, 1), "rss_last_mib": round(last / MIB, 1),
            "rss_growth": round((last - first) / first, 4), "rss_window_s": window_s}


def summarize_level(concurrency: int, latencies_s: Sequence[float], errors: collections.Counter,
                    seconds: float, client_cpu_s: float = 0.0) -> dict:
    """The figures of one closed-loop level: answered sentences/s over the level's wall time,
    latency percentiles of the answered requests (ms), and the errors by kind."""
    ms = [t * 1000 for t in latencies_s]

    def pct(q: float) -> float | None:
        return round(percentile(ms, q), 1) if ms else None

    return {"concurrency": concurrency, "requests": len(ms) + sum(errors.values()), "answered": len(ms),
            "errors": sum(errors.values()), "error_kinds": dict(errors), "seconds": round(seconds, 2),
            "sentences_per_s": round(len(ms) / seconds, 2) if seconds > 0 else 0.0,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "client_cpu_s": round(client_cpu_s, 2)}


def batch_counts(metrics_text: str) -> tuple[float, float]:
    """``(requests, decoding calls)`` so far, from the server's Prometheus ``mt_serve_batch_requests``."""
    values = {}
    for line in metrics_text.splitlines():
        for name in ("mt_serve_batch_requests_sum", "mt_serve_batch_requests_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("mt_serve_batch_requests_sum", 0.0), values.get("mt_serve_batch_requests_count", 0.0)


# ---------------------------------------------------------------------------------- the server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_rss(pid: int) -> int | None:
    """Resident bytes of process ``pid`` (psutil if installed, else /proc); None once it is gone."""
    if psutil is not None:
        try:
            return psutil.Process(pid).memory_info().rss
        except psutil.Error:
            return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    except OSError:
        pass
    return None


def stop_server(proc: subprocess.Popen, grace_s: float) -> int:
    """SIGTERM (serve.py finishes the requests in flight and exits 0), SIGKILL after ``grace_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log(f"serve.py did not stop within {grace_s:g} s of SIGTERM: killing it")
            proc.kill()
            proc.wait()
    return proc.returncode


def _wait_for_health(proc: subprocess.Popen, url: str, timeout_s: float, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise BenchmarkError(f"serve.py exited with status {proc.returncode} before answering /health:\n"
                                 f"{log_path.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2, trust_env=False).json().get("status") == "ok":
                return
        if time.monotonic() > deadline:
            raise BenchmarkError(f"serve.py did not answer {url}/health within {timeout_s:g} s (--start-timeout); "
                                 f"its log: {log_path}")
        time.sleep(0.2)


@contextlib.contextmanager
def running_server(command: list[str], url: str, work: Path, *, start_timeout_s: float,
                   grace_s: float) -> Iterator[subprocess.Popen]:
    """``command`` (serve.py) started, answering ``url``/health; stopped on leaving, whatever happened."""
    log_path = work / "serve.log"
    with open(log_path, "w", encoding="utf-8") as server_log:
        proc = subprocess.Popen(command, cwd=work, stdout=server_log, stderr=subprocess.STDOUT)
        try:
            _wait_for_health(proc, url, start_timeout_s, log_path)
            yield proc
        finally:
            code = stop_server(proc, grace_s)
            log(f"serve.py stopped (exit status {code}); its log: {log_path}")


# ---------------------------------------------------------------------------------- the client


async def _post(session, url: str, text: str, source: str, target: str) -> tuple[str | None, str | None]:
    """``(error kind, translation)`` of one ``POST /translate``: exactly one of them is None."""
    import aiohttp

    body = {"q": text, "source": source, "target": target, "format": "text"}
    try:
        async with session.post(url, json=body) as answer:
            if answer.status != 200:
                await answer.read()
                return f"HTTP {answer.status}", None
            data = await answer.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:  # refused, reset, timed out: this request's error
        return type(e).__name__, None
    except ValueError:
        return "not a translation", None
    translation = data.get("translatedText") if isinstance(data, dict) else None
    return (None, translation) if isinstance(translation, str) else ("not a translation", None)


async def closed_loop(url: str, sentences: Sequence[str], concurrency: int, *, max_requests: int | None,
                      max_seconds: float, source: str, target: str, timeout_s: float,
                      answers: dict[int, str] | None = None) -> dict:
    """``concurrency`` clients, each sending the next sentence as soon as its last one is answered,
    until ``max_requests`` are sent (None: no count limit) or ``max_seconds`` have passed; the
    requests in flight then finish. Answers go into ``answers`` (sentence index -> translation)."""
    import aiohttp

    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    issued = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                     trust_env=False) as session:
        cpu, start = time.process_time(), time.perf_counter()
        deadline = start + max_seconds

        async def one_client() -> None:
            nonlocal issued
            while (max_requests is None or issued < max_requests) and time.perf_counter() < deadline:
                index = issued % len(sentences)
                issued += 1
                sent = time.perf_counter()
                error, translation = await _post(session, url, sentences[index], source, target)
                if error:
                    errors[error] += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                if answers is not None:
                    answers[index] = translation

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return summarize_level(concurrency, latencies, errors, seconds, time.process_time() - cpu)


async def _sample_rss(pid: int, interval_s: float, start: float, samples: list, stop: asyncio.Event) -> None:
    while True:
        rss = process_rss(pid)
        if rss is not None:
            samples.append((round(time.perf_counter() - start, 2), rss))
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
            return
        except asyncio.TimeoutError:
            pass


async def soak(url: str, sentences: Sequence[str], pid: int, *, concurrency: int, seconds: float,
               interval_s: float, source: str, target: str, timeout_s: float) -> dict:
    """The closed loop at ``concurrency`` for ``seconds``, sampling the RSS of process ``pid`` every
    ``interval_s``: the level's figures, the RSS growth (``rss_growth``) and the samples."""
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(pid, interval_s, time.perf_counter(), samples, stop))
    try:
        level = await closed_loop(url, sentences, concurrency, max_requests=None, max_seconds=seconds,
                                  source=source, target=target, timeout_s=timeout_s)
    finally:
        stop.set()
        await sampler
    if not samples:
        raise BenchmarkError(f"could not read the RSS of the server (pid {pid}) during the soak")
    # A short soak (a smoke run) compares its first and last thirds instead of minutes.
    window = min(RSS_WINDOW_S, seconds / 3)
    return {**level, **rss_growth(samples, window),
            "rss_samples_mib": [[t, round(rss / MIB, 1)] for t, rss in samples]}
