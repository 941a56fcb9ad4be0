"""``scripts/benchmark.py serve`` end to end on a tiny random model: serve.py started on loopback,
two concurrency levels of 10 requests, a 3-second soak, translate.py in one batch, the single-sentence
time, the record with its bars, and the server stopped at the end. Three processes start Python and
torch (the benchmark, serve.py, translate.py): 18-37 s on a shared 2-core machine, so it is marked
slow (``pytest -m slow tests/smoke/test_serve_load.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("aiohttp")

from tests.conftest import ROOT  # noqa: E402
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences  # noqa: E402


@pytest.mark.slow
def test_a_small_load_run_records_every_figure_and_stops_the_server(tmp_path):
    checkpoint = make_checkpoint(tmp_path / "best.pt", make_tokenizer(tmp_path / "spm"))
    (tmp_path / "src.en").write_text("\n".join(sentences(30, seed=5)) + "\n", encoding="utf-8")
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "serve", "--model", str(checkpoint),
         "--source-file", str(tmp_path / "src.en"), "--levels", "1,32", "--requests", "10",
         "--warmup-requests", "2", "--soak-seconds", "3", "--soak-concurrency", "4", "--rss-interval", "0.3",
         "--single-sentences", "10", "--work-dir", str(work), "decode.device=cpu", "decode.max_len_b=8"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == json.loads((work / "serve_load.json").read_text(encoding="utf-8"))
    assert [level["concurrency"] for level in result["levels"]] == [1, 32]
    for level in result["levels"]:
        assert level["requests"] == 10 and level["errors"] == 0 and level["sentences_per_s"] > 0
        # The server's answers under load are translate.py's lines (tests/unit/test_serve.py: by construction).
        assert level["identical_to_translate_py"] == 1.0
        assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
    soak = result["soak"]
    assert soak["errors"] == 0 and soak["answered"] > 0 and len(soak["rss_samples_mib"]) >= 3
    assert soak["rss_first_mib"] > 0 and "rss_growth" in soak
    assert result["translate_py"]["lines"] == 30 and result["translate_py"]["sentences_per_s"] > 0
    assert result["single_sentence"]["sentences"] == 10 and result["single_sentence"]["median_ms"] > 0
    assert [bar["name"] for bar in result["bars"]] == [
        "throughput at 32 clients", "latency of one client", "errors", "RSS over the soak", "translations"]
    assert result["all_pass"] == all(bar["passed"] for bar in result["bars"])
    assert result["server_exit_status"] == 0  # stopped by SIGTERM, cleanly
    for key in ("machine", "date", "command", "model", "commit"):
        assert result[key]
    for verdict in ("PASS", "FAIL"):
        if any(bar["passed"] == (verdict == "PASS") for bar in result["bars"]):
            assert f"{verdict}  " in proc.stderr
