"""Compare training runs: one table row per run directory.

    python scripts/compare_runs.py outputs/                          # every run below outputs/
    python scripts/compare_runs.py outputs/wmt14/a outputs/wmt14/b   # these two runs
    python scripts/compare_runs.py outputs/ --format csv --output runs.csv

A run directory is one that ``train.py`` wrote: it holds ``.hydra/`` or ``results.json``. Each row is
read from files only (no torch, no checkpoints), so it works on runs that are still training:

    experiment        ``name`` in results.json, else in .hydra/config.yaml
    overrides         .hydra/overrides.yaml (of the latest launch, which a resume rewrites), without
                      run bookkeeping (run_id, hydra.*, data.cache_dir, ...)
    steps             results.json ``steps``, else the last step logged to TensorBoard
    wall time         results.json ``train_time_s`` (training and validation, not the final test)
    stopped by        results.json ``stop_reason`` (max_steps, budget, max_time, ...), with ``(cut)``
                      when a decaying learning-rate schedule was cut off before its floor
    tgt tok/s         mean of the TensorBoard scalar train/tgt_tok_per_s (all GPUs together)
    best valid BLEU   max of the TensorBoard scalar valid/bleu
    test BLEU, chrF   results.json ``bleu`` and ``chrf`` (best.pt on the test split)

A value that cannot be found shows as ``-``. ``--curve`` prints, instead, one row per validation of
each run: its step, the minutes of training it took to get there (TensorBoard ``valid/minutes``,
validation and checkpoints included; runs from before that scalar show ``-``) and its valid BLEU and
chrF, i.e. quality against wall-clock time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from mt.utils.cli import run_main
from mt.utils.errors import MTError

MISSING = "-"
COLUMNS = {  # key -> header
    "run": "run",
    "experiment": "experiment",
    "overrides": "overrides",
    "steps": "steps",
    "wall_time": "wall time",
    "stopped_by": "stopped by",
    "tok_per_s": "tgt tok/s",
    "best_valid_bleu": "best valid BLEU",
    "test_bleu": "test BLEU",
    "test_chrf": "test chrF",
}
NUMERIC = {"steps", "wall_time", "tok_per_s", "best_valid_bleu", "test_bleu", "test_chrf"}
# Overrides that say where or how a run was started, not what was trained.
BOOKKEEPING_KEYS = {"run_id", "run_dir", "work_dir", "trainer.progress", "data.cache_dir", "data.num_workers"}
CURVE_COLUMNS = {"run": "run", "step": "step", "minutes": "minutes", "bleu": "valid BLEU", "chrf": "valid chrF"}
CURVE_NUMERIC = {"step", "minutes", "bleu", "chrf"}
TOK_PER_S_TAG = "train/tgt_tok_per_s"
VALID_BLEU_TAG = "valid/bleu"


# ---------------------------------------------------------------------------------------- finding runs


def is_run_dir(path: Path) -> bool:
    """True when ``path`` looks like a train.py run directory (``.hydra/`` or ``results.json``)."""
    return (path / ".hydra").is_dir() or (path / "results.json").is_file()


def find_run_dirs(path: Path) -> list[Path]:
    """``path`` itself if it is a run directory, else every run directory below it, sorted.

    Hidden directories are skipped, and the search does not descend into a run directory.
    Raises MTError when ``path`` is missing or holds no run directory.
    """
    if not path.exists():
        raise MTError(f"{path} does not exist; pass a run directory (outputs/<name>/<run_id>) or a "
                      f"directory above runs (e.g. outputs/)")
    if not path.is_dir():
        raise MTError(f"{path} is a file, not a run directory; pass outputs/<name>/<run_id> or outputs/")
    if is_run_dir(path):
        return [path]
    found = []
    for root, dirs, _files in os.walk(path):
        here = Path(root)
        if here != path and is_run_dir(here):
            found.append(here)
            dirs.clear()
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    if not found:
        raise MTError(f"{path} is not a run directory (no .hydra/ or results.json) and holds none below it")
    return sorted(found)


# ---------------------------------------------------------------------------------------- reading runs


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def read_results(run_dir: Path) -> dict[str, Any]:
    """Contents of ``results.json``; empty when the file is missing or unreadable (with a warning)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        _warn(f"{path} is not readable JSON ({e}); its columns show {MISSING}")
        return {}
    return data if isinstance(data, dict) else {}


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        _warn(f"{path} is not readable YAML ({str(e).splitlines()[0]}); its columns show {MISSING}")
        return None


def read_overrides(run_dir: Path) -> list[str] | None:
    """The command-line overrides Hydra recorded in ``.hydra/overrides.yaml``, or None."""
    data = _read_yaml(run_dir / ".hydra" / "overrides.yaml")
    return [str(o) for o in data] if isinstance(data, list) else None


def read_config_name(run_dir: Path) -> str | None:
    """The experiment ``name`` from ``.hydra/config.yaml``, or None."""
    data = _read_yaml(run_dir / ".hydra" / "config.yaml")
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name is not None else None


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every TensorBoard scalar under ``<run_dir>/tensorboard`` as ``tag -> [(step, value), ...]``.

    Only scalars are kept (other summaries are parsed but dropped), so large runs load quickly.
    Missing or damaged event files give an empty (or partial) result, never an exception.
    """
    log_dir = run_dir / "tensorboard"
    if not log_dir.is_dir():
        return {}
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.TENSORS: 1, ea.IMAGES: 1, ea.AUDIO: 1, ea.HISTOGRAMS: 1,
                ea.COMPRESSED_HISTOGRAMS: 1}  # 0 keeps every scalar; 1 keeps one of the rest
    acc = ea.EventAccumulator(str(log_dir), size_guidance=guidance)
    try:
        acc.Reload()
        return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    except Exception as e:  # noqa: BLE001 - a report must not die on one truncated event file
        _warn(f"could not read TensorBoard events in {log_dir} ({type(e).__name__}: {e}); "
              f"its columns show {MISSING}")
        return {}


# ---------------------------------------------------------------------------------------- formatting


def format_duration(seconds: float) -> str:
    """``H:MM:SS``, e.g. 3723.4 -> ``1:02:03``."""
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _fixed(value: Any, digits: int) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:.{digits}f}"


def key_overrides(overrides: Sequence[str], experiment: str | None) -> str:
    """The overrides that change what is trained, space-separated.

    Drops run bookkeeping (``run_id``, ``hydra.*``, ``data.cache_dir``, ...) and ``experiment=X`` when X is the
    experiment column already.
    """
    kept = []
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key in BOOKKEEPING_KEYS or key.startswith("hydra."):
            continue
        if key == "experiment" and value == experiment:
            continue
        kept.append(override)
    return " ".join(kept) if kept else MISSING


def _last_step(scalars: dict[str, list[tuple[int, float]]]) -> int | None:
    steps = [step for events in scalars.values() for step, _ in events]
    return max(steps) if steps else None


def _stopped_by(results: dict[str, Any]) -> str:
    reason = results.get("stop_reason")
    if not reason:
        return MISSING
    return f"{reason} (cut)" if results.get("schedule_cut_short") is True else str(reason)


def summarize_run(run_dir: Path, label: str | None = None) -> dict[str, str]:
    """One table row (column key -> cell text) for ``run_dir``; missing values are ``-``."""
    results = read_results(run_dir)
    scalars = read_scalars(run_dir)
    experiment = results.get("name") or read_config_name(run_dir)
    overrides = read_overrides(run_dir)

    steps = _number(results.get("steps"))
    if steps is None:
        steps = _last_step(scalars)
    wall = _number(results.get("train_time_s"))
    tok_per_s = [v for _, v in scalars.get(TOK_PER_S_TAG, []) if math.isfinite(v)]
    valid_bleu = [v for _, v in scalars.get(VALID_BLEU_TAG, []) if math.isfinite(v)]
    best_valid = max(valid_bleu) if valid_bleu else None
    if best_valid is None and results.get("best_metric") == "bleu":
        best_valid = results.get("best_valid")

    return {
        "run": label if label is not None else str(run_dir),
        "experiment": str(experiment) if experiment else MISSING,
        "overrides": MISSING if overrides is None else key_overrides(overrides, experiment),
        "steps": MISSING if steps is None else str(int(steps)),
        "wall_time": MISSING if wall is None else format_duration(wall),
        "stopped_by": _stopped_by(results),
        "tok_per_s": _fixed(sum(tok_per_s) / len(tok_per_s), 0) if tok_per_s else MISSING,
        "best_valid_bleu": _fixed(best_valid, 2),
        "test_bleu": _fixed(results.get("bleu"), 2),
        "test_chrf": _fixed(results.get("chrf"), 2),
    }


def curve_rows(run_dir: Path, label: str | None = None) -> list[dict[str, str]]:
    """One row per validation of ``run_dir``: step, training minutes, valid BLEU and chrF."""
    scalars = read_scalars(run_dir)
    by_step = {tag: dict(scalars.get(f"valid/{tag}", [])) for tag in ("minutes", "bleu", "chrf")}
    steps = sorted(set(by_step["bleu"]) | set(by_step["minutes"]))
    return [{"run": label if label is not None else str(run_dir), "step": str(step),
             "minutes": _fixed(by_step["minutes"].get(step), 1), "bleu": _fixed(by_step["bleu"].get(step), 2),
             "chrf": _fixed(by_step["chrf"].get(step), 2)} for step in steps]


def to_markdown(rows: Iterable[dict[str, str]], columns: dict[str, str] = COLUMNS,
                numeric_keys: set[str] = NUMERIC) -> str:
    """A GitHub-flavoured Markdown table, columns padded, numbers right-aligned."""
    def clean(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    table = [list(columns.values())] + [[clean(row[key]) for key in columns] for row in rows]
    widths = [max(3, *(len(line[i]) for line in table)) for i in range(len(columns))]
    numeric = [key in numeric_keys for key in columns]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True))
        return "| " + " | ".join(padded) + " |"

    dashes = ("-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric, strict=True))
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(table[0]), rule, *(line(cells) for cells in table[1:])]) + "\n"


def to_csv(rows: Iterable[dict[str, str]], columns: dict[str, str] = COLUMNS) -> str:
    """CSV with the same header names and cells as the Markdown table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns.values())
    for row in rows:
        writer.writerow(row[key] for key in columns)
    return out.getvalue()


# ---------------------------------------------------------------------------------------- command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="compare_runs.py",
        description="Compare train.py runs in one table: experiment, key overrides, steps, wall time, "
        "target tokens/s, best valid BLEU, test BLEU and chrF.",
        epilog="Sources: <run>/results.json, <run>/.hydra/{overrides,config}.yaml and the TensorBoard "
        "scalars in <run>/tensorboard (train/tgt_tok_per_s, valid/bleu). Values that cannot be "
        f"found show as '{MISSING}'. Example: python scripts/compare_runs.py outputs/wmt14",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run directory (outputs/<name>/<run_id>) or a directory above runs, "
                        "e.g. outputs/, searched for directories holding .hydra/ or results.json")
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown",
                        help="table format (default: markdown)")
    parser.add_argument("--output", metavar="FILE", help="write the table to FILE instead of stdout")
    parser.add_argument("--curve", action="store_true",
                        help="one row per validation instead: step, training minutes, valid BLEU and chrF")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: print (or write) the comparison table; bad paths exit 2 with one line."""
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def run() -> None:
        run_dirs: list[Path] = []
        for given in args.runs:
            run_dirs += [d for d in find_run_dirs(Path(given)) if d not in run_dirs]
        if args.curve:
            rows = [row for d in run_dirs for row in curve_rows(d)]
            columns, numeric = CURVE_COLUMNS, CURVE_NUMERIC
        else:
            rows, columns, numeric = [summarize_run(d) for d in run_dirs], COLUMNS, NUMERIC
        table = to_csv(rows, columns) if args.format == "csv" else to_markdown(rows, columns, numeric)
        if args.output:
            try:
                Path(args.output).write_text(table, encoding="utf-8")
            except OSError as e:
                raise MTError(f"cannot write --output {args.output}: {e.strerror}") from None
        else:
            sys.stdout.write(table)

    run_main(run)


if __name__ == "__main__":
    main()
