"""Several directions in one model (``data.pairs``): tagged sources, per-pair splits, temperature
sampling, and choosing the target language at translation time."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest

from mt.config import ConfigError, DataConfig, TokenizerConfig, TrainConfig, validate
from mt.data.batching import temperature_sample
from mt.data.errors import DataError
from mt.data.prepare import load_prepared, prepare_data
from mt.data.sources import iter_pairs, source_for
from mt.data.sources.multi import tag_language, target_tag, with_target
from mt.train.setup import pair_groups

WORDS = {"en": "a man dog sees the house two cats run".split(), "de": "ein Mann Hund sieht das Haus zwei Katzen laufen".split(),
         "fr": "un homme chien voit la maison deux chats courent".split(), "cs": "muž pes vidí dům dva kočky běží a ten".split(),
         "ro": "un om câine vede casa doi pisici aleargă și".split()}


def write_corpus(root: Path, sizes: dict[str, int]) -> Path:
    """Line-aligned train/valid/test files in en, de, fr and cs (``sizes``: lines per split)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        rng = random.Random(split)
        rows = [[rng.randrange(9) for _ in range(rng.randint(2, 7))] for _ in range(n)]
        for lang, words in WORDS.items():
            (root / f"{split}.{lang}").write_text("".join(" ".join(words[i] for i in r) + "\n" for r in rows),
                                                  encoding="utf-8")
    return root


def multi_cfg(root: Path, pairs: list[str], **extra) -> DataConfig:
    cfg = TrainConfig()
    cfg.data = DataConfig(source="local", local_dir=str(root), pairs=pairs, cache_dir=str(root / "cache"),
                          num_workers=1, **extra)
    return validate(cfg).data


def test_the_config_names_the_language_sets_and_refuses_bad_pairs(tmp_path):
    cfg = multi_cfg(tmp_path, ["en-de", "en-fr"])
    assert (cfg.src_lang, cfg.tgt_lang) == ("en", "de+fr")
    for bad in (["en-de", "en-de"], ["ende"], ["en-en"]):
        with pytest.raises(ConfigError, match="data.pairs"):
            multi_cfg(tmp_path, bad)


def test_pairs_follow_each_other_with_their_target_tags(tmp_path):
    root = write_corpus(tmp_path / "c", {"train": 5, "valid": 3, "test": 4})
    cfg = multi_cfg(root, ["en-de", "en-fr", "de-cs"])
    valid = list(iter_pairs(cfg, "valid"))
    en, de, fr, cs = ((root / f"valid.{lang}").read_text(encoding="utf-8").splitlines() for lang in ("en", "de", "fr", "cs"))
    assert valid == ([(f"<2de> {s}", t) for s, t in zip(en, de, strict=True)]
                     + [(f"<2fr> {s}", t) for s, t in zip(en, fr, strict=True)]
                     + [(f"<2cs> {s}", t) for s, t in zip(de, cs, strict=True)])
    source = source_for(cfg, root)
    assert source.pair_sizes("test") == [("en-de", 4), ("en-fr", 4), ("de-cs", 4)]
    assert source.user_symbols() == ["<2cs>", "<2de>", "<2fr>"]
    assert tag_language("<2fr> a man") == "fr" and tag_language("a man") is None and target_tag("de") == "<2de>"


def test_one_prepared_corpus_with_per_pair_slices_and_whole_tags(tmp_path):
    root = write_corpus(tmp_path / "c", {"train": 300, "valid": 3, "test": 4})
    cfg = multi_cfg(root, ["en-de", "en-fr", "en-cs"])
    prepared = load_prepared(prepare_data(cfg, TokenizerConfig(vocab_size=60, byte_fallback=False), tmp_path,
                                          progress=False))
    assert prepared.pair_slices("test") == [("en-de", 0, 4), ("en-fr", 4, 8), ("en-cs", 8, 12)]
    tok = prepared.tokenizer
    tags = [tok.piece_id(target_tag(lang)) for lang in ("cs", "de", "fr")]
    assert None not in tags and tok.piece_id("<2xx>") is None
    train = prepared.split("train")
    groups = train.source_groups(tags)
    counts = np.bincount(groups).tolist()  # every sentence found by its tag; cleaning drops repeats alike
    assert (groups >= 0).all() and sum(counts) == len(train) and counts[0] == counts[1] == counts[2] > 250


def test_temperature_sampling_lifts_small_pairs_and_keeps_the_epoch_size():
    groups = np.array([0] * 900 + [1] * 100)
    for temperature, small in ((1.0, 100), (5.0, 390)):
        epoch = temperature_sample(groups, temperature, (1, 2))
        assert len(epoch) == 1000 and np.bincount(groups[epoch])[1] == pytest.approx(small, abs=2)
    once = temperature_sample(groups, 1.0, (1, 2))
    assert once.tolist() == list(range(1000))
    assert temperature_sample(groups, 5.0, (1, 2)).tolist() != temperature_sample(groups, 5.0, (1, 3)).tolist()


def test_translating_picks_the_target_per_run_or_per_line(caplog):
    pairs = ["en-de", "en-fr"]
    assert with_target(["a man", "", "<2de> a dog"], pairs, "fr") == ["<2fr> a man", "", "<2de> a dog"]
    assert with_target(["<2de> a man"], pairs, None) == ["<2de> a man"]
    with pytest.raises(DataError, match="choose with tgt_lang=XX"):
        with_target(["a man"], pairs, None)
    with caplog.at_level(logging.WARNING, logger="mt"):
        with_target(["ein Mann"], pairs, "fr", src_lang="de")
    assert "de->fr was never trained" in caplog.text
    assert with_target(["a man"], [], "de") == ["a man"]  # a single-pair model takes lines as they are


def test_the_target_may_be_spelt_as_opus_mt_spells_it(caplog):
    """tgt_lang=deu or cmn_Hans asks a model trained on en-de and en-zh for its own tags."""
    pairs = ["en-de", "en-zh"]
    with caplog.at_level(logging.WARNING, logger="mt"):
        for code, tag in (("deu", "<2de>"), ("cmn_Hans", "<2zh>"), ("zho_Hant", "<2zh>"), ("zh", "<2zh>")):
            assert with_target(["a man"], pairs, code, src_lang="eng") == [f"{tag} a man"]
    assert "never trained" not in caplog.text


def write_hub(root: Path, sizes: dict[str, int]) -> Path:
    """A local dataset in the hub's parquet layout with one config per pair (``de-en``: ``sizes`` train
    rows of random sentences, 3 valid and test rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for pair, n in sizes.items():
        src, tgt = pair.split("-")
        rng = random.Random(pair)
        for split, rows in (("train", n), ("validation", 3), ("test", 3)):
            picks = [[rng.randrange(9) for _ in range(rng.randint(2, 14))] for _ in range(rows)]
            table = [{"translation": {lang: " ".join(WORDS[lang][i] for i in r) for lang in (src, tgt)}} for r in picks]
            (root / pair).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(table), root / pair / f"{split}-00000-of-00001.parquet")
    return root


def test_temperature_sampling_draws_by_pair_in_a_many_to_one_corpus(tmp_path, monkeypatch):
    """[ro-en, de-en] share the tag <2en>: the groups are the pairs, as meta.json counts them after
    cleaning and after binarization drops sentences over max_tokens_per_sentence (here many Romanian
    ones, which would shift a boundary taken from the cleaned counts), so T=5 lifts ro-en."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    cfg = TrainConfig()
    cfg.data = DataConfig(source="hf", hf_path=str(write_hub(tmp_path / "hub", {"ro-en": 150, "de-en": 400})),
                          pairs=["ro-en", "de-en"], cache_dir=str(tmp_path / "cache"), num_workers=1,
                          max_tokens_per_sentence=40)
    prepared = load_prepared(prepare_data(validate(cfg).data, TokenizerConfig(vocab_size=50, byte_fallback=False),
                                          tmp_path, progress=False))
    train = prepared.split("train")
    (ro, n_ro), (de, n_de) = prepared.meta["pairs"]["train"]
    assert (ro, de) == ("ro-en", "de-en") and n_ro + n_de == len(train) and 30 < n_ro < n_de / 4
    assert prepared.meta["splits"]["train"]["dropped_too_long"] > 50
    groups = pair_groups(prepared, len(train))
    romanian = [bool(set(prepared.tokenizer.decode_source(src).split()) & set(WORDS["ro"])) for src, _ in train]
    assert (groups == 0).tolist() == romanian  # every sentence in its own pair
    lifted = temperature_sample(groups, 5.0, (1, 2))
    assert len(lifted) == len(train) and np.bincount(groups[lifted])[0] > 2 * n_ro
