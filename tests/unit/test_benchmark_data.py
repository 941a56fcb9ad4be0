"""scripts/benchmark.py data/batches: the synthetic corpus, the measured subprocess, both benchmarks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mt.data.batching import BUCKET_ORDERS
from mt.utils.errors import MTError
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import benchmark  # noqa: E402
from benchmarks import data as bench  # noqa: E402
from benchmarks.common import BenchmarkError, hydra_value  # noqa: E402

DATA_KEYS = {"pairs", "prepare_s", "peak_rss_gib", "reuse_s", "generate_s", "train_pairs_kept", "vocab_size",
             "cpu_count", "machine"}
BATCHES_KEYS = {"real_token_fraction", "batches", "sentences", "max_tokens"}


# ------------------------------------------------------------------ the generator's pure functions


def test_zipf_cdf_by_hand():
    # weights 1, 1/2, 1/3 sum to 11/6
    np.testing.assert_allclose(bench.zipf_cdf(3, 1.0), [6 / 11, 9 / 11, 1.0])


def test_verb_final_order_moves_the_second_word_of_long_sentences_last():
    assert bench.verb_final_order(np.array([2, 5])).tolist() == [0, 1, 2, 4, 5, 6, 3]
    assert bench.verb_final_order(np.array([3, 4, 1])).tolist() == [0, 1, 2, 3, 5, 6, 4, 7]


def test_expand_puts_the_extra_word_before_a_doubled_one():
    out, first = bench.expand(np.array([5, 6, 7]), np.array([2, 1, 2]), np.array([9, 8, 4]))
    assert out.tolist() == [9, 5, 6, 4, 7]
    assert first.tolist() == [0, 2, 3]


def test_render_gathers_words_and_ends_sentences_with_newlines():
    table = np.frombuffer(b"a bc ", dtype=np.uint8)
    text = bench.render(table, np.array([0, 2]), np.array([2, 3]), np.array([0, 1, 1, 0]), np.array([3, 1]))
    assert text == b"a bc bc\na\n"


def tiny_lexicon() -> bench.Lexicon:
    """Five words a..e -> A..E (0 is the target function word 'der'); d has fertility 2."""
    src = bench._vocabulary_table(["a", "b", "c", "d", "e"])
    tgt = bench._vocabulary_table(["der", "B", "C", "D", "E"])
    return bench.Lexicon(cdf=bench.zipf_cdf(5, 1.0), mapping=np.arange(5), fertility=np.array([1, 1, 1, 2, 1]),
                         extra=np.zeros(5, dtype=np.int64), src_table=src, tgt_table=tgt)


def test_translation_maps_reorders_expands_and_punctuates():
    src, tgt, src_len, tgt_len = tiny_lexicon().render_pair(
        np.array([1, 2, 3, 4, 2, 1]), np.array([False, False, True, False, False, True]), np.array([4, 2]))
    # "b c d, e." -> c moves last, d gets its article, the comma travels with d; the final comma is dropped
    assert src.decode() == "b c d, e.\nc b.\n"
    assert tgt.decode() == "B der D, E C.\nC B.\n"
    assert src_len.tolist() == [4, 2] and tgt_len.tolist() == [5, 2]


# -------------------------------------------------------------------------- the generated corpus


def test_write_corpus_is_deterministic_and_has_the_requested_size(tmp_path):
    stats = bench.write_corpus(tmp_path / "a", 1200, eval_pairs=50, seed=3, types=500)
    bench.write_corpus(tmp_path / "b", 1200, eval_pairs=50, seed=3, types=500)
    bench.write_corpus(tmp_path / "c", 1200, eval_pairs=50, seed=4, types=500)
    for name in ("train.en", "train.de", "valid.en", "test.de"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.en").read_bytes() != (tmp_path / "c" / "train.en").read_bytes()
    for split, n in (("train", 1200), ("valid", 50), ("test", 50)):
        src = (tmp_path / "a" / f"{split}.en").read_text(encoding="utf-8").split("\n")
        tgt = (tmp_path / "a" / f"{split}.de").read_text(encoding="utf-8").split("\n")
        assert len(src) == len(tgt) == n + 1 and src[-1] == tgt[-1] == ""  # n lines, newline-terminated
        assert all(line and line.endswith(".") for line in src[:-1] + tgt[:-1])
    train_words = (tmp_path / "a" / "train.en").read_text(encoding="utf-8").split()
    assert stats["src_words"] == len(train_words)


def test_length_and_word_distributions_look_like_wmt():
    lexicon = bench.Lexicon.build(seed=1)
    src, tgt, src_len, tgt_len = lexicon.sample(np.random.default_rng(0), 20_000)
    assert 21 < src_len.mean() < 25 and np.median(src_len) < src_len.mean()  # right-skewed
    assert np.percentile(src_len, 99) > 2.5 * np.median(src_len) and src_len.max() <= bench.MAX_WORDS
    assert 1.05 < tgt_len.sum() / src_len.sum() < 1.15
    words = src.decode().split()
    assert len(words) == src_len.sum()
    _, counts = np.unique(words, return_counts=True)
    counts = np.sort(counts)[::-1]
    assert len(counts) > 20_000  # tens of thousands of types (with punctuation variants)
    assert 4 < counts[0] / counts[9] < 25  # Zipf: the 10th word is about 10 times rarer than the 1st


# --------------------------------------------------------------------------- measured subprocesses


def test_run_measured_sums_the_memory_of_a_process_tree():
    """Measured from a fresh, small interpreter: Linux carries the forking process's peak RSS into the
    child's ``ru_maxrss``, and this test process may have grown past the bounds by the time it runs."""
    child = "b = b'x' * (150 * 2**20); import sys, time; print('child ready', file=sys.stderr); time.sleep(1)"
    parent = f"import subprocess, sys; b = b'x' * (150 * 2**20); subprocess.run([sys.executable, '-c', {child!r}])"
    measure = (f"import dataclasses, json, sys; sys.path.insert(0, {str(SCRIPTS)!r}); "
               f"from benchmarks.common import run_measured; "
               f"r = run_measured([sys.executable, '-c', {parent!r}], poll_s=0.05, log_marks={{'ready': 'child ready'}}); "
               f"print(json.dumps({{**dataclasses.asdict(r), 'peak_rss_gib': r.peak_rss_gib}}))")
    out = run_cli(["-c", measure], cwd=SCRIPTS)
    assert out.returncode == 0, out.stderr[-2000:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    assert run["returncode"] == 0 and "child ready" in run["stderr"] and 0 < run["marks"]["ready"] < run["seconds"]
    assert 0.14 < run["max_process_rss_gib"] < 0.5  # the largest single process (allocator slack varies)
    assert run["peak_tree_rss_gib"] > 0.28  # both at once
    assert run["peak_rss_gib"] == max(run["peak_tree_rss_gib"], run["max_process_rss_gib"])


@pytest.mark.parametrize("path", ["/d/a b", "/d/it's", "/d/k=v,w[1]", "/d/a\\b", "/d/end\\", "/d/a\\'b"])
def test_hydra_value_survives_the_override_parser(path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_override(f"data.local_dir={hydra_value(path)}").value() == path


def test_stage_seconds_by_hand():
    marks = {"started": 1.0, "eval_written": 1.5, "cleaned": 1.4, "tokenizer_trained": 5.0, "train_encoded": 8.0}
    assert bench.stage_seconds(marks, 9.0) == {"startup_s": 1.0, "eval_text_s": 0.5, "clean_s": 0.0,
                                               "spm_train_s": 3.5, "encode_train_s": 3.0, "finish_s": 1.0}
    del marks["tokenizer_trained"]
    stages = bench.stage_seconds(marks, 9.0)
    assert stages["spm_train_s"] is None and stages["encode_train_s"] is None and stages["finish_s"] == 1.0


# -------------------------------------------------------------------------------- the benchmarks


def test_data_benchmark_prints_its_measurements_as_the_last_line(tmp_path):
    result = run_cli([str(SCRIPTS / "benchmark.py"), "data", "--pairs", "1000", "--eval-pairs", "50",
                      "--word-types", "500", "--vocab-size", "500", "--workdir", str(tmp_path), "--quiet"],
                     cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert DATA_KEYS <= set(out)
    assert out["pairs"] == 1000 and out["vocab_size"] == 500 and 900 < out["train_pairs_kept"] <= 1000
    assert out["prepare_s"] > 0 and out["reuse_s"] > 0 and 0 < out["peak_rss_gib"] < 4
    assert "prepare" in result.stderr and "peak RSS" in result.stderr
    assert list(tmp_path.iterdir()) == []  # removed without --keep


def batches_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_batches_arguments(parser)
    return parser.parse_args(list(argv))


def test_batches_benchmark_on_a_tiny_local_corpus(tmp_path):
    bench.write_corpus(tmp_path / "corpus", 1500, eval_pairs=30, seed=2, types=300)
    out = bench.run_batches(batches_args("--data", str(tmp_path / "corpus"), "--max-tokens", "1024",
                                         "--vocab-size", "500", "--cache-dir", str(tmp_path / "cache")))
    assert BATCHES_KEYS <= set(out)
    assert out["prefixes"] == {"train": "train", "valid": "valid", "test": "test"}  # found, not the defaults
    assert out["vocab_size"] == 500 and out["max_tokens"] == 1024 and 1400 < out["sentences"] <= 1500
    # every batch holds at most 1024 padded slots per side, so there are at least this many
    assert out["batches"] >= max(out["src_tokens"], out["tgt_tokens"]) / 1024
    assert 0.8 < out["real_token_fraction"] <= 1.0
    assert out["bucket_order"] in BUCKET_ORDERS  # batch_by_tokens' default, as the trainer gets it


def test_batches_names_the_missing_files(tmp_path):
    bench.write_corpus(tmp_path, 10, eval_pairs=5, seed=2, types=300)
    (tmp_path / "test.de").unlink()
    with pytest.raises(BenchmarkError, match=r"test_2016_flickr\.en/test_2016_flickr\.de, test\.en/test\.de"):
        bench.run_batches(batches_args("--data", str(tmp_path)))


def test_dispatcher_imports_only_the_chosen_benchmark(monkeypatch):
    missing = benchmark.Benchmark("benchmarks.not_written_yet", "a benchmark still to come")
    monkeypatch.setitem(benchmark.BENCHMARKS, "future", missing)
    parser = benchmark.build_parser("batches")  # does not touch the missing module
    assert parser.parse_args(["batches", "--data", "x"]).max_tokens == 4096
    assert parser.parse_args(["future"]).benchmark == "future"
    with pytest.raises(MTError, match=r"future benchmark is not available: .*not_written_yet\.py"):
        benchmark.build_parser("future")
