"""scripts/benchmark.py serve: its pure parts against hand-derived answers (percentiles, RSS growth,
the issue's bars, translate.py's log line, the server's batch counters, the arguments). The run
itself, on a tiny model: tests/smoke/test_serve_load.py."""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from benchmarks import http_load  # noqa: E402
from benchmarks import serve_load as bench  # noqa: E402
from benchmarks.common import BenchmarkError  # noqa: E402

MIB = 1024**2


def test_percentiles_interpolate_between_the_closest_ranks():
    assert http_load.percentile([4, 1, 3, 2], 50) == 2.5
    assert http_load.percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)  # position 0.95 * 3 = 2.85
    assert http_load.percentile([1, 2, 3, 4], 0) == 1 and http_load.percentile([1, 2, 3, 4], 100) == 4
    assert http_load.percentile(range(1, 101), 99) == pytest.approx(99.01)  # position 98.01
    assert http_load.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        http_load.percentile([], 50)


def test_rss_growth_is_last_minutes_median_over_first_minutes():
    samples = [(0, 100 * MIB), (30, 102 * MIB), (60, 104 * MIB), (120, 200 * MIB),  # one spike mid-soak
               (240, 105 * MIB), (270, 106 * MIB), (300, 107 * MIB)]
    growth = http_load.rss_growth(samples, 60)
    assert (growth["rss_first_mib"], growth["rss_last_mib"]) == (102.0, 106.0)
    assert growth["rss_growth"] == pytest.approx(4 / 102, abs=1e-4)
    flat = http_load.rss_growth([(0.0, 50 * MIB), (1.0, 50 * MIB)], 60)  # shorter than a window: both windows all
    assert flat["rss_growth"] == 0.0
    shrinking = http_load.rss_growth([(0, 100), (1, 100), (2, 90)], 0.5)
    assert shrinking["rss_growth"] == pytest.approx(-0.1)


def test_a_level_summary():
    errors = collections.Counter({"HTTP 503": 2})
    level = http_load.summarize_level(8, [0.010, 0.020, 0.030, 0.040], errors, seconds=2.0)
    assert level["requests"] == 6 and level["answered"] == 4 and level["errors"] == 2
    assert level["sentences_per_s"] == 2.0 and level["p50_ms"] == 25.0 and level["p95_ms"] == 38.5
    assert level["error_kinds"] == {"HTTP 503": 2}
    nothing = http_load.summarize_level(1, [], collections.Counter({"ConnectError": 3}), seconds=1.0)
    assert nothing["p50_ms"] is None and nothing["sentences_per_s"] == 0.0


def levels(sps_32: float, p50_1_ms: float, same_32: float = 1.0) -> list[dict]:
    return [{"concurrency": 1, "answered": 10, "sentences_per_s": 5.0, "p50_ms": p50_1_ms,
             "identical_to_translate_py": 1.0},
            {"concurrency": 32, "answered": 10, "sentences_per_s": sps_32, "p50_ms": 90.0,
             "identical_to_translate_py": same_32}]


def test_the_bars_pass_at_their_limits_and_fail_beyond():
    # 80 of 100 sentences/s is exactly 80%; 20 ms against 10 ms is exactly 2x; 4.9% growth.
    bars = bench.check_bars(levels(80.0, 20.0), 100.0, 0.010, errors=0, growth=0.049)
    assert [b.passed for b in bars] == [True, True, True, True, True]
    assert bars[0].value == pytest.approx(0.8) and bars[1].value == pytest.approx(2.0)
    bars = bench.check_bars(levels(79.0, 21.0, same_32=0.999), 100.0, 0.010, errors=1, growth=0.05)
    assert [b.passed for b in bars] == [False, False, False, False, False]
    assert bars[4].value == 0.999  # the worst level's share of lines equal to translate.py's


def test_a_bar_not_measured_does_not_pass():
    only_8 = [{"concurrency": 8, "answered": 10, "sentences_per_s": 500.0, "p50_ms": 1.0}]
    bars = bench.check_bars(only_8, 100.0, 0.010, errors=0, growth=None)
    assert [(b.value, b.passed) for b in bars] == [(None, False), (None, False), (0, True), (None, False),
                                                   (None, False)]


def test_lines_that_differ_from_translate_py_are_kept(tmp_path):
    output = ["a", "b", "c", "d"]
    assert bench.identical_share({0: "a", 1: "b", 3: "d"}, output, tmp_path, 8) == 1.0
    assert not (tmp_path / "differ_8.tsv").exists()
    assert bench.identical_share({0: "a", 2: "x", 3: "d", 9: "z"}, output, tmp_path, 32) == pytest.approx(2 / 3, abs=1e-4)
    assert (tmp_path / "differ_32.tsv").read_text(encoding="utf-8") == "2\tx\tc\n"
    assert bench.identical_share({}, output, tmp_path, 1) is None


def test_translate_py_log_line_and_server_batch_counters():
    stderr = ("12:00:01 INFO mt.decode.run: loading\n"
              "12:00:09 INFO mt.decode.run: translated 1000 lines (en-de) in 2.9 s, 344.8 sentences/s\n")
    assert bench.parse_translate_log(stderr) == (1000, 2.9, 344.8)
    assert bench.parse_translate_log("no such line") is None
    metrics = ("# HELP mt_serve_batch_requests requests per call\nmt_serve_batch_requests_bucket{le=\"1.0\"} 3.0\n"
               "mt_serve_batch_requests_count 4.0\nmt_serve_batch_requests_sum 10.0\n")
    assert http_load.batch_counts(metrics) == (10.0, 4.0)
    assert http_load.batch_counts("") == (0.0, 0.0)


def test_arguments_are_checked():
    assert bench.parse_levels("1,8,32,64") == [1, 8, 32, 64]
    for bad in ("", "0,8", "a,b"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_levels(bad)
    assert bench.decode_overrides(["decode.beam_size=4"]) == ["decode.beam_size=4"]
    with pytest.raises(BenchmarkError, match="--serve-option"):
        bench.decode_overrides(["max_wait_ms=20"])


def test_every_request_goes_to_loopback():
    args = argparse.Namespace(ct2_intra_threads=1, serve_option=["max_wait_ms=20"], overrides=["decode.beam_size=2"])
    command = bench.serve_command(Path("/m/best.pt"), 5123, args)
    assert "host=127.0.0.1" in command and "port=5123" in command and "max_wait_ms=20" in command
    assert bench.HOST == http_load.HOST == "127.0.0.1"
