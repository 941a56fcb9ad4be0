"""Real Chinese and Japanese text (200-line extracts of the WMT21 news test sets, en-zh, zh-en, en-ja,
ja-en: tests/fixtures/wmt21/README.md) through cleaning, SentencePiece, BLEU and the check of a
teacher's vocabulary. Nothing here needs the network."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mt.config import DataConfig, TokenizerConfig, TrainConfig, validate
from mt.data.clean import clean_pairs, normalize_text
from mt.data.errors import DataError
from mt.data.sources import source_for
from mt.data.sources.synthetic import SyntheticJob
from mt.data.tokenizer import train_tokenizer
from mt.decode.synthetic import check_models
from mt.eval.metrics import score_corpus
from mt.utils.languages import language

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wmt21"
DIRECTIONS = ("en-zh", "zh-en", "en-ja", "ja-en")


def fixture(direction: str, kind: str) -> Path:
    """``kind`` ``src``, ``ref`` or ``hyp`` of one direction."""
    src, tgt = direction.split("-")
    return FIXTURES / f"{direction}.{kind}.{src if kind == 'src' else tgt}"


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def pairs_of(direction: str) -> list[tuple[str, str]]:
    return list(zip(read(fixture(direction, "src")), read(fixture(direction, "ref")), strict=True))


def test_the_fixtures_are_line_aligned_and_complete():
    for direction in DIRECTIONS:
        assert [len(read(fixture(direction, kind))) for kind in ("src", "ref", "hyp")] == [200] * 3, direction


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_cleaning_keeps_real_chinese_and_japanese_pairs(direction):
    """At least 99% survive: a Chinese or Japanese side is measured in characters, and compared with
    English words at its characters per word (en-ja kept 69% when characters counted as words)."""
    src, tgt = direction.split("-")
    stats: list = []
    kept = list(clean_pairs(pairs_of(direction), DataConfig(src_lang=src, tgt_lang=tgt), stats))
    assert len(kept) >= 198, stats[0].as_dict()


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """Writes fixture directions into a local directory in the hub's parquet layout, one config per
    pair as WMT names it (``zh-en`` for en-zh), every split the same 200 lines."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")

    def write(directions: list[str]) -> Path:
        root = tmp_path / "hub" / "+".join(directions)
        for direction in directions:
            src, tgt = direction.split("-")
            config = root / f"{src if tgt == 'en' else tgt}-en"
            config.mkdir(parents=True)
            rows = [{"translation": {src: s, tgt: t}} for s, t in pairs_of(direction)]
            for split in ("train", "validation", "test"):
                pq.write_table(pa.Table.from_pylist(rows), config / f"{split}-00000-of-00001.parquet")
        return root
    return write


@pytest.mark.parametrize("pairs", [["en-zh", "en-ja"], ["zh-en", "ja-en"]])
def test_cleaning_measures_each_pair_of_data_pairs_in_its_own_languages(pairs, hub, tmp_path):
    """With ``data.pairs`` the config's languages are sets (``ja+zh``) that name no language: each pair
    is measured in its own, also where two pairs share a target tag (``<2en>``)."""
    cfg = TrainConfig()
    cfg.data = DataConfig(source="hf", hf_path=str(hub(pairs)), pairs=pairs)
    data = validate(cfg).data
    stats: list = []
    kept = list(clean_pairs(source_for(data, tmp_path).pairs("train"), data, stats))
    assert stats[0].pairs == {pair: len(pairs_of(pair)) for pair in pairs} and len(kept) == 400, stats[0]


def test_a_sentencepiece_model_of_the_fixtures_covers_them(tmp_path):
    """Trained as prepare trains it (coverage from the languages, byte fallback): no ``<unk>``, and every
    normalized line comes back from its pieces; without byte fallback, full coverage gives no ``<unk>``."""
    lines = [normalize_text(line, "NFKC") for path in sorted(FIXTURES.glob("*-*.*")) for line in read(path)]
    text = tmp_path / "text.txt"  # normalized as prepare normalizes before training
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    coverage = language("zh").character_coverage
    for name, cfg in (("bytes", TokenizerConfig(vocab_size=4000, character_coverage=coverage)),
                      ("chars", TokenizerConfig(vocab_size=4000, character_coverage=1.0, byte_fallback=False))):
        tokenizer = train_tokenizer([text], cfg, tmp_path / name, num_threads=1)
        ids = tokenizer.encode_batch(lines)
        assert not any(tokenizer.unk_id in row for row in ids), name
        if cfg.byte_fallback:
            assert [tokenizer.decode(row) for row in ids] == lines


@pytest.mark.parametrize("direction, code, tokenizer", [("en-zh", "zho", "zh"), ("en-ja", "jpn", "ja-mecab")])
def test_bleu_equals_the_sacrebleu_command_line(direction, code, tokenizer):
    """mt's BLEU of a WMT21 submission against the reference is what ``sacrebleu REF -i HYP -l SRC-TGT``
    prints, score and signature, for a Chinese and a Japanese target (given as ``zho`` / ``jpn``)."""
    if tokenizer == "ja-mecab":
        pytest.importorskip("MeCab")
    hyp, ref = fixture(direction, "hyp"), fixture(direction, "ref")
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-l", direction, "-m",
                          "bleu", "-w", "4", "--format", "json"], capture_output=True, text=True, check=True)
    expected = json.loads(cli.stdout)
    ours = score_corpus(read(hyp), read(ref), code, tokenized=False)
    assert ours["bleu"] == pytest.approx(expected["score"], abs=5e-5)
    assert ours["signatures"]["bleu"] == expected["signature"] and f"tok:{tokenizer}" in expected["signature"]
    assert 20 < ours["bleu"] < 60  # a real system against a real reference


def test_an_english_teacher_with_byte_fallback_is_refused_for_chinese_input(tmp_path):
    """Byte fallback spells Chinese in ``<0x..>`` pieces, never ``<unk>``: those count as uncovered."""
    english = [fixture("en-zh", "src"), fixture("en-ja", "src"), fixture("zh-en", "ref")]
    teacher = train_tokenizer(english, TokenizerConfig(vocab_size=1000), tmp_path / "en", num_threads=1)
    assert teacher.unk_id not in [i for line in read(fixture("zh-en", "src")) for i in teacher.encode(line)]
    job = SyntheticJob(directory=tmp_path, input=fixture("en-zh", "src"), models=[tmp_path / "teacher.pt"],
                       src_lang="en", tgt_lang="zh")
    check_models(job, ("eng", "zho"), teacher)  # English input, OPUS-MT's spelling of the pair
    with pytest.raises(DataError, match="byte pieces to .*teacher.pt's tokenizer"):
        check_models(dataclasses.replace(job, input=fixture("zh-en", "src"), src_lang="zh", tgt_lang="en"),
                     ("?", "?"), teacher)
