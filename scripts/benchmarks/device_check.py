"""The GPU check behind ``scripts/device_check.sh``: every GPU figure the project reports, in one command.

Phases, most valuable first, each a subprocess with its own time limit (a hang costs that phase, not
the whole check), all under one budget (480 s by default: one device call of 10 minutes, machine start
included):

1. ``prepare``: the synthetic WMT14-like corpus, SentencePiece 32k and binarized (no download);
2. ``train``: Transformer-big, then -base, each bf16 then tf32 with mt's loop (the bf16/tf32 ratio from
   runs made one after the other), then the same with the plain loop (mt/plain); ``--precisions``
   adds fp16;
3. ``decode``: the 3,003 test sentences, beam 4, Transformer-base (random weights, output length
   fixed at the references' ratio: see ``benchmarks/decode.py``), bf16 and fp32;
4. ``tests_gpu``: ``pytest tests/gpu``;
5. ``compile``: Transformer-big, bf16, mt's loop with ``trainer.compile=true`` (last: the longest and
   the most likely to need its whole limit).

Each phase has planned seconds (an estimate for one H100/H200) and a limit. The plan is printed first
(``--smoke`` prints the full check's plan too); a phase planned for more than the budget has left is
skipped with a line saying so, and a phase that runs is stopped when the budget ends, so the check never
runs past it. One JSON line per figure goes to stdout (and to ``$OUT/device_check.jsonl`` when ``OUT``
is set), with ``planned_s`` beside the measured ``wall_s``; the phases' own logs go to stderr (and
``$OUT/device_check.log``). A phase that fails, runs out of time or is skipped still gets its line,
with ``status`` saying so. ``--smoke`` runs the same phases on the CPU with a tiny model and corpus,
in a minute or so; CI runs it so this script cannot rot between runs on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
REPO = SCRIPTS.parent
BENCHMARK = [sys.executable, str(SCRIPTS / "benchmark.py")]

PROGRESS = re.compile(r"^[.FEsxX]+( +\[ *\d+%\])?$")
"""A progress line of ``pytest -q``: one character per test."""

TINY_MODEL = ["model.encoder_layers=1", "model.decoder_layers=1", "model.d_model=32", "model.n_heads=2",
              "model.ffn_dim=64"]


PRECISIONS = ("bf16", "tf32", "fp16")
BUDGET_S = 480.0
"""The full check's default budget: one device call of at most 10 minutes, machine start included."""


@dataclass
class Plan:
    """What to run, and per phase kind the seconds it is expected to take (``planned``, for the budget)
    and the most it may take (``limits``)."""

    device: str
    budget_s: float
    pairs: int
    vocab_size: int
    train_seconds: float
    warmup_steps: int
    compile_warmup_steps: int
    max_tokens: dict[str, int]
    decode_sentences: int | None
    planned: dict[str, float]
    """Keys: environment (the first line: a Python start, torch and CUDA), prepare, train <model>,
    decode, tests_gpu, compile."""
    limits: dict[str, float]
    models: tuple[str, ...] = ("transformer_big", "transformer_base")
    """Most valuable first: the WMT figures the papers' budgets are projected from are big's."""
    precisions: tuple[str, ...] = ("bf16", "tf32")
    extra: list[str] = field(default_factory=list)
    """Hydra overrides for every train/decode run (the tiny model of --smoke)."""
    env: dict[str, str] = field(default_factory=dict)


def make_plan(args: argparse.Namespace) -> Plan:
    precisions = tuple(args.precisions.split(",")) if args.precisions else ("bf16", "tf32")
    if args.smoke:
        # Generous limits: the smoke checks that the code runs, and CI machines are often busy.
        return Plan(device="cpu", budget_s=args.budget or 900, pairs=2000, vocab_size=4000,
                    train_seconds=args.seconds or 0.5, warmup_steps=1, compile_warmup_steps=1,
                    max_tokens={"transformer_base": 1024, "transformer_big": 1024}, decode_sentences=8,
                    planned={"environment": 5, "prepare": 30, "train transformer_big": 10, "decode": 10,
                             "tests_gpu": 20, "compile": 10},
                    limits={"prepare": 150, "train": 120, "compile": 120, "decode": 120, "tests_gpu": 120},
                    # One model: big's recipe has every dropout of base and attention dropout besides.
                    models=("transformer_big",), precisions=precisions, extra=TINY_MODEL,
                    # Inductor would compile C++ for minutes on a small CPU: the compile phase runs the
                    # same code with torch.compile's wrapper but without compiling.
                    env={"TORCH_COMPILE_DISABLE": "1"})
    # Estimates for one H100/H200 with 16 CPU cores, each process's start, model build and CUDA warm-up
    # included (about 10 s a training run besides its measured seconds); the JSON lines' wall_s are
    # what to correct them with. Together they fit the default budget (test_benchmark_train checks it).
    seconds = args.seconds or 6.0
    return Plan(device="cuda", budget_s=args.budget or BUDGET_S, pairs=200_000, vocab_size=32000,
                train_seconds=seconds, warmup_steps=10, compile_warmup_steps=20,
                max_tokens={"transformer_base": 8192, "transformer_big": 8192}, decode_sentences=None,
                planned={"environment": 10, "prepare": 50, "train transformer_big": 12 + seconds,
                         "train transformer_base": 9 + seconds, "decode": 25, "tests_gpu": 110,
                         "compile": 120},
                limits={"prepare": 150, "train": 60, "compile": 180, "decode": 90, "tests_gpu": 180},
                precisions=precisions)


@dataclass
class Phase:
    """One subprocess of the check and the figure it reports."""

    name: str
    cmd: list[str]
    planned_s: float
    """Expected seconds: the phase starts only if the budget has this much left."""
    limit_s: float
    labels: dict = field(default_factory=dict)
    """Fields that identify the figure even when the run fails (model, precision, loop)."""

    @property
    def title(self) -> str:
        return " ".join([self.name, *(str(v) for k, v in self.labels.items() if k != "compile")])


def phases(plan: Plan, cache: Path, tests: bool = True) -> list[Phase]:
    """Every phase of the check, most valuable first."""
    # One CPU thread in the smoke: tiny ops gain nothing from more, and on a busy machine OpenMP
    # threads waiting for each other made it 20x slower.
    common = ["--device", plan.device, "--threads", str(os.cpu_count() if plan.device == "cuda" else 1),
              "--cache-dir", str(cache), "--pairs", str(plan.pairs), "--vocab-size", str(plan.vocab_size)]
    # Smoke: a small GEMM, since bf16 products are emulated (slow) on most CPUs.
    peak = ["--peak-seconds", "1"] if plan.device == "cuda" else ["--peak-seconds", "0.1", "--peak-shape", "256,256,256"]
    train = [*BENCHMARK, "train", "--synthetic", *common, "--seconds", str(plan.train_seconds), *peak]
    planned, limits = plan.planned, plan.limits
    out = [Phase("prepare", [*train, "--model", "transformer_base", "--prepare-only", *plan.extra],
                 planned["prepare"], limits["prepare"])]
    for model in plan.models:
        for loop in ("mt", "plain"):
            for precision in plan.precisions:
                out.append(Phase("train", [*train, "--model", model, "--precision", precision, "--loop", loop,
                                           "--warmup-steps", str(plan.warmup_steps),
                                           "--max-tokens", str(plan.max_tokens[model]), *plan.extra],
                                 planned[f"train {model}"], limits["train"],
                                 {"model": model, "precision": precision, "loop": loop}))
    sentences = [] if plan.decode_sentences is None else ["--sentences", str(plan.decode_sentences),
                                                          "--warmup-sentences", "2"]
    for precision in ("bf16", "fp32"):
        out.append(Phase("decode", [*BENCHMARK, "decode", "--synthetic", *common, "--model", "transformer_base",
                                    "--precision", precision, "--beam", "4", "--repeats", "1", *sentences,
                                    *plan.extra],
                         planned["decode"], limits["decode"],
                         {"model": "transformer_base", "precision": precision}))
    if tests:
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gpu"]
        out.append(Phase("tests_gpu", pytest, planned["tests_gpu"], limits["tests_gpu"]))
    big = "transformer_big"
    out.append(Phase("compile", [*train, "--model", big, "--precision", "bf16", "--loop", "mt", "--compile",
                                 "--warmup-steps", str(plan.compile_warmup_steps),
                                 "--max-tokens", str(plan.max_tokens[big]), *plan.extra],
                     planned["compile"], limits["compile"],
                     {"model": big, "precision": "bf16", "loop": "mt", "compile": True}))
    return out


def plan_lines(plan: Plan, planned_phases: list[Phase], heading: str) -> list[str]:
    """The plan as text: each phase's planned seconds and limit, and the total against the budget."""
    total, pad = planned_total(plan, planned_phases), " " * 16
    lines = [f"{heading} (budget {plan.budget_s:.0f} s; planned seconds and limit of each phase, in order):",
             f"  {plan.planned['environment']:5.0f} s{pad}environment"]
    lines += [f"  {p.planned_s:5.0f} s  limit {p.limit_s:4.0f} s  {p.title}" for p in planned_phases]
    lines.append(f"  {total:5.0f} s{pad}planned in all, of {plan.budget_s:.0f} s"
                 + (f": {total - plan.budget_s:.0f} s over, so the last phases will be skipped "
                    "(raise --budget)" if total > plan.budget_s else ""))
    return lines


def planned_total(plan: Plan, planned_phases: list[Phase]) -> float:
    """Seconds the plan expects the check to take: the environment line and every phase."""
    return plan.planned["environment"] + sum(p.planned_s for p in planned_phases)


class Reporter:
    """Writes each figure as one JSON line to stdout and, when given, to a file; logs to stderr and a file."""

    def __init__(self, out_dir: Path | None):
        self.jsonl = self.log_file = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl = open(out_dir / "device_check.jsonl", "a", encoding="utf-8")
            self.log_file = open(out_dir / "device_check.log", "a", encoding="utf-8")

    def figure(self, record: dict) -> None:
        line = json.dumps(record, default=str)
        print(line, flush=True)
        if self.jsonl:
            self.jsonl.write(line + "\n")
            self.jsonl.flush()

    def log(self, text: str) -> None:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
        if self.log_file:
            self.log_file.write(text if text.endswith("\n") else text + "\n")
            self.log_file.flush()


def run_limited(cmd: list[str], limit_s: float, env: dict[str, str]) -> tuple[int | None, str, str, float]:
    """Run ``cmd`` in its own process group for at most ``limit_s`` seconds; on time-out the whole group
    (the benchmark and any compile workers) gets SIGTERM, then SIGKILL. Returns (exit status or None
    on time-out, stdout, stderr, seconds)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=max(limit_s, 1.0))
        return proc.returncode, out, err, time.perf_counter() - started
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, err = proc.communicate(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                out, err = "", ""
        return None, out or "", err or "", time.perf_counter() - started


def run_phase(phase: Phase, limit_s: float, env: dict[str, str], reporter: Reporter) -> dict:
    """Run one phase and return its figure: the benchmark's JSON result plus phase, status and wall time."""
    if phase.name == "tests_gpu":
        return pytest_phase(phase, limit_s, env, reporter)
    reporter.log(f"=== {phase.name} {json.dumps(phase.labels)} (limit {limit_s:.0f} s): {' '.join(phase.cmd)}")
    code, out, err, seconds = run_limited(phase.cmd, limit_s, env)
    reporter.log(err)
    record = {"phase": phase.name, **phase.labels}
    lines = out.strip().splitlines()
    if code == 0 and lines:
        try:
            record.update(json.loads(lines[-1]), status="ok")
        except json.JSONDecodeError:
            record.update(status="failed", error=f"last stdout line is not JSON: {lines[-1][:200]}")
    else:
        tail = [line for line in err.strip().splitlines() if line.strip()][-3:]
        record.update(status="timeout" if code is None else "failed", returncode=code, error=" | ".join(tail)[-600:])
    record["wall_s"] = round(seconds, 1)
    return record


def progress_counts(stdout: str) -> dict[str, int]:
    """Passed, failed, errored and skipped tests from the progress lines of ``pytest -q``."""
    marks = "".join(line.split(" [")[0].strip() for line in stdout.splitlines() if PROGRESS.match(line))
    return {"passed": marks.count("."), "failures": marks.count("F"), "errors": marks.count("E"),
            "skipped": marks.count("s")}


def pytest_phase(phase: Phase, limit_s: float, env: dict[str, str], reporter: Reporter) -> dict:
    """``pytest tests/gpu``: counts of passed, failed, errors and skipped tests from its JUnit report."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [*phase.cmd[:-1], f"--junitxml={junit}", phase.cmd[-1]]
        reporter.log(f"=== tests_gpu (limit {limit_s:.0f} s): {' '.join(cmd)}")
        code, out, err, seconds = run_limited(cmd, limit_s, env)
        reporter.log(out + err)
        record = {"phase": "tests_gpu", "returncode": code}
        if junit.is_file():
            suite = ET.parse(junit).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
            counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
            record.update(counts, failed_tests=[c.get("name") for c in suite.iter("testcase")
                                                if c.find("failure") is not None or c.find("error") is not None])
        else:  # killed at the time limit: no report, so count the progress characters printed so far
            record.update(progress_counts(out), partial=True)
        # pytest exits 5 when every test was deselected; all skipped (no GPU) is exit 0.
        record["status"] = "timeout" if code is None else ("ok" if code == 0 else "failed")
        record["wall_s"] = round(seconds, 1)
        return record


def environment(plan: Plan) -> dict:
    """The software and hardware the figures come from."""
    code = ("import json, os, platform, torch; c = torch.cuda.is_available(); print(json.dumps({"
            "'torch': torch.__version__, 'cuda': torch.version.cuda, 'device': torch.cuda.get_device_name(0) "
            "if c else 'cpu', 'gpus': torch.cuda.device_count(), 'python': platform.python_version(), "
            "'cpus': os.cpu_count()}))")
    code, out, err, _ = run_limited([sys.executable, "-c", code], 120, {})
    record = {"phase": "environment", "mode": "smoke" if plan.device == "cpu" else "full",
              "budget_s": plan.budget_s}
    if code == 0:
        record.update(json.loads(out.strip().splitlines()[-1]), status="ok")
    else:
        record.update(status="failed" if code is not None else "timeout", error=err.strip()[-600:])
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git on the machine, or not a checkout
        commit = ""
    record["commit"] = commit or None
    return record


def summary(records: list[dict]) -> dict:
    """The ratios the issue's aims are stated in, from the figures of this run."""
    speed = {(r.get("model"), r.get("precision"), r.get("loop"), bool(r.get("compile"))): r["tgt_tok_per_s"]
             for r in records if r["phase"] in ("train", "compile") and r["status"] == "ok"}
    out: dict = {"phase": "summary", "mt_over_plain": {}, "bf16_over_tf32": {}}
    for (model, precision, loop, compiled), value in speed.items():
        plain = speed.get((model, precision, "plain", False))
        if loop == "mt" and not compiled and plain:
            out["mt_over_plain"][f"{model} {precision}"] = round(value / plain, 2)
        tf32 = speed.get((model, "tf32", loop, False))
        if precision == "bf16" and not compiled and tf32:
            out["bf16_over_tf32"][f"{model} {loop}"] = round(value / tf32, 2)
    big = next((r for r in records if r["phase"] == "train" and r["status"] == "ok" and r["loop"] == "mt"
                and r["model"] == "transformer_big" and r["precision"] == "bf16"), None)
    out["big_bf16_mfu_vendor"] = big.get("mfu_vendor") if big else None
    out["not_ok"] = [f"{r['phase']} {r.get('model', '')} {r.get('precision', '')} {r.get('loop', '')}".strip()
                     for r in records if r.get("status") != "ok"]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="device_check.sh", description="Every GPU figure of the project in one offline command (at most "
        "8 minutes on one H100 or H200), most valuable first: training throughput of Transformer-big, then "
        "-base, in bf16 and tf32 with mt's loop and the plain loop, beam-search decoding, tests/gpu, and "
        "torch.compile. Prints its plan, then one JSON line per figure.")
    parser.add_argument("--smoke", action="store_true", help="the same phases on the CPU with a tiny model "
                        "and corpus (about a minute); what CI runs. Prints the full check's plan first")
    parser.add_argument("--budget", type=float, help=f"overall time limit in seconds (default {BUDGET_S:.0f}; "
                        "smoke 900); a phase planned for more than is left is skipped")
    parser.add_argument("--seconds", type=float, help="measured seconds per training run (default 6; smoke 0.5)")
    parser.add_argument("--precisions", type=_precisions, help="training precisions, comma-separated, from "
                        f"{', '.join(PRECISIONS)} (default bf16,tf32)")
    parser.add_argument("--skip-tests", action="store_true", help="do not run tests/gpu")
    parser.add_argument("--cache-dir", type=Path, help="prepared-data cache to use and keep (default: a "
                        "temporary one, deleted at the end)")
    parser.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None,
                        help="also write device_check.jsonl and device_check.log here (default: $OUT if set)")
    return parser.parse_args(argv)


def _precisions(text: str) -> str:
    unknown = [p for p in text.split(",") if p not in PRECISIONS]
    if unknown or not text:
        raise argparse.ArgumentTypeError(f"{text!r}: give some of {', '.join(PRECISIONS)}, comma-separated")
    return text


def run_all(plan: Plan, args: argparse.Namespace, cache: Path, reporter: Reporter,
            clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """Print the plan, then run the phases in order within the budget; returns every figure."""
    started = clock()
    todo = phases(plan, cache, tests=not args.skip_tests)
    if args.smoke:  # what the real check would plan: CI sees it whenever the phases change
        defaults = {"smoke": False, "budget": None, "seconds": None}
        full = make_plan(argparse.Namespace(**{**vars(args), **defaults}))
        for line in plan_lines(full, phases(full, cache, tests=not args.skip_tests),
                               "plan of the full check on a GPU"):
            reporter.log(line)
    for line in plan_lines(plan, todo, "plan of this smoke run on the CPU" if args.smoke else "plan"):
        reporter.log(line)
    records = [environment(plan)]
    no_gpu = plan.device == "cuda" and records[0].get("device") in (None, "cpu")
    if no_gpu and records[0]["status"] == "ok":
        records[0].update(status="failed", error="no CUDA GPU visible; on a CPU run device_check.sh --smoke")
    records[0]["planned_s"] = planned_total(plan, todo)
    reporter.figure(records[0])
    if records[0]["status"] != "ok":
        return records
    data_ok = True
    for phase in todo:
        left = plan.budget_s - (clock() - started)
        skip = None
        if phase.name not in ("prepare", "tests_gpu") and not data_ok:
            skip = "no prepared data: the prepare phase did not finish"
        elif left < phase.planned_s:
            skip = f"{left:.0f} s of the {plan.budget_s:.0f} s budget left, {phase.planned_s:.0f} s planned"
        if skip:
            reporter.log(f"=== {phase.title}: skipped, {skip}")
            record = {"phase": phase.name, **phase.labels, "status": "skipped", "error": skip}
        else:
            record = run_phase(phase, min(phase.limit_s, left), plan.env, reporter)
        record["planned_s"] = phase.planned_s
        records.append(record)
        reporter.figure(record)
        if phase.name == "prepare" and record["status"] != "ok":
            data_ok = False
    final = summary(records)
    final["wall_s"] = round(clock() - started, 1)
    reporter.figure(final)
    return records + [final]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    reporter = Reporter(args.out)
    with tempfile.TemporaryDirectory(prefix="mt-device-check-") as tmp:
        cache = args.cache_dir.resolve() if args.cache_dir else Path(tmp)
        records = run_all(plan, args, cache, reporter)
    return 0 if not records[-1].get("not_ok", ["environment"]) and records[0]["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
