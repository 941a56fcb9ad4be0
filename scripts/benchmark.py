"""Benchmarks of the pipeline; each prints a short summary on stderr and ONE JSON line last on stdout.

    python scripts/benchmark.py data --pairs 300000                 # prepare a WMT-like corpus
    python scripts/benchmark.py batches --data ../shared/data/multi30k --max-tokens 4096
    python scripts/benchmark.py train --data ../shared/data/multi30k [--loop plain]   # M30K-small on CPU
    python scripts/benchmark.py train --synthetic --model transformer_big --device cuda --precision bf16
    python scripts/benchmark.py decode --synthetic --device cuda --precision bf16      # 3,003 sentences
    python scripts/benchmark.py shards --checkpoint best.pt --lines 20000   # 1x1, 1x2 threads, torchrun 2x1
    python scripts/benchmark.py serve --model best.pt        # serve.py under load at 1-64 clients, a soak
    python scripts/benchmark.py BENCHMARK --help                    # the options of one benchmark

A benchmark lives in ``scripts/benchmarks/<module>.py`` and is imported only when it is chosen, so a
missing or broken one does not stop the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes `benchmarks` and `prepare_data` importable


@dataclass(frozen=True)
class Benchmark:
    """Where a subcommand is implemented: a module and its two entry points."""

    module: str
    help: str
    add_arguments: str = "add_arguments"
    run: str = "run"


BENCHMARKS = {
    "data": Benchmark("benchmarks.data", "time and memory of prepare_data.py on a synthetic WMT-sized corpus"),
    "batches": Benchmark("benchmarks.data", "share of real tokens in token-budget batches of a local corpus",
                         "add_batches_arguments", "run_batches"),
    "train": Benchmark("benchmarks.train", "training throughput and MFU (M30K-small, or WMT shapes with "
                       "--synthetic), mt's loop or the plain yardstick"),
    "decode": Benchmark("benchmarks.decode", "beam-search throughput of a checkpoint, or of a WMT-shaped model"),
    "shards": Benchmark("benchmarks.shards", "translate.py on one file: 1 process x 1 thread, 1 x T threads, "
                        "P torchrun processes sharing the chunks; identical bytes and the speed-up"),
    "serve": Benchmark("benchmarks.serve_load", "serve.py under a bounded load on loopback (1-64 clients, a "
                       "soak with RSS) against translate.py in one batch; the issue's bars"),
}


def load(name: str) -> ModuleType:
    """Import the module of benchmark ``name``; a missing one is a user-facing error."""
    from mt.utils.errors import MTError

    spec = BENCHMARKS[name]
    try:
        return importlib.import_module(spec.module)
    except ModuleNotFoundError as e:
        if e.name != spec.module:
            raise
        path = Path(__file__).resolve().parent / (spec.module.replace(".", "/") + ".py")
        raise MTError(f"the {name} benchmark is not available: {path} does not exist") from None


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    """The parser; only the chosen benchmark's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        description="Benchmarks of the mt pipeline. Each prints a summary on stderr and one JSON line, "
        "the last line of stdout.",
        epilog="Run `benchmark.py BENCHMARK --help` for the options of one benchmark.",
    )
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, spec in BENCHMARKS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        if name == chosen:
            getattr(load(name), spec.add_arguments)(p)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point: parse, run the chosen benchmark, print its result as the last line of stdout."""
    from mt.utils.cli import run_main

    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)

    def run() -> None:
        from benchmarks.common import emit_result

        args = build_parser(chosen if chosen in BENCHMARKS else None).parse_args(argv)
        # Plain logging, not mt.utils.logging: that imports torch (seconds), which data benchmarks never need.
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, datefmt="%H:%M:%S",
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        spec = BENCHMARKS[args.benchmark]
        emit_result(getattr(load(args.benchmark), spec.run)(args))

    run_main(run)


if __name__ == "__main__":
    main()
