"""``bash scripts/device_check.sh --smoke``: the GPU check's every phase, on the CPU with tiny shapes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHASES = ["environment", "prepare", *["train"] * 4, "decode", "decode", "tests_gpu", "compile", "summary"]
"""Most valuable first: big's bf16/tf32 and mt/plain figures, decoding, tests/gpu, torch.compile last."""


def run_smoke(cache: Path, out_dir: Path, env: dict | None = None) -> list[dict]:
    """Run the smoke check; every stdout line must be one JSON figure. Returns the figures."""
    run = subprocess.run(["bash", "scripts/device_check.sh", "--smoke", "--cache-dir", str(cache)], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200,
                         env={**(env or os.environ), "OUT": str(out_dir), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    lines = run.stdout.strip().splitlines()
    assert (out_dir / "device_check.jsonl").read_text().strip().splitlines() == lines
    return [json.loads(line) for line in lines]


def check_figures(records: list[dict]) -> None:
    """Every phase ran, in the planned order, and reported what the docs say it reports."""
    assert [r["phase"] for r in records] == PHASES
    assert all(r["status"] == "ok" for r in records[:-1]), [r for r in records if r.get("status") != "ok"]
    train = [r for r in records if r["phase"] == "train"]
    assert [(r["precision"], r["loop"]) for r in train] == [
        ("bf16", "mt"), ("tf32", "mt"), ("bf16", "plain"), ("tf32", "plain")]
    assert all(r["steps"] >= 1 and r["tgt_tok_per_s"] > 0 and r["vocab_size"] == 4000 for r in train)
    assert all(r["planned_s"] > 0 and r["wall_s"] > 0 for r in records[1:-1])
    decode = [r for r in records if r["phase"] == "decode"]
    # Fixed output length: every hypothesis about as long as its reference (ratio x source length).
    assert all(r["fixed_length"] and abs(r["mean_output_tokens"] / r["mean_reference_tokens"] - 1) < 0.2
               for r in decode)
    assert records[-1]["not_ok"] == [] and set(records[-1]["mt_over_plain"]) == {
        f"transformer_big {p}" for p in ("bf16", "tf32")}
    assert set(records[-1]["bf16_over_tf32"]) == {"transformer_big mt", "transformer_big plain"}


def check_full_plan(log: str) -> None:
    """The smoke prints the full check's plan first: every phase with its planned seconds, within budget."""
    plan = log.split("plan of the full check on a GPU (budget 480 s", 1)[1].split("plan of this smoke run")[0]
    planned = re.findall(r"^ +(\d+) s +limit +\d+ s +(.+)$", plan, flags=re.M)
    train = [f"train transformer_{model} {precision} {loop}" for model in ("big", "base")
             for loop in ("mt", "plain") for precision in ("bf16", "tf32")]
    assert [title for _, title in planned] == [
        "prepare", *train, "decode transformer_base bf16", "decode transformer_base fp32", "tests_gpu",
        "compile transformer_big bf16 mt"]
    total = int(re.search(r"^ +(\d+) s +planned in all, of 480 s$", plan, flags=re.M).group(1))
    assert total == 10 + sum(int(seconds) for seconds, _ in planned) <= 480


def test_device_check_smoke_runs_every_phase(tmp_path):
    records = run_smoke(tmp_path / "cache", tmp_path / "out")
    check_figures(records)
    log = (tmp_path / "out" / "device_check.log").read_text()
    assert "=== prepare" in log
    check_full_plan(log)
