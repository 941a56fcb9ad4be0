"""``bash scripts/device_check.sh --smoke``: the GPU check's every phase, on the CPU with tiny shapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_smoke_runs_every_phase(tmp_path):
    out_dir = tmp_path / "out"
    run = subprocess.run(["bash", "scripts/device_check.sh", "--smoke", "--cache-dir", str(tmp_path / "cache")],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200, env=_env(out_dir))
    lines = run.stdout.strip().splitlines()
    records = [json.loads(line) for line in lines]  # every stdout line is one JSON figure
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (out_dir / "device_check.jsonl").read_text().strip().splitlines() == lines
    assert "=== prepare" in (out_dir / "device_check.log").read_text()
    phases = [r["phase"] for r in records]
    assert phases == ["environment", "prepare", *["train"] * 6, "decode", "decode", "compile", "tests_gpu", "summary"]
    assert all(r["status"] == "ok" for r in records[:-1]), [r for r in records if r.get("status") != "ok"]
    train = [r for r in records if r["phase"] == "train"]
    assert {(r["precision"], r["loop"]) for r in train} == {(p, lp) for p in ("bf16", "fp16", "tf32")
                                                            for lp in ("mt", "plain")}
    assert all(r["steps"] >= 1 and r["tgt_tok_per_s"] > 0 and r["vocab_size"] == 4000 for r in train)
    decode = [r for r in records if r["phase"] == "decode"]
    # Fixed output length: every hypothesis about as long as its reference (ratio x source length).
    assert all(r["fixed_length"] and abs(r["mean_output_tokens"] / r["mean_reference_tokens"] - 1) < 0.2
               for r in decode)
    assert records[-1]["not_ok"] == [] and set(records[-1]["mt_over_plain"]) == {
        f"transformer_big {p}" for p in ("bf16", "fp16", "tf32")}


def _env(out_dir: Path) -> dict:
    import os

    return {**os.environ, "OUT": str(out_dir), "OMP_NUM_THREADS": "1"}
