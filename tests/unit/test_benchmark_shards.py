"""scripts/benchmark.py shards: the three configurations run, their outputs are compared, the result
line names them (a tiny checkpoint and 120 lines, seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences


def test_three_configurations_write_the_same_bytes(tmp_path):
    checkpoint = make_checkpoint(tmp_path / "best.pt", make_tokenizer(tmp_path / "spm"))
    (tmp_path / "in.txt").write_text("\n".join(sentences(150, seed=2)) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "shards", "--checkpoint", str(checkpoint),
         "--input", str(tmp_path / "in.txt"), "--lines", "120", "--beam", "2", "--threads", "2",
         "--processes", "2", "--chunk-lines", "25", "--repeats", "1", "--work-dir", str(tmp_path / "work"),
         "--override", "decode.max_len_b=6"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["identical"] and sorted(result["configurations"]) == ["1x1", "1x2", "2x1"]
    assert result["configurations"]["2x1"]["processes"] == 2
    assert (tmp_path / "work" / "2x1.0.txt").read_text(encoding="utf-8").count("\n") == 120
