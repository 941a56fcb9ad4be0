"""Run a recipe sweep stage by stage and choose on the VALID split only.

    python scripts/sweep.py scripts/sweeps/multi30k_budget.yaml data.local_dir=/path/to/multi30k
    python scripts/sweep.py scripts/sweeps/multi30k_budget.yaml --dry-run     # the commands, no runs

A sweep file names an experiment, the overrides every run gets (``base``), and stages. A stage varies
one thing; each of its runs starts from the best settings found so far (coordinate search), and the
stage's best run by best valid BLEU becomes the start of the next stage. The best so far takes part in
every stage without being rerun, so a stage only moves when a variant beats it on valid. Stages
that only change decoding (``decode: true``, after the training stages) train nothing: they decode the
best run's ``best.pt`` on the valid split with its recipe's decode settings plus each variant's
``decode.*`` overrides; a variant with ``trainer.average_last=N`` decodes the average of that run's
last N step checkpoints instead. The first decode stage also decodes the best run unchanged
(``as-trained``): validation during training decodes in the training precision, evaluate.py in
``decode.precision``, so a variant is compared with the same decoder, not with the training log.

Runs go to ``outputs/sweeps/<sweep_id>/<stage>-<run>`` (``python scripts/compare_runs.py
outputs/sweeps/<sweep_id>`` lists them). A run whose directory already holds results.json is not run
again, and an unfinished one resumes, so the same command continues an interrupted sweep. The table
of every run with its valid score, and the choice, is written to ``outputs/sweeps/<sweep_id>/sweep.md``.
The test split is never decoded: score the chosen recipe on it once, afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from compare_runs import MISSING, read_results, read_scalars

from mt.utils.cli import run_main
from mt.utils.errors import MTError

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "as-trained"
"""The first decode-only stage's extra run: the best run decoded by evaluate.py with no change."""
RECIPE_DECODE_KEYS = ("beam_size", "length_penalty", "max_len_a", "max_len_b", "min_len", "no_repeat_ngram_size")


@dataclass
class Run:
    """One point of the sweep: its overrides on top of the base, and what it scored on valid."""

    stage: str
    name: str
    overrides: list[str]
    run_dir: Path
    decode_only: bool = False
    valid_bleu: float | None = None
    info: dict = field(default_factory=dict)


def load_sweep(path: Path) -> dict:
    """The sweep file, checked: ``experiment``, ``sweep_id``, ``base`` and ``stages``."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MTError(f"cannot read sweep file {path}: {e}") from None
    for key in ("experiment", "sweep_id", "stages"):
        if not isinstance(spec, dict) or key not in spec:
            raise MTError(f"{path}: missing key {key!r} (see scripts/sweeps/multi30k_budget.yaml)")
    decoding = False
    for stage in spec["stages"]:
        if not stage.get("name") or not isinstance(stage.get("runs"), dict) or not stage["runs"]:
            raise MTError(f"{path}: every stage needs a name and a mapping of runs, got {stage!r}")
        if decoding and not stage.get("decode", False):
            raise MTError(f"{path}: stage {stage['name']!r} trains after a decode-only stage; put the "
                          f"decode-only stages last (their scores come from another decoder)")
        decoding = decoding or bool(stage.get("decode", False))
    return spec


def merge(overrides: list[str], changes: list[str]) -> list[str]:
    """``overrides`` with ``changes`` applied: a key set again takes the new value, in place."""
    merged = {o.partition("=")[0]: o for o in overrides}
    for change in changes:
        merged[change.partition("=")[0]] = change
    return list(merged.values())


def train_command(spec: dict, run: Run, extra: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), f"experiment={spec['experiment']}",
            *merge(merge(spec.get("base", []), run.overrides), extra), f"hydra.run.dir={run.run_dir}"]


def averaged(run: Run) -> int:
    """N of a ``trainer.average_last=N`` override (0 without one): decode the average of N checkpoints."""
    values = [o.partition("=")[2] for o in run.overrides if o.startswith("trainer.average_last=")]
    return int(values[-1]) if values and int(values[-1]) > 1 else 0


def trained_decode(run_dir: Path) -> list[str]:
    """The decode settings a trained run validated with (its ``.hydra/config.yaml``), as overrides,
    so that evaluate.py starts from the recipe's decoding rather than from its own defaults."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return []
    decode = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("decode") or {}
    return [f"decode.{key}={decode[key]}" for key in RECIPE_DECODE_KEYS if key in decode]


def decode_command(run: Run, source: Run, valid: dict, extra: list[str]) -> list[str]:
    changes = [o for o in merge(run.overrides, extra) if o.startswith("decode.")]
    decode = merge(trained_decode(source.run_dir), changes)
    n = averaged(run)
    checkpoint = source.run_dir / "checkpoints" / (f"averaged_last{n}.pt" if n else "best.pt")
    return [sys.executable, str(ROOT / "evaluate.py"), f"checkpoint={checkpoint}", f"src={valid['src']}",
            f"ref={valid['ref']}", f"output_dir={run.run_dir}", *decode, "progress=false"]


def valid_score(run: Run) -> float | None:
    """Best valid BLEU of a trained run (its best.pt; TensorBoard ``valid/bleu``), or the BLEU of a
    decode-only run's report."""
    if run.decode_only:
        reports = sorted(run.run_dir.glob("*.json"))
        return json.loads(reports[0].read_text())["bleu"] if reports else None
    bleu = [v for _, v in read_scalars(run.run_dir).get("valid/bleu", [])]
    return max(bleu) if bleu else None


def execute(spec: dict, run: Run, best: Run | None, extra: list[str], valid: dict, dry_run: bool) -> None:
    """Train (or decode) ``run`` unless it has finished before; then read its valid score."""
    if run.decode_only:
        if best is None:
            raise MTError(f"stage {run.stage}: a decode-only stage needs a trained run before it")
        n = averaged(run)
        if n:
            output = best.run_dir / "checkpoints" / f"averaged_last{n}.pt"
            command = [sys.executable, str(ROOT / "scripts" / "average_checkpoints.py"),
                       str(best.run_dir / "checkpoints"), "--last", str(n), "--output", str(output)]
            _call(command, dry_run, skip=output.is_file())
        done = any(run.run_dir.glob("*.json"))
        _call(decode_command(run, best, valid, extra), dry_run, skip=done)
    else:
        _call(train_command(spec, run, extra), dry_run, skip=(run.run_dir / "results.json").is_file())
        run.info = read_results(run.run_dir)
    run.valid_bleu = None if dry_run else valid_score(run)


def _call(command: list[str], dry_run: bool, skip: bool) -> None:
    print(("# done: " if skip else "") + " ".join(command), flush=True)
    if dry_run or skip:
        return
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise MTError(f"this command failed; fix it and rerun the sweep (finished runs are kept):\n"
                      f"{' '.join(command)}")


def run_sweep(spec: dict, out_dir: Path, extra: list[str], valid: dict, dry_run: bool = False,
              runner=execute) -> tuple[list[Run], Run | None]:
    """Every stage in order; returns all runs and the best one (by valid BLEU)."""
    runs: list[Run] = []
    best: Run | None = None
    decoded = False  # whether best's score comes from evaluate.py (a decode-only stage)
    for stage in spec["stages"]:
        decode_only = bool(stage.get("decode", False))
        start = [] if best is None else best.overrides
        variants, incumbent = dict(stage["runs"]), best
        if decode_only and best is not None and not decoded:
            variants, incumbent = {REFERENCE: [], **variants}, None  # compare decoder with decoder
        for name, changes in variants.items():
            overrides = merge(start, list(changes or []))
            if not decode_only and best is not None and not best.decode_only and overrides == best.overrides:
                continue  # the best so far, already run: it competes as it is
            run = Run(stage["name"], name, overrides, out_dir / f"{stage['name']}-{name}",
                      decode_only=decode_only)
            runner(spec, run, best, extra, valid, dry_run)
            runs.append(run)
        contenders = [r for r in runs if r.stage == stage["name"]] + ([incumbent] if incumbent else [])
        scored = [r for r in contenders if r.valid_bleu is not None]
        if scored:
            winner = max(scored, key=lambda r: r.valid_bleu)
            if decode_only and winner is not best:  # carry the decode settings, keep the trained run
                best = Run(winner.stage, winner.name, winner.overrides, best.run_dir, valid_bleu=winner.valid_bleu)
            else:
                best = winner
        elif best is None and contenders:
            best = contenders[0]  # dry run: carry the first variant so later stages have a start
        decoded = decoded or decode_only
    return runs, best


def table(runs: list[Run], best: Run | None, base: list[str]) -> str:
    """Markdown: one row per run with its overrides beyond the base, updates, minutes and valid BLEU."""
    lines = ["| stage | run | overrides (beyond the base) | updates | train min | stopped by | valid BLEU |",
             "|---|---|---|---:|---:|---|---:|"]
    for r in runs:
        extra = " ".join(o for o in r.overrides if o not in base) or MISSING
        steps = r.info.get("steps", MISSING)
        minutes = f"{r.info['train_time_s'] / 60:.1f}" if "train_time_s" in r.info else MISSING
        bleu = MISSING if r.valid_bleu is None else f"{r.valid_bleu:.2f}"
        mark = " **(chosen)**" if best is not None and r.name == best.name and r.stage == best.stage else ""
        lines.append(f"| {r.stage} | {r.name}{mark} | {extra} | {steps} | {minutes} | "
                     f"{r.info.get('stop_reason', MISSING)} | {bleu} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a recipe sweep stage by stage, choosing on valid.")
    parser.add_argument("sweep", type=Path, help="sweep file, e.g. scripts/sweeps/multi30k_budget.yaml")
    parser.add_argument("overrides", nargs="*", help="overrides for every run, e.g. data.local_dir=/data/m30k")
    parser.add_argument("--valid-src", default="data/multi30k/val.en", help="valid source for decode stages")
    parser.add_argument("--valid-ref", default="data/multi30k/val.de", help="valid reference for decode stages")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)

    def job() -> None:
        spec = load_sweep(args.sweep)
        out_dir = ROOT / "outputs" / "sweeps" / spec["sweep_id"]
        valid = {"src": Path(args.valid_src).resolve(), "ref": Path(args.valid_ref).resolve()}
        runs, best = run_sweep(spec, out_dir, args.overrides, valid, args.dry_run)
        text = table(runs, best, spec.get("base", []))
        print(text)
        if best is not None and not args.dry_run:
            out_dir.mkdir(parents=True, exist_ok=True)
            chosen = " ".join(best.overrides) or "(the base)"
            (out_dir / "sweep.md").write_text(f"{text}\nchosen on valid BLEU: {chosen}\n", encoding="utf-8")
            print(f"chosen on valid BLEU {best.valid_bleu:.2f}: {chosen}\nwrote {out_dir / 'sweep.md'}")

    run_main(job)


if __name__ == "__main__":
    main(sys.argv[1:])
