"""Translating lines and files with checkpoints: order, empty lines, truncation, I/O, errors, the CLI."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mt.checkpoint import CheckpointError, bytes_to_tensor, save_checkpoint
from mt.config import DecodeConfig, ModelConfig, TokenizerConfig, TranslateConfig, to_dict
from mt.data.tokenizer import Tokenizer, train_tokenizer
from mt.decode.chunks import partial_paths
from mt.decode.lines import format_nbest, translate_with
from mt.decode.load import load_for_inference
from mt.decode.run import translate_file, translate_lines, translate_nbest
from mt.decode.search import Hypothesis
from mt.model import VocabInfo, build_model
from mt.utils.errors import MTError
from mt.utils.text import decode_utf8_lines, read_text_lines
from tests.conftest import ROOT, run_cli

WORDS = "the a small red house dog cat sees walks der die klein rot Haus Hund Katze sieht läuft".split()


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def make_tokenizer(directory: Path, seed: int = 0, vocab_size: int = 40) -> Tokenizer:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "text.txt").write_text("\n".join(sentences(300, seed)) + "\n", encoding="utf-8")
    cfg = TokenizerConfig(vocab_size=vocab_size, byte_fallback=False)
    return train_tokenizer([directory / "text.txt"], cfg, directory / "spm")


def make_checkpoint(path: Path, tokenizer: Tokenizer, seed: int = 0, max_positions: int = 64,
                    src_lang: str = "en", tgt_lang: str = "de") -> Path:
    """A random tiny model saved in the trainer's inference checkpoint format."""
    torch.manual_seed(seed)
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=32, n_heads=4, ffn_dim=64, dropout=0.0,
                      max_positions=max_positions)
    vocab = VocabInfo.from_tokenizer(tokenizer)
    model = build_model(cfg, vocab)
    save_checkpoint({
        "model": model.state_dict(), "model_config": to_dict(cfg), "vocab": vocab.as_dict(),
        "tokenizer": {"model": bytes_to_tensor(tokenizer.to_bytes()), "path": str(path.parent)},
        "src_lang": src_lang, "tgt_lang": tgt_lang, "config": {}, "step": 7,
    }, path)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("translate")


@pytest.fixture(scope="module")
def tokenizer(workdir) -> Tokenizer:
    return make_tokenizer(workdir / "spm")


@pytest.fixture(scope="module")
def checkpoint(workdir, tokenizer) -> Path:
    return make_checkpoint(workdir / "run" / "checkpoints" / "best.pt", tokenizer)


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_for_inference([checkpoint], "cpu")


def decode_cfg(**overrides) -> DecodeConfig:
    return DecodeConfig(**{"beam_size": 2, "max_len_b": 5, "device": "cpu", **overrides})


def test_load_for_inference(loaded, checkpoint):
    models, tokenizer, info = loaded
    assert len(models) == 1 and not models[0].training
    assert tokenizer.vocab_size == 40
    assert info["src_lang"] == "en" and info["tgt_lang"] == "de" and info["step"] == 7
    assert info["checkpoints"] == [str(checkpoint)]


def test_order_is_kept_and_empty_lines_stay_empty(loaded):
    models, tokenizer, _ = loaded
    lines = sentences(12, seed=3)
    lines[2], lines[7], lines[9] = "", "   ", lines[0]
    cfg = decode_cfg(max_tokens=24)  # several length-sorted batches
    batched = translate_lines(models, tokenizer, lines, cfg)
    alone = [translate_lines(models, tokenizer, [line], cfg)[0] for line in lines]
    assert batched == alone
    assert batched[2] == "" and batched[7] == ""
    assert batched[9] == batched[0]
    assert all(text for i, text in enumerate(batched) if i not in (2, 7))
    assert translate_lines(models, tokenizer, [], cfg) == []


def test_greedy_path_and_bf16_autocast(loaded):
    models, tokenizer, _ = loaded
    lines = sentences(5, seed=4)
    greedy = translate_lines(models, tokenizer, lines, decode_cfg(beam_size=1))
    assert len(greedy) == 5 and all(greedy)
    assert len(translate_lines(models, tokenizer, lines, decode_cfg(precision="bf16"))) == 5


def test_nbest_translations(loaded):
    models, tokenizer, _ = loaded
    results = translate_nbest(models, tokenizer, ["the red dog", ""], decode_cfg(beam_size=3, nbest=3))
    assert len(results[0]) == 3 and len(results[1]) == 1
    scores = [t.score for t in results[0]]
    assert scores == sorted(scores, reverse=True)
    rows = format_nbest(results)
    assert len(rows) == 4
    index, score, text = rows[0].split("\t")
    assert (index, float(score), text) == ("0", pytest.approx(scores[0], abs=1e-4), results[0][0].text)
    assert rows[3] == "1\t0.0000\t"


def test_training_mode_is_restored(loaded):
    models, tokenizer, _ = loaded
    models[0].train()
    try:
        translate_lines(models, tokenizer, ["the dog"], decode_cfg())
        assert models[0].training
    finally:
        models[0].eval()


def test_long_lines_are_truncated_with_one_warning(workdir, tokenizer, caplog):
    short = make_checkpoint(workdir / "short.pt", tokenizer, max_positions=12)
    models, tokenizer, _ = load_for_inference([short], "cpu")
    long_line = " ".join(["the small red house"] * 10)
    assert len(tokenizer.encode(long_line)) > 11
    with caplog.at_level(logging.WARNING):
        out = translate_lines(models, tokenizer, [long_line, "dog", long_line], decode_cfg())
    assert len(out) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 input line(s) longer than 11 tokens" in warnings[0]


def test_workers_search_batches_at_once_and_keep_input_order(tokenizer):
    """translate_with on threads: every batch searched once, results in input order, and an error in
    one batch reaches the caller."""
    lines = [" ".join(["house"] * (i % 7 + 1)) for i in range(40)] + [""]
    started = []

    def echo(batch):  # a "translation" that copies the source
        started.append(len(batch))
        time.sleep(0.002)
        return [[Hypothesis(list(ids), -float(len(ids)), 0.0)] for ids in batch]

    common = dict(max_source_tokens=50, max_tokens=12, max_sentences=None)
    out = translate_with(echo, tokenizer, lines, workers=3, **common)
    assert [t[0].text for t in out] == [tokenizer.decode(tokenizer.encode(line)) for line in lines]
    assert sum(started) == 40 and len(started) > 6
    assert out == translate_with(echo, tokenizer, lines, workers=1, **common)

    def fails(batch):
        raise RuntimeError("batch failed")

    with pytest.raises(RuntimeError, match="batch failed"):
        translate_with(fails, tokenizer, lines, workers=2, **common)


def test_same_length_batches_never_pad_a_source(tokenizer):
    """With same_length, each batch holds sources of one length, within the token and sentence caps,
    and the translations are those of the mixed batches (a search that ignores padding)."""
    lines = [" ".join(["house"] * (i % 5 + 1)) for i in range(30)]
    seen = []

    def echo(batch):
        seen.append([len(ids) for ids in batch])
        return [[Hypothesis(list(ids), -float(len(ids)), 0.0)] for ids in batch]

    common = dict(max_source_tokens=50, max_tokens=40, max_sentences=4)
    same = translate_with(echo, tokenizer, lines, same_length=True, **common)
    assert all(len(set(lengths)) == 1 and len(lengths) <= 4 and len(lengths) * (lengths[0] + 1) <= 40
               for lengths in seen)
    assert sum(map(len, seen)) == 30
    seen.clear()
    assert translate_with(echo, tokenizer, lines, **common) == same
    assert any(len(set(lengths)) > 1 for lengths in seen)  # without it, this input mixes lengths


def test_reading_lines():
    assert decode_utf8_lines(b"\xef\xbb\xbfone\r\ntwo\n\nfour", "f") == ["one", "two", "", "four"]
    assert decode_utf8_lines(b"a\x0bb\n", "f") == ["a\x0bb"]  # only \n ends a line, as wc -l counts
    assert decode_utf8_lines(b"", "f") == []
    with pytest.raises(MTError, match=r"in\.txt, line 3: invalid UTF-8 \(byte 0xff\)"):
        decode_utf8_lines(b"ok\nfine\nbad \xff byte\n", "in.txt")


def test_translate_file(checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("the dog\n\nsees a cat\n", encoding="utf-8")
    result = translate_file(TranslateConfig(
        checkpoint=[str(checkpoint)], input="in.txt", output="out/hyp.txt", decode=decode_cfg(),
        progress=False, work_dir=str(tmp_path)))
    out = read_text_lines(str(tmp_path / "out" / "hyp.txt"))
    assert len(out) == 3 and out[1] == "" and out[0] and out[2]
    assert result["sentences"] == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hyp.txt"]  # no temp file left
    translate_file(TranslateConfig(
        checkpoint=[str(checkpoint)], input="in.txt", output="nbest.tsv", decode=decode_cfg(nbest=2),
        progress=False, work_dir=str(tmp_path)))
    rows = read_text_lines(str(tmp_path / "nbest.tsv"))
    assert [r.split("\t")[0] for r in rows] == ["0", "0", "1", "2", "2"]


def test_tgt_lang_may_be_spelt_as_opus_mt_spells_it(checkpoint, tmp_path):
    """tgt_lang=deu or de asks the en-de checkpoint for German; fra is refused."""
    (tmp_path / "in.txt").write_text("the dog\n", encoding="utf-8")
    for code in ("deu", "de", "de-DE"):
        translate_file(TranslateConfig(checkpoint=[str(checkpoint)], input="in.txt", output="out.txt", tgt_lang=code,
                                       decode=decode_cfg(), progress=False, work_dir=str(tmp_path)))
    with pytest.raises(MTError, match="tgt_lang=fra, but this model translates en-de only"):
        translate_file(TranslateConfig(checkpoint=[str(checkpoint)], input="in.txt", output="out.txt", tgt_lang="fra",
                                       decode=decode_cfg(), progress=False, work_dir=str(tmp_path)))


def test_translate_file_rejects_invalid_utf8_and_keeps_old_output(checkpoint, tmp_path):
    (tmp_path / "in.txt").write_bytes(b"the dog\nd\xe9j\xe0 vu\n")
    (tmp_path / "out.txt").write_text("previous\n")
    cfg = TranslateConfig(checkpoint=[str(checkpoint)], input="in.txt", output="out.txt",
                          decode=decode_cfg(), progress=False, work_dir=str(tmp_path))
    with pytest.raises(MTError, match=r"in\.txt, line 2: invalid UTF-8"):
        translate_file(cfg)
    assert (tmp_path / "out.txt").read_text() == "previous\n"


def test_ensemble_needs_one_vocabulary(workdir, checkpoint):
    other = make_checkpoint(workdir / "other.pt", make_tokenizer(workdir / "spm2", seed=5, vocab_size=36))
    with pytest.raises(MTError, match="cannot ensemble .*best.pt and .*other.pt: .*different vocabularies"):
        load_for_inference([checkpoint, other], "cpu")
    models, _, _ = load_for_inference([checkpoint, checkpoint], "cpu")
    assert len(models) == 2


def test_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_for_inference([tmp_path / "nope.pt"], "cpu")
    torch.save({"model": {}, "model_config": {}}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="no vocab or tokenizer entry"):
        load_for_inference([tmp_path / "bare.pt"], "cpu")


# ----------------------------------------------------------------------------- the command line


def run_translate(args: list[str], cwd: Path, stdin: str = ""):
    return run_cli([str(ROOT / "translate.py"), *args], cwd, stdin=stdin, timeout=120,
                   env={"OMP_NUM_THREADS": "1"})


def test_cli_stdin_to_stdout_writes_nothing_else(checkpoint, tmp_path):
    rel = Path("ck.pt")
    (tmp_path / rel).write_bytes(checkpoint.read_bytes())
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_translate([f"checkpoint={rel}", "decode.beam_size=2", "decode.max_len_b=4", "progress=false"],
                         tmp_path, stdin="the dog\n\nsees a cat\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == "" and lines[0] and lines[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no outputs/, .hydra/ or logs


def test_cli_missing_checkpoint_is_one_line_error(tmp_path):
    proc = run_translate(["checkpoint=missing.pt"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: checkpoint not found: {tmp_path / 'missing.pt'}"]
    assert list(tmp_path.iterdir()) == []


def test_cli_help_names_the_main_keys(tmp_path):
    proc = run_translate(["--help"], tmp_path)
    assert proc.returncode == 0
    for key in ("checkpoint=", "input=", "output=", "decode.beam_size="):
        assert key in proc.stdout


# ------------------------------------------------------- resumable files: killed for real


def test_chunked_nbest_indices_count_from_the_start_of_the_file(checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("the dog\n\nsees a cat\n", encoding="utf-8")
    cfg = TranslateConfig(checkpoint=[str(checkpoint)], input="in.txt", output="nbest.tsv", chunk_lines=1,
                          decode=decode_cfg(nbest=2), progress=False, work_dir=str(tmp_path))
    translate_file(cfg)
    rows = read_text_lines(str(tmp_path / "nbest.tsv"))
    assert [r.split("\t")[0] for r in rows] == ["0", "0", "1", "2", "2"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed subprocess: identical arithmetic, identical beams
    yield
    torch.set_num_threads(threads)


def test_sigkill_midway_then_rerun_equals_an_uninterrupted_run(checkpoint, tmp_path, caplog, one_thread):
    (tmp_path / "in.txt").write_text("\n".join(sentences(600, seed=3)) + "\n", encoding="utf-8")
    settings = dict(checkpoint=[str(checkpoint)], input="in.txt", chunk_lines=50, progress=False,
                    decode=decode_cfg(max_len_b=10), work_dir=str(tmp_path))
    translate_file(TranslateConfig(output="reference.txt", **settings))

    out = tmp_path / "hyp.txt"
    state = partial_paths(out)[1]
    cmd = [sys.executable, str(ROOT / "translate.py"), f"checkpoint={checkpoint}", "input=in.txt",
           "output=hyp.txt", "chunk_lines=50", "decode.beam_size=2", "decode.max_len_b=10",
           "decode.device=cpu", "progress=false"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, done = time.time() + 300, 0
    while done < 100 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
        try:
            done = json.loads(state.read_text())["lines_done"]
        except (OSError, ValueError, KeyError):
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 100 <= done < 600 and not out.exists(), "the run was not killed midway"

    with caplog.at_level(logging.INFO, logger="mt"):
        translate_file(TranslateConfig(output="hyp.txt", **settings))
    assert "resuming" in caplog.text and "after line 0 " not in caplog.text
    assert out.read_bytes() == (tmp_path / "reference.txt").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp.txt", "in.txt", "reference.txt"]
