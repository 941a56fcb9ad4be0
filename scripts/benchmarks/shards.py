"""``benchmark.py shards``: one file translated by 1 process x 1 thread, 1 process x T threads and
P torchrun processes x T/P threads (``translate.py`` under ``torch.distributed.run``, sharing the
chunks), with the same checkpoint and decoding settings.

Each configuration is a whole ``translate.py`` command, timed from start to exit (Python start, model
load, translation, merge), as a user would time it; the configurations alternate within each
repetition, so a change in the machine's load hits all of them alike, and the tables give medians.
The P processes must write the bytes of one process with as many threads each (T/P), and every
repetition the bytes of the first, or the benchmark fails; whether all outputs are identical
(``identical``: thread counts may change the arithmetic) is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import BenchmarkError, log, machine_description, run_measured
from mt.utils.cpu import usable_cores

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the mt checkpoint to translate with")
    parser.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "multi30k" / "train.en"),
                        help="text to translate (default: ../shared/data/multi30k/train.en)")
    parser.add_argument("--lines", type=int, default=20_000, help="translate the first N lines of --input")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="T, the threads of the multi-thread process and "
                        "the cores the processes share (default: the usable cores)")
    parser.add_argument("--processes", type=int, default=2, help="P, torchrun processes of T/P threads each")
    parser.add_argument("--chunk-lines", type=int, default=1000, help="translate.py chunk_lines (the unit the "
                        "processes share; the same in every configuration)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repetitions of the configurations")
    parser.add_argument("--work-dir", default="/tmp/mt-shards-benchmark", help="where input and outputs go")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="more translate.py overrides for every configuration (e.g. decode.precision=bf16)")


def _configurations(threads: int, processes: int) -> dict[str, tuple[int, int]]:
    """name -> (processes, threads per process)."""
    if threads % processes:
        raise BenchmarkError(f"--threads {threads} is not a multiple of --processes {processes}")
    return {"1x1": (1, 1), f"1x{threads}": (1, threads), f"{processes}x{threads // processes}":
            (processes, threads // processes)}


def _command(args: argparse.Namespace, source: Path, output: Path, processes: int, threads: int) -> list[str]:
    common = [str(REPO / "translate.py"), f"checkpoint={Path(args.checkpoint).resolve()}", f"input={source}",
              f"output={output}", f"chunk_lines={args.chunk_lines}", f"decode.beam_size={args.beam}",
              "decode.device=cpu", "progress=false", *args.override]
    if processes == 1:
        return [sys.executable, *common, f"threads={threads}"]
    # No threads=: each process takes its share of the cores by itself (usable cores / processes).
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *common]


def run(args: argparse.Namespace) -> dict:
    """Run every configuration ``--repeats`` times, alternating; check the bytes; report medians."""
    threads = args.threads or usable_cores()
    configs = _configurations(threads, args.processes)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "runs.jsonl").unlink(missing_ok=True)
    source = work / "input.txt"
    with open(args.input, encoding="utf-8") as f:
        lines = [line for _, line in zip(range(args.lines), f, strict=False)]
    if len(lines) < args.lines:
        raise BenchmarkError(f"{args.input} has {len(lines)} lines, fewer than --lines {args.lines}")
    source.write_text("".join(lines), encoding="utf-8")
    log(f"{args.lines} lines of {args.input}, beam {args.beam}, chunk_lines {args.chunk_lines}; "
        f"{machine_description()}")

    seconds: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    digests: dict[str, set[str]] = {name: set() for name in configs}
    for repeat in range(args.repeats):
        for name, (processes, per_process) in configs.items():
            output = work / f"{name}.{repeat}.txt"
            output.unlink(missing_ok=True)
            run_ = run_measured(_command(args, source, output, processes, per_process), cwd=work)
            if run_.returncode != 0:
                raise BenchmarkError(f"{name} failed (exit {run_.returncode}):\n{run_.stderr[-3000:]}")
            digest = hashlib.sha256(output.read_bytes()).hexdigest()
            seconds[name].append(run_.seconds)
            cpu[name].append(run_.cpu_s)
            digests[name].add(digest)
            with open(work / "runs.jsonl", "a", encoding="utf-8") as f:  # kept if the benchmark is stopped
                f.write(json.dumps({"config": name, "repeat": repeat, "seconds": run_.seconds, "cpu_s": run_.cpu_s,
                                    "sha256": digest, "lines": args.lines}) + "\n")
            log(f"[{time.strftime('%H:%M:%S')}] repeat {repeat + 1}/{args.repeats} {name}: {run_.seconds:.1f} s, "
                f"{args.lines / run_.seconds:.1f} lines/s, CPU {run_.cpu_s:.0f} s, sha256 {digest[:12]}")
            os.sync()
    unstable = [name for name, found in digests.items() if len(found) > 1]
    if unstable:
        raise BenchmarkError(f"repetitions of {', '.join(unstable)} wrote different outputs: {digests}")
    # The claim: processes sharing the chunks write what one process of as many threads each writes.
    # (Whether thread counts change the arithmetic is PyTorch's affair; it is reported, not required.)
    shared = next(name for name, (processes, _) in configs.items() if processes > 1)
    alone = f"1x{configs[shared][1]}"
    if digests[shared] != digests[alone]:
        raise BenchmarkError(f"{shared} wrote other bytes than {alone}: {digests}")
    identical = len(set().union(*digests.values())) == 1
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    base = medians["1x1"]
    result = {
        "benchmark": "shards", "machine": machine_description(), "lines": args.lines, "beam": args.beam,
        "chunk_lines": args.chunk_lines, "repeats": args.repeats, "identical": identical,
        "sha256": {name: next(iter(found)) for name, found in digests.items()},
        "configurations": {name: {
            "processes": configs[name][0], "threads_per_process": configs[name][1], "seconds": seconds[name],
            "median_seconds": medians[name], "lines_per_second": args.lines / medians[name],
            "speedup_over_1x1": base / medians[name], "median_cpu_seconds": statistics.median(cpu[name]),
        } for name in configs},
    }
    for name, r in result["configurations"].items():
        log(f"{name}: median {r['median_seconds']:.1f} s, {r['lines_per_second']:.1f} lines/s, "
            f"{r['speedup_over_1x1']:.2f}x over 1x1")
    return result
