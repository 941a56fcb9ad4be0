"""Count translations that fall into character loops ("Die Wönnnnnnnnnt", "GEEEEEE", "Tamaaaaaaa").

    python scripts/repetitions.py --src data/multi30k/val.en val.hyp.de
    python scripts/repetitions.py --src data/multi30k/val.en a.hyp b.hyp --show 5 --min-run 4

A line counts when it repeats one character ``--min-run`` (default 5) or more times in a row while
its source has no such run of that character (so copying a source's ``!!!!!`` is not a loop); runs of
whitespace are ignored. One row per hypothesis file: lines, loops, their share, and the first
``--show`` looping lines with their line numbers. ``evaluate.py`` reports the same count
(``character_loops`` in its JSON report), and train.py puts it in results.json.
"""

from __future__ import annotations

import argparse
import sys

from mt.eval.metrics import character_loop_lines
from mt.utils.cli import run_main
from mt.utils.text import read_text_lines


def count_loops(src_path: str, hyp_path: str, min_run: int) -> tuple[int, list[tuple[int, str]]]:
    """Number of lines in ``hyp_path`` and its looping lines as (1-based line number, text)."""
    srcs, hyps = read_text_lines(src_path), read_text_lines(hyp_path)
    return len(hyps), [(i + 1, hyps[i]) for i in character_loop_lines(srcs, hyps, min_run)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Count translations with character loops that the "
                                                 "source does not have.")
    parser.add_argument("hyps", nargs="+", help="hypothesis files, one translation per line")
    parser.add_argument("--src", required=True, help="the source file the hypotheses translate")
    parser.add_argument("--min-run", type=int, default=5, help="shortest run that counts (default 5)")
    parser.add_argument("--show", type=int, default=3, help="looping lines to print per file (default 3)")
    args = parser.parse_args(argv)
    if args.min_run < 2:
        parser.error("--min-run must be at least 2")

    def job() -> None:
        print(f"{'hypotheses':<48} {'lines':>6} {'loops':>6} {'share':>7}")
        for path in args.hyps:
            total, loops = count_loops(args.src, path, args.min_run)
            print(f"{path:<48} {total:>6} {len(loops):>6} {100 * len(loops) / max(total, 1):>6.2f}%")
            for number, text in loops[:args.show]:
                print(f"    line {number}: {text}")

    run_main(job)


if __name__ == "__main__":
    main(sys.argv[1:])
