"""Back-translated and distilled corpora (``data.source=backtranslate|distill``): what they contain,
how they are checked, cached and resumed. The translating model is replaced by a function here; the
smoke tests train real ones."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mt.config import DataConfig, DecodeConfig, SyntheticConfig, TokenizerConfig
from mt.data.errors import DataError
from mt.data.sources import iter_pairs, source_for
from mt.data.tokenizer import train_tokenizer
from mt.decode import synthetic
from mt.decode.synthetic import CT2_DIR, build_synthetic, check_models
from tests.unit.test_translate import make_checkpoint

EN = ["a dog runs", "two men talk", "the girl is reading", "a cat sleeps on the sofa", "people walk in the park",
      "a boy plays football", "the woman drinks coffee", "three children are singing"]
DE = ["ein hund rennt", "zwei männer reden", "das mädchen liest", "eine katze schläft auf dem sofa",
      "leute gehen im park spazieren", "ein junge spielt fußball", "die frau trinkt kaffee",
      "drei kinder singen"]
MONO = ["der mann schläft", "eine frau rennt im park", "die kinder lesen ein buch", "zwei hunde spielen",
        "ein mädchen trinkt tee", "der junge singt"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for prefix in ("train", "valid", "test"):
        (root / f"{prefix}.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
        (root / f"{prefix}.de").write_text("\n".join(DE) + "\n", encoding="utf-8")
    (root / "mono.de").write_text("\n".join(MONO) + "\n", encoding="utf-8")
    (root / "model.pt").write_bytes(b"a model")
    return root


@pytest.fixture
def calls(monkeypatch) -> list:
    """The fake model: upper-cases each line; records (first line index, number of lines) per call."""
    seen: list = []

    def translator(job, syn):
        def translate(lines, start, progress):
            seen.append((start, len(lines)))
            return [line.upper() for line in lines]
        return translate, "upper-case"
    monkeypatch.setattr(synthetic, "_translator", translator)
    return seen


def _cfg(corpus: Path, source: str, **syn) -> DataConfig:
    return DataConfig(source=source, base_source="local", local_dir=str(corpus), cache_dir=str(corpus / "cache"),
                      synthetic=SyntheticConfig(models=[str(corpus / "model.pt")], **syn))


def test_backtranslation_adds_tagged_pairs_after_the_parallel_ones(corpus, calls):
    cfg = _cfg(corpus, "backtranslate", mono=str(corpus / "mono.de"), tag="<BT>", ratio=0.5)
    with pytest.raises(DataError, match="not built yet"):
        list(iter_pairs(cfg, "train"))
    build_synthetic(cfg, corpus, progress=False)
    pairs = list(iter_pairs(cfg, "train"))
    assert pairs[:len(EN)] == list(zip(EN, DE, strict=True))
    assert pairs[len(EN):] == [(f"<BT> {m.upper()}", m) for m in MONO[:4]]  # ratio 0.5 of 8 parallel pairs
    assert list(iter_pairs(cfg, "valid")) == list(zip(EN, DE, strict=True))
    assert source_for(cfg, corpus).user_symbols() == ["<BT>"]
    build_synthetic(cfg, corpus, progress=False)
    assert len(calls) == 1  # cached: a second build translates nothing


def test_distillation_replaces_or_joins_the_references(corpus, calls):
    replace = _cfg(corpus, "distill")
    build_synthetic(replace, corpus, progress=False)
    assert list(iter_pairs(replace, "train")) == [(s, s.upper()) for s in EN]
    join = dataclasses.replace(replace, synthetic=dataclasses.replace(replace.synthetic, mode="join"))
    build_synthetic(join, corpus, progress=False)
    assert list(iter_pairs(join, "train")) == [p for s, r in zip(EN, DE, strict=True) for p in ((s, r), (s, s.upper()))]
    assert len(calls) == 1  # the mode does not change what the teacher translates


def test_the_cache_follows_the_model_and_the_text(corpus, calls):
    cfg = _cfg(corpus, "backtranslate", mono=str(corpus / "mono.de"))
    first = build_synthetic(cfg, corpus, progress=False)
    (corpus / "model.pt").write_bytes(b"another model")
    os.utime(corpus / "model.pt", ns=(1, 1))
    second = build_synthetic(cfg, corpus, progress=False)
    assert first.parent != second.parent and len(calls) == 2


def test_a_crash_resumes_after_the_last_finished_chunk(corpus, monkeypatch):
    starts: list[int] = []

    def translator(job, syn):
        def translate(lines, start, progress):
            starts.append(start)
            if start == 4 and len(starts) == 3:
                raise KeyboardInterrupt  # the first attempt dies in its third chunk
            return [line.upper() for line in lines]
        return translate, "upper-case"
    monkeypatch.setattr(synthetic, "_translator", translator)
    cfg = _cfg(corpus, "backtranslate", mono=str(corpus / "mono.de"), chunk_lines=2)
    with pytest.raises(KeyboardInterrupt):
        build_synthetic(cfg, corpus, progress=False)
    out = build_synthetic(cfg, corpus, progress=False)
    assert starts == [0, 2, 4, 4]
    assert out.read_text(encoding="utf-8").splitlines() == [m.upper() for m in MONO]


def test_bad_monolingual_text_is_reported(corpus, calls):
    (corpus / "holes.de").write_text("ein hund\n\nzwei katzen\n \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"holes.de: 2 empty line\(s\) \(line 2, 4\)"):
        build_synthetic(_cfg(corpus, "backtranslate", mono=str(corpus / "holes.de")), corpus, progress=False)
    (corpus / "english.txt").write_text("\n".join(EN) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="reads like the source language 'en'"):
        build_synthetic(_cfg(corpus, "backtranslate", mono=str(corpus / "english.txt")), corpus, progress=False)
    assert calls == []
    with pytest.raises(DataError, match="needs data.synthetic.mono"):
        build_synthetic(_cfg(corpus, "backtranslate"), corpus, progress=False)
    with pytest.raises(DataError, match="base_source='distill' is not one of demo, hf, local"):
        source_for(dataclasses.replace(_cfg(corpus, "distill"), base_source="distill"), corpus)


def test_models_of_the_wrong_direction_or_vocabulary_are_refused(corpus, tmp_path):
    """With byte fallback, as tokenizers are trained by default: Chinese becomes byte pieces, not <unk>,
    and is refused all the same. A pair spelt as OPUS-MT spells it (eng, deu) is the same pair."""
    tok = train_tokenizer([corpus / "train.en", corpus / "train.de"], TokenizerConfig(vocab_size=300),
                          tmp_path / "spm")
    source = source_for(_cfg(corpus, "distill"), corpus)
    job = dataclasses.replace(source.job(), input=corpus / "train.en")
    check_models(job, ("en", "de"), tok)
    check_models(job, ("eng", "deu"), tok)
    with pytest.raises(DataError, match="translate de->en, but this job needs en->de"):
        check_models(job, ("de", "en"), tok)
    (tmp_path / "other.txt").write_text("一只狗在跑\n两个男人在说话\n", encoding="utf-8")
    with pytest.raises(DataError, match="its vocabulary does not match this data"):
        check_models(dataclasses.replace(job, input=tmp_path / "other.txt"), ("en", "de"), tok)


def test_a_checkpoint_is_converted_to_ctranslate2_on_cpu(corpus, tmp_path, caplog):
    """backend=auto converts one checkpoint to CTranslate2 int8 inside the corpus's cache directory and
    translates with it; backend=mt is another corpus, translated by mt's decoder."""
    pytest.importorskip("ctranslate2")
    tok = train_tokenizer([corpus / "train.en", corpus / "train.de"],
                          TokenizerConfig(vocab_size=60, byte_fallback=False), tmp_path / "spm")
    make_checkpoint(corpus / "model.pt", tok)
    greedy = DecodeConfig(beam_size=1, device="cpu", max_len_a=0.0, max_len_b=8)
    auto = _cfg(corpus, "distill", decode=greedy)
    with caplog.at_level("INFO", logger="mt"):
        out = build_synthetic(auto, corpus, progress=False)
    assert (out.parent / CT2_DIR / "model.bin").is_file() and "ctranslate2 (int8)" in caplog.text
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(EN)
    torch_cfg = dataclasses.replace(auto, synthetic=dataclasses.replace(auto.synthetic, backend="mt"))
    other = build_synthetic(torch_cfg, corpus, progress=False)
    assert other.parent != out.parent and not (other.parent / CT2_DIR).exists()
    assert len(other.read_text(encoding="utf-8").splitlines()) == len(EN)
    ensemble = dataclasses.replace(auto.synthetic, models=[str(corpus / "model.pt")] * 2, backend="ctranslate2")
    with pytest.raises(DataError, match="backend=ctranslate2 converts one checkpoint"):
        build_synthetic(dataclasses.replace(auto, synthetic=ensemble), corpus, progress=False)


def test_the_corpus_is_named_by_the_backend_that_translates(corpus, monkeypatch):
    """backend=auto is resolved before the corpus's cache key is computed: on a GPU machine mt's
    decoder translates (the corpus of backend=mt), on CPU with CTranslate2 installed the conversion
    does (the corpus of backend=ctranslate2); they are two corpora, not one."""
    pytest.importorskip("ctranslate2")

    def directory(backend: str) -> Path:
        return source_for(_cfg(corpus, "distill", backend=backend), corpus).job().directory

    mt_dir, ct2_dir = directory("mt"), directory("ctranslate2")
    assert mt_dir != ct2_dir
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert directory("auto") == mt_dir
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert directory("auto") == ct2_dir
    ensemble = dataclasses.replace(_cfg(corpus, "distill").synthetic, models=[str(corpus / "model.pt")] * 2)
    as_mt = dataclasses.replace(ensemble, backend="mt")
    jobs = [source_for(dataclasses.replace(_cfg(corpus, "distill"), synthetic=s), corpus).job() for s in (ensemble, as_mt)]
    assert jobs[0].directory == jobs[1].directory  # an ensemble always translates with mt's decoder


def test_sampling_with_ctranslate2_draws_the_same_corpus_from_the_same_seed(corpus, tmp_path):
    """data.synthetic.seed seeds each chunk's draws on the CTranslate2 path too: a corpus built again
    (here in another cache directory) is the same; another seed draws another corpus."""
    pytest.importorskip("ctranslate2")
    tok = train_tokenizer([corpus / "train.en", corpus / "train.de"],
                          TokenizerConfig(vocab_size=60, byte_fallback=False), tmp_path / "spm")
    make_checkpoint(corpus / "model.pt", tok)
    sampled = DecodeConfig(sampling=True, device="cpu", max_len_a=0.0, max_len_b=8)

    def build(seed: int, cache: str) -> str:
        cfg = dataclasses.replace(_cfg(corpus, "distill", decode=sampled, seed=seed, chunk_lines=3),
                                  cache_dir=str(tmp_path / cache))
        out = build_synthetic(cfg, corpus, progress=False)
        assert (out.parent / CT2_DIR).is_dir()
        return out.read_text(encoding="utf-8")

    first = build(1, "a")
    assert build(1, "b") == first
    assert build(2, "c") != first
