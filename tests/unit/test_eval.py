"""sacreBLEU scoring and the evaluate job: scores, reports, TensorBoard, test sets, errors."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import sacrebleu.utils

from mt.config import DecodeConfig, EvaluateConfig
from mt.decode.load import load_for_inference
from mt.decode.run import translate_lines
from mt.eval.metrics import score_corpus
from mt.eval.run import evaluate
from mt.utils.errors import MTError
from tests.conftest import ROOT, run_cli
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences


def test_perfect_match_scores():
    text = ["the cat sat on the mat .", "a dog barks loudly at night"]
    scores = score_corpus(text, text)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert scores["ter"] == pytest.approx(0.0)
    for name in ("bleu", "chrf", "ter"):
        assert scores["signatures"][name].startswith("nrefs:1|")
    assert "tok:13a" in scores["signatures"]["bleu"]


def test_hand_checked_scores():
    # One substituted word of six: TER = 1 edit / 6 reference words. BLEU: clipped n-gram precisions
    # 5/6 ("the" counts once), 3/5, 2/4, 1/3, no brevity penalty: (5/6 * 3/5 * 2/4 * 1/3) ** (1/4).
    scores = score_corpus(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert scores["ter"] == pytest.approx(100 / 6)
    assert scores["bleu"] == pytest.approx(100 * (1 / 12) ** 0.25)
    assert "83.3/60.0/50.0/33.3 (BP = 1.000" in scores["bleu_detail"]
    assert score_corpus(["xyz"], ["the cat"])["bleu"] == pytest.approx(0.0)


def test_score_corpus_rejects_misaligned_input():
    with pytest.raises(MTError, match="2 hypotheses against 1 references"):
        score_corpus(["a", "b"], ["a"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A run directory with a random checkpoint, and a test set whose references are exactly the
    model's own translations (so BLEU must be 100)."""
    root = tmp_path_factory.mktemp("eval")
    tokenizer = make_tokenizer(root / "spm")
    checkpoint = make_checkpoint(root / "run" / "checkpoints" / "best.pt", tokenizer)
    src = sentences(6, seed=9)
    models, tok, _ = load_for_inference([checkpoint], "cpu")
    refs = translate_lines(models, tok, src, decode_cfg())
    (root / "test.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    (root / "test.de").write_text("\n".join(refs) + "\n", encoding="utf-8")
    return root, checkpoint


def decode_cfg(**overrides) -> DecodeConfig:
    return DecodeConfig(**{"beam_size": 2, "max_len_b": 5, "device": "cpu", **overrides})


def eval_cfg(root: Path, **overrides) -> EvaluateConfig:
    values = dict(checkpoint=["run/checkpoints/best.pt"], src="test.en", ref="test.de", decode=decode_cfg(),
                  progress=False, work_dir=str(root))
    return EvaluateConfig(**{**values, **overrides})


def test_evaluate_local_files_writes_report_and_tensorboard(setup, capsys):
    root, checkpoint = setup
    report = evaluate(eval_cfg(root, tensorboard=True))
    assert report["bleu"] == pytest.approx(100.0) and report["ter"] == pytest.approx(0.0)
    assert report["num_sentences"] == 6 and report["step"] == 7 and report["test"] == "test"
    saved = json.loads((checkpoint.parent / "best.test.json").read_text())
    assert saved["bleu"] == report["bleu"] and saved["signatures"]["bleu"].startswith("nrefs:1")
    hyps = (checkpoint.parent / "best.test.hyp").read_text(encoding="utf-8").splitlines()
    assert hyps == (root / "test.de").read_text(encoding="utf-8").splitlines()
    assert list((root / "run" / "tensorboard").glob("events.out.tfevents.*"))
    out = capsys.readouterr().out
    assert "BLEU = 100.00  nrefs:1" in out and "chrF = " in out and "TER  =   0.00" in out


def test_evaluate_into_output_dir(setup, tmp_path):
    root, _ = setup
    evaluate(eval_cfg(root, output_dir=str(tmp_path / "scores")))
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == ["best.test.hyp", "best.test.json"]


def test_line_count_mismatch_names_both_files(setup, tmp_path):
    root, _ = setup
    (tmp_path / "short.de").write_text("only one line\n", encoding="utf-8")
    with pytest.raises(MTError, match=r"test\.en has 6 lines but reference .*short\.de has 1"):
        evaluate(eval_cfg(root, ref=str(tmp_path / "short.de")))


def test_tensorboard_needs_a_run_directory(setup, tmp_path):
    root, checkpoint = setup
    loose = tmp_path / "loose.pt"
    loose.write_bytes(checkpoint.read_bytes())
    with pytest.raises(MTError, match="tensorboard=true needs a checkpoint inside a run directory"):
        evaluate(eval_cfg(root, checkpoint=[str(loose)], tensorboard=True))


def test_offline_testset_download_is_a_clean_error(setup, monkeypatch):
    root, _ = setup

    def offline(*_args):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(sacrebleu.utils, "get_source_file", offline)
    with pytest.raises(MTError, match=r"could not download the test set wmt14 \(en-de\).*seems offline "
                       r"\(URLError: .*Name or service not known.*src=FILE ref=FILE.*SACREBLEU="):
        evaluate(eval_cfg(root, src=None, ref=None, testset="wmt14", langpair="en-de"))


def test_failed_testset_download_that_is_not_the_network(setup, monkeypatch):
    """sacreBLEU exits on a bad checksum after logging why: no claim of being offline."""
    root, _ = setup

    def bad_checksum(*_args):
        raise SystemExit(1)

    monkeypatch.setattr(sacrebleu.utils, "get_source_file", bad_checksum)
    with pytest.raises(MTError) as err:
        evaluate(eval_cfg(root, src=None, ref=None, testset="wmt14", langpair="en-de"))
    assert "offline" not in str(err.value) and "wmt14" in str(err.value) and "src=FILE ref=FILE" in str(err.value)


def test_testset_names_are_checked(setup):
    root, _ = setup
    with pytest.raises(MTError, match="testset=wmt41 is not a sacreBLEU test set"):
        evaluate(eval_cfg(root, testset="wmt41", langpair="en-de"))
    with pytest.raises(MTError, match="wmt14 has no langpair=en-xx"):
        evaluate(eval_cfg(root, testset="wmt14", langpair="en-xx"))


def test_cached_testset_and_direction_check(setup, monkeypatch):
    root, _ = setup
    monkeypatch.setattr(sacrebleu.utils, "get_source_file", lambda *_: str(root / "test.en"))
    monkeypatch.setattr(sacrebleu.utils, "get_reference_files", lambda *_: [str(root / "test.de")])
    report = evaluate(eval_cfg(root, src=None, ref=None, testset="wmt14/full", langpair="en-de"))
    assert report["test"] == "wmt14_full.en-de" and report["bleu"] == pytest.approx(100.0)
    assert report["bleu_tokenized"] == pytest.approx(100.0)
    assert report["signatures"]["bleu_tokenized"].startswith("moses(de)+compound-split|")
    with pytest.raises(MTError, match="the checkpoint translates en-de but langpair=de-en"):
        evaluate(eval_cfg(root, src=None, ref=None, testset="wmt14/full", langpair="de-en"))


def test_langpair_may_be_spelt_as_opus_mt_spells_it(setup, monkeypatch, tmp_path):
    """eng-deu is the checkpoint's en-de (and sacreBLEU's wmt14 en-de); deu-eng is refused; a Chinese or
    Japanese target given as zho, cmn_Hans, zho_Hant or jpn is scored with its own BLEU tokenizer."""
    root, _ = setup
    monkeypatch.setattr(sacrebleu.utils, "get_source_file", lambda *_: str(root / "test.en"))
    monkeypatch.setattr(sacrebleu.utils, "get_reference_files", lambda *_: [str(root / "test.de")])
    for langpair in ("eng-deu", "en-deu"):
        report = evaluate(eval_cfg(root, src=None, ref=None, testset="wmt14/full", langpair=langpair))
        assert report["bleu"] == pytest.approx(100.0) and "moses(de)+compound-split" in report["signatures"][
            "bleu_tokenized"]
    with pytest.raises(MTError, match="the checkpoint translates en-de but langpair=deu-eng"):
        evaluate(eval_cfg(root, langpair="deu-eng"))
    (tmp_path / "hyp.zh").write_text("一个男人在骑车。\n", encoding="utf-8")
    for langpair in ("eng-zho", "en-cmn_Hans", "eng-zho_Hant", "en-zh-Hans"):
        report = evaluate(eval_cfg(tmp_path, hyp="hyp.zh", ref="hyp.zh", src=None, langpair=langpair))
        assert "tok:zh" in report["signatures"]["bleu"], langpair
    with pytest.raises(MTError, match="'en-xx' is not a language pair"):
        evaluate(eval_cfg(tmp_path, hyp="hyp.zh", ref="hyp.zh", src=None, langpair="en-xx"))


def test_cli_prints_scores(setup):
    root, _ = setup
    proc = run_cli([str(ROOT / "evaluate.py"), "checkpoint=run/checkpoints/best.pt", "src=test.en",
                    "ref=test.de", "output_dir=cli", "decode.beam_size=2", "decode.max_len_b=5",
                    "progress=false"], root, timeout=120, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "BLEU = 100.00" in proc.stdout
    assert (root / "cli" / "best.test.json").is_file()
    bad = run_cli([str(ROOT / "evaluate.py"), "checkpoint=run/checkpoints/best.pt"], root, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: evaluate needs src=FILE and ref=FILE, or testset=NAME langpair=SRC-TGT"


def test_character_loops_count_runs_the_source_lacks():
    from mt.eval.metrics import character_loop_lines, character_runs

    assert character_runs("Die Wönnnnnnnnnt", 5) == {"n": 9}
    assert character_runs("Haar  Paar     aaaa", 5) == {}  # whitespace runs and runs of 4 do not count
    srcs = ["The wind", "GOAL!!!!!", "A man", "Zzzzzz sleep", "A woman"]
    hyps = ["Die Wönnnnnnnnnt", "TOOOR!!!!!", "Ein Mann", "Zzzzzzzz Schlaf", "„GEEEEEE“"]
    # Line 1 loops; line 2 copies the source's "!!!!!"; line 4's "zzzzzzz" has a run in the source.
    assert character_loop_lines(srcs, hyps) == [0, 4]
    assert character_loop_lines(srcs, hyps, min_run=3) == [0, 1, 4]  # "OOO" is not in the source


def test_repetitions_script(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("repetitions", ROOT / "scripts" / "repetitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "src").write_text("The wind\nA man\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("Die Wönnnnnnnnnt\nEin Mann\n", encoding="utf-8")
    module.main(["--src", str(tmp_path / "src"), str(tmp_path / "hyp")])
    out = capsys.readouterr().out
    assert "2      1  50.00%" in out and "line 1: Die Wönnnnnnnnnt" in out
