"""``benchmark.py serve``: serve.py under a bounded load on loopback, against translate.py in one batch.

The phases, in order (``DESCRIPTION`` below is the user's version): serve.py started on 127.0.0.1;
closed-loop levels of C clients; a soak sampling the server's RSS; the server stopped (SIGTERM,
then SIGKILL; on errors and Ctrl-C too); the same sentences through the translate.py command in one
batch; the single-sentence time through the server's own decoding function, in this process. Then
the table, the JSON record and the issue's bars. The server is stopped before the last two, so that
they do not share the cores with it. The HTTP machinery (server lifecycle, client, RSS) is in
``benchmarks/http_load.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import BenchmarkError, hydra_value, log, machine_description
from benchmarks.http_load import (
    HOST,
    MIB,
    batch_counts,
    closed_loop,
    free_port,
    percentile,
    process_rss,
    running_server,
    soak,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "multi30k" / "test_2016_flickr.en"
THROUGHPUT_CLIENTS = 32
THROUGHPUT_SHARE = 0.8
"""The issue's bar: at 32 clients the server reaches >= 80% of translate.py's batch sentences/s."""
LATENCY_FACTOR = 2.0
"""The issue's bar: one client alone gets p50 <= 2x the single-sentence decode time."""
RSS_GROWTH_LIMIT = 0.05
"""The issue's bar: the server's RSS grows < 5% over the soak (``http_load.rss_growth``)."""
SINGLE_WARMUP = 5
"""One-line calls made before the single-sentence timing (allocator, first-call set-up)."""


# ------------------------------------------------------------------------------- pure functions


@dataclass
class Bar:
    """One of the issue's checks: the measured ratio or count against its limit."""

    name: str
    rule: str
    value: float | None
    """None when the run did not measure it (e.g. no 32-client level): then it does not pass."""
    passed: bool


def check_bars(levels: Sequence[dict], batch_sent_per_s: float | None, single_s: float | None,
               errors: int, growth: float | None) -> list[Bar]:
    """The issue's bars, from the levels (``summarize_level`` dicts with ``identical_to_translate_py``),
    translate.py's batch sentences/s, the single-sentence decode time (s), all errors and the soak's
    RSS growth."""
    by_clients = {level["concurrency"]: level for level in levels}
    many, one = by_clients.get(THROUGHPUT_CLIENTS), by_clients.get(1)
    share = (many["sentences_per_s"] / batch_sent_per_s
             if many and batch_sent_per_s and many["answered"] else None)
    factor = one["p50_ms"] / 1000 / single_s if one and one["p50_ms"] is not None and single_s else None
    shares = [level.get("identical_to_translate_py") for level in levels]
    same = None if not shares or None in shares else min(shares)
    return [
        Bar(f"throughput at {THROUGHPUT_CLIENTS} clients", f">= {THROUGHPUT_SHARE:.0%} of translate.py's batch",
            share, share is not None and share >= THROUGHPUT_SHARE),
        Bar("latency of one client", f"p50 <= {LATENCY_FACTOR:g}x the single-sentence decode time",
            factor, factor is not None and factor <= LATENCY_FACTOR),
        Bar("errors", "0 in every level and the soak", errors, errors == 0),
        Bar("RSS over the soak", f"growth < {RSS_GROWTH_LIMIT:.0%}", growth,
            growth is not None and growth < RSS_GROWTH_LIMIT),
        Bar("translations", "every level's lines equal translate.py's (share)", same, same == 1.0),
    ]


TRANSLATED = re.compile(r"translated (\d+) lines \(.*?\) in ([\d.]+) s, ([\d.]+) sentences/s")


def parse_translate_log(stderr: str) -> tuple[int, float, float] | None:
    """``(lines, seconds, sentences/s)`` of translate.py's closing log line (decoding only: after the
    model is loaded), or None when it is not there."""
    found = TRANSLATED.findall(stderr)
    if not found:
        return None
    lines, seconds, speed = found[-1]
    return int(lines), float(seconds), float(speed)


def decode_overrides(overrides: Sequence[str]) -> list[str]:
    """The positional overrides, checked: only ``decode.*`` keys, which mean the same to serve.py and
    translate.py (server-only keys go in ``--serve-option``)."""
    bad = [o for o in overrides if not o.startswith("decode.") or "=" not in o]
    if bad:
        raise BenchmarkError(f"{' '.join(bad)}: the positional overrides are decode settings (decode.KEY=VALUE), "
                             f"given to serve.py and translate.py alike; pass serve.py's own keys with "
                             f"--serve-option KEY=VALUE")
    return list(overrides)


def parse_levels(text: str) -> list[int]:
    """``"1,8,32,64"`` -> ``[1, 8, 32, 64]``; each level a positive number of clients."""
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give concurrency levels as positive integers, e.g. 1,8,32,64")
    return levels


# ---------------------------------------------------------------------------------- the load


def serve_command(model: Path, port: int, args: argparse.Namespace) -> list[str]:
    """``python serve.py model=... host=127.0.0.1 port=...`` with the decode settings and serve options."""
    return [sys.executable, str(REPO / "serve.py"), f"model={hydra_value(model)}", f"host={HOST}", f"port={port}",
            f"ct2_intra_threads={args.ct2_intra_threads}", *args.serve_option, *args.overrides]


async def load_test(url: str, sentences: Sequence[str], pid: int, args: argparse.Namespace) -> dict:
    """Warm-up, the levels (with the server's batching between them) and the soak, against ``url``."""
    import httpx

    common = dict(source=args.source_lang, target=args.target_lang, timeout_s=args.request_timeout)
    if args.warmup_requests:
        await closed_loop(url + "/translate", sentences, min(8, max(args.levels)), max_requests=args.warmup_requests,
                          max_seconds=args.level_seconds, **common)
    levels, answers = [], {}  # concurrency -> {sentence index: the server's translation}
    requests = args.requests or len(sentences)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as probe:
        for concurrency in args.levels:
            before = batch_counts((await probe.get(url + "/metrics")).text)
            level = await closed_loop(url + "/translate", sentences, concurrency, max_requests=requests,
                                      max_seconds=args.level_seconds,
                                      answers=answers.setdefault(concurrency, {}), **common)
            after = batch_counts((await probe.get(url + "/metrics")).text)
            calls = after[1] - before[1]
            level["requests_per_decoding_call"] = round((after[0] - before[0]) / calls, 2) if calls else None
            level["server_rss_mib"] = round((process_rss(pid) or 0) / MIB, 1)
            log(_level_line(level))
            levels.append(level)
    soaked = None
    if args.soak_seconds > 0:
        soaked = await soak(url + "/translate", sentences, pid, concurrency=args.soak_concurrency,
                            seconds=args.soak_seconds, interval_s=args.rss_interval, **common)
    return {"levels": levels, "soak": soaked, "answers": answers}


# ------------------------------------------------------------------------ translate.py and one line


def translate_batch(model: Path, fmt: str, source: Path, work: Path, args: argparse.Namespace,
                    n_lines: int) -> dict:
    """The ``translate.py`` command on all the sentences in one chunk: its decoding speed as it logs
    it, the wall time of the whole command, and its output lines."""
    from mt.decode.chunks import partial_paths

    output = work / "translate_py.out"
    for stale in (output, *partial_paths(output)):  # a crashed run's chunks would be resumed, not timed
        stale.unlink(missing_ok=True)
    model_args = (["backend=ctranslate2", f"model_dir={hydra_value(model)}"] if fmt == "ctranslate2"
                  else [f"checkpoint={hydra_value(model)}"])
    command = [sys.executable, str(REPO / "translate.py"), *model_args, f"input={hydra_value(source)}",
               f"output={hydra_value(output)}", f"chunk_lines={max(n_lines, 1)}", "progress=false",
               f"ct2_intra_threads={args.ct2_intra_threads}", *args.overrides]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=args.translate_timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchmarkError(f"translate.py failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    logged = parse_translate_log(done.stderr)
    if logged is None:
        raise BenchmarkError(f"translate.py did not log its closing 'translated N lines ... sentences/s' line:\n"
                             f"{done.stderr[-2000:]}")
    return {"command": shlex.join(command), "lines": logged[0], "decode_s": logged[1], "sentences_per_s": logged[2],
            "command_s": round(wall, 2), "command_sentences_per_s": round(n_lines / wall, 2),
            "output": output.read_text(encoding="utf-8").split("\n")[:-1]}


def single_sentence_time(model: Path, sentences: Sequence[str], args: argparse.Namespace) -> dict:
    """Median seconds of one-line calls of the server's own decoding function (``load_engine``, with
    the server's settings), in this process: no HTTP, no batching wait, no process start-up."""
    from mt.config import serve_config
    from mt.serve.engine import load_engine
    from mt.utils.compose import compose_config

    overrides = [f"model_path={hydra_value(model)}", f"ct2_intra_threads={args.ct2_intra_threads}",
                 *args.serve_option, *args.overrides]
    engine = load_engine(serve_config(compose_config("serve", overrides, work_dir=os.getcwd())))
    src, tgt = engine.resolve(args.source_lang, args.target_lang)
    lines = [engine.steer([s], src, tgt) for s in sentences[: args.single_sentences]]
    for line in lines[:SINGLE_WARMUP]:
        engine.translate(line)
    times = []
    for line in lines:
        start = time.perf_counter()
        engine.translate(line)
        times.append(time.perf_counter() - start)
    return {"sentences": len(times), "median_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(percentile(times, 95) * 1000, 2)}


# ---------------------------------------------------------------------------------------- the run

DESCRIPTION = """\
serve.py under a bounded closed-loop load on 127.0.0.1, against translate.py in one batch.

Starts serve.py on a free port with MODEL and the decode settings; at each --levels concurrency, C
clients each send one sentence of --source-file per POST /translate and the next when answered
(--requests or --level-seconds, whichever ends first): sentences/s, p50/p95/p99 latency, errors.
Then a soak (--soak-seconds at --soak-concurrency) sampling the server's RSS. The server is then
stopped (SIGTERM, SIGKILL after --stop-grace; also on errors and Ctrl-C), and the same sentences go
through the translate.py command in one batch (its logged decoding speed) and, one line at a time,
through the server's decoding function in this process (the single-sentence time).

Bars (PASS/FAIL, the exit status stays 0): 32 clients >= 80% of translate.py's sentences/s; one
client's p50 <= 2x the single-sentence time; 0 errors; RSS growth over the soak < 5% (last
minute's median over the first's). A summary goes to stderr, the record to --output and, as one
JSON line, to the end of stdout."""

EPILOG = """\
examples:
  # a student's CTranslate2 int8 export (translate.py runs backend=ctranslate2), beam 4
  python scripts/benchmark.py serve --model exports/m30k-student-ct2-int8 decode.beam_size=4
  # the Multi30k recipe model, mt's decoder
  python scripts/benchmark.py serve --model outputs/multi30k_en_de/RUN/checkpoints/best.pt decode.beam_size=4
  # a smoke run on a tiny model (seconds)
  python scripts/benchmark.py serve --model tiny.pt --levels 1,32 --requests 10 --soak-seconds 3 \\
      --rss-interval 0.5 --single-sentences 10 --warmup-requests 2"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--model", required=True, help="what serve.py serves: an mt checkpoint (.pt), a "
                        "CTranslate2 export (translate.py then runs backend=ctranslate2) or a Marian directory")
    parser.add_argument("--source-file", default=str(DEFAULT_SOURCE), help="one sentence per line; each request "
                        "sends one (default: ../shared/data/multi30k/test_2016_flickr.en)")
    parser.add_argument("--sentences", type=int, help="use only the first N non-empty lines of --source-file")
    parser.add_argument("--source-lang", default="en", help="the requests' source (default en)")
    parser.add_argument("--target-lang", default="de", help="the requests' target (default de)")
    parser.add_argument("--levels", type=parse_levels, default=[1, 8, 32, 64],
                        help="concurrent clients of each level, comma-separated (default 1,8,32,64)")
    parser.add_argument("--requests", type=int, help="requests per level (default: one per sentence, one pass)")
    parser.add_argument("--level-seconds", type=float, default=120.0,
                        help="a level stops sending after this many seconds, whatever --requests (default 120)")
    parser.add_argument("--warmup-requests", type=int, default=50, help="untimed requests before the first level")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="length of the soak; 0 skips it (default 300)")
    parser.add_argument("--soak-concurrency", type=int, default=THROUGHPUT_CLIENTS, help="clients in the soak")
    parser.add_argument("--rss-interval", type=float, default=5.0, help="seconds between RSS samples in the soak")
    parser.add_argument("--single-sentences", type=int, default=100,
                        help="one-line decoding calls timed for the single-sentence time (median)")
    parser.add_argument("--ct2-intra-threads", type=int, default=1,
                        help="ct2_intra_threads of serve.py and translate.py (CTranslate2 models on CPU)")
    parser.add_argument("--serve-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a serve.py key for the server only, e.g. max_wait_ms=20 (repeatable)")
    parser.add_argument("--request-timeout", type=float, default=60.0,
                        help="seconds before a request counts as an error")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds for serve.py to answer /health")
    parser.add_argument("--stop-grace", type=float, default=30.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--translate-timeout", type=float, default=1800.0, help="seconds for the translate.py run")
    parser.add_argument("--work-dir", default="/tmp/mt-serve-load",
                        help="the sentences, serve.log, translate.py's output and the record go here")
    parser.add_argument("--output", help="the JSON record (default: WORK_DIR/serve_load.json)")
    parser.add_argument("overrides", nargs="*", help="decode settings (decode.KEY=VALUE) for serve.py, "
                        "translate.py and the single-sentence timing alike")


def _read_sentences(args: argparse.Namespace) -> list[str]:
    path = Path(args.source_file)
    if not path.is_file():
        raise BenchmarkError(f"--source-file {path} does not exist; give a file with one sentence per line")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    # Empty lines are answered without decoding: they would flatter the figures.
    sentences = [line for line in lines if line][: args.sentences]
    if not sentences:
        raise BenchmarkError(f"--source-file {path} holds no sentence")
    return sentences


def identical_share(answers: dict[int, str], output: Sequence[str], work: Path, concurrency: int) -> float | None:
    """The share of the server's answers equal to translate.py's line for the same sentence; the lines
    that differ go to WORK/differ_C.tsv (index, server, translate.py) for a look."""
    pairs = [(i, answers[i], output[i]) for i in sorted(answers) if i < len(output)]
    differ = [row for row in pairs if row[1] != row[2]]
    path = work / f"differ_{concurrency}.tsv"
    path.unlink(missing_ok=True)
    if differ:
        path.write_text("".join(f"{i}\t{a}\t{b}\n" for i, a, b in differ), encoding="utf-8")
    return round(1 - len(differ) / len(pairs), 4) if pairs else None


def _level_line(level: dict) -> str:
    return (f"{level['concurrency']:>4} clients: {level['answered']:>6} answered, {level['errors']} errors, "
            f"{level['sentences_per_s']:>8.1f} sentences/s, p50/p95/p99 {level['p50_ms']}/{level['p95_ms']}/"
            f"{level['p99_ms']} ms, {level.get('requests_per_decoding_call')} requests per decoding call"
            + (f", {level['identical_to_translate_py']:.1%} of lines as translate.py's"
               if level.get("identical_to_translate_py") is not None else ""))


def _environment(model: Path, fmt: str) -> dict:
    """What the record needs to be compared later: machine, versions, commit, date."""
    import torch

    from benchmarks.hardware import device_name

    versions = {"torch": torch.__version__}
    with contextlib.suppress(ImportError):
        import ctranslate2

        versions["ctranslate2"] = ctranslate2.__version__
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {"benchmark": "serve", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": shlex.join(["python", *sys.argv]), "machine": machine_description(),
            "gpu": device_name(torch.device("cuda")) if torch.cuda.is_available() else None,
            "commit": commit.stdout.strip() or None, "versions": versions, "model": str(model), "format": fmt}


def _report(result: dict, bars: list[Bar]) -> None:
    log(f"serve.py under load: {result['model']} ({result['format']}), {result['sentences']} sentences, "
        f"{result['machine']}")
    for level in result["levels"]:
        log(_level_line(level))
    if result["soak"]:
        s = result["soak"]
        log(f"soak, {s['concurrency']} clients, {s['seconds']} s: {s['sentences_per_s']} sentences/s, {s['errors']} "
            f"errors; RSS {s['rss_first_mib']} -> {s['rss_last_mib']} MiB ({s['rss_growth']:+.1%})")
    b = result["translate_py"]
    log(f"translate.py, one batch: {b['sentences_per_s']} sentences/s decoding ({b['decode_s']} s), "
        f"{b['command_sentences_per_s']} with start-up and load ({b['command_s']} s)")
    log(f"single sentence, in process: median {result['single_sentence']['median_ms']} ms")
    for bar in bars:
        value = "not measured" if bar.value is None else f"{bar.value:.3g}"
        log(f"{'PASS' if bar.passed else 'FAIL'}  {bar.name}: {value} ({bar.rule})")


def run(args: argparse.Namespace) -> dict:
    """The whole run; the server is stopped before translate.py and the single-sentence timing, so
    that they do not share the cores with it."""
    from mt.data.formats import model_format

    try:
        import aiohttp  # noqa: F401  (the load clients)
    except ImportError:
        raise BenchmarkError('benchmark.py serve needs aiohttp for its load clients: pip install -e ".[dev]"') from None
    args.overrides = decode_overrides(args.overrides)
    for name in ("requests", "soak_concurrency", "single_sentences"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise BenchmarkError(f"--{name.replace('_', '-')}={getattr(args, name)} must be at least 1")
    for name in ("httpx", "httpcore"):  # one INFO line per request would bury the summary
        logging.getLogger(name).setLevel(logging.WARNING)
    model = Path(args.model).resolve()
    fmt = model_format(model)
    sentences = _read_sentences(args)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    source = work / "sentences.txt"
    source.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    result = {**_environment(model, fmt), "sentences": len(sentences), "source_file": args.source_file,
              "decode_overrides": args.overrides, "serve_options": args.serve_option, "levels_asked": args.levels}
    port = free_port()
    url = f"http://{HOST}:{port}"
    # SIGTERM to the benchmark unwinds like Ctrl-C, so the server is stopped on the way out.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        with running_server(serve_command(model, port, args), url, work, start_timeout_s=args.start_timeout,
                            grace_s=args.stop_grace) as proc:
            result["server_start_rss_mib"] = round((process_rss(proc.pid) or 0) / MIB, 1)
            loaded = asyncio.run(load_test(url, sentences, proc.pid, args))
        result["server_exit_status"] = proc.returncode
    finally:
        signal.signal(signal.SIGTERM, previous)
    answers = loaded.pop("answers")
    result.update(loaded)
    batch = translate_batch(model, fmt, source, work, args, len(sentences))
    output = batch.pop("output")
    result["translate_py"] = batch
    for level in result["levels"]:
        level["identical_to_translate_py"] = identical_share(answers[level["concurrency"]], output, work,
                                                             level["concurrency"])
    result["single_sentence"] = single_sentence_time(model, sentences, args)
    return _finish(result, args, work)


def _finish(result: dict, args: argparse.Namespace, work: Path) -> dict:
    """Bars, the table, and the JSON record on disk."""
    errors = sum(level["errors"] for level in result["levels"]) + (result["soak"] or {}).get("errors", 0)
    bars = check_bars(result["levels"], result["translate_py"]["sentences_per_s"],
                      result["single_sentence"]["median_ms"] / 1000, errors,
                      (result["soak"] or {}).get("rss_growth"))
    result["errors"] = errors
    result["bars"] = [asdict(bar) for bar in bars]
    result["all_pass"] = all(bar.passed for bar in bars)
    _report(result, bars)
    path = Path(args.output) if args.output else work / "serve_load.json"
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    log(f"record: {path}")
    return result
