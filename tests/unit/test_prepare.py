"""prepare_data end to end on tiny local corpora: content, cache reuse and invalidation, crash safety."""

import dataclasses
import json
import logging
import os
import random
import sys
import types
from pathlib import Path

import pytest

import mt.data.prepare as prepare_mod
import mt.data.subwords as subwords_mod
from mt.config import DataConfig, TokenizerConfig
from mt.data.errors import DataError
from mt.data.prepare import cache_key, load_prepared, prepare_data

EN = "the a small big red green house dog cat tree car sees walks".split()
DE = "der die das klein groß rot grün Haus Hund Katze Baum Auto sieht läuft".split()


def random_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        idx = [rng.randrange(len(EN)) for _ in range(rng.randint(2, 8))]
        out.append((" ".join(EN[i] for i in idx), " ".join(DE[i] for i in idx)))
    return out


def write_split(directory: Path, prefix: str, pairs) -> None:
    (directory / f"{prefix}.en").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    (directory / f"{prefix}.de").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")


VALID = [("the  dog", "der Hund"), ("Berlin", "Berlin"), ("the dog", "der Hund"), ("Ｈｕｎｄ", "der Ｈｕｎｄ")]


@pytest.fixture
def corpus(tmp_path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    train = random_pairs(300, seed=1) + [("Berlin", "Berlin"), ("", "leer")]
    write_split(d, "train", train)
    write_split(d, "valid", VALID)
    write_split(d, "test", random_pairs(7, seed=2))
    return d


def configs(corpus: Path, **data_overrides) -> tuple[DataConfig, TokenizerConfig]:
    data = DataConfig(source="local", local_dir=str(corpus), name="tiny", cache_dir="cache", num_workers=1)
    data = dataclasses.replace(data, **data_overrides)
    return data, TokenizerConfig(vocab_size=40, byte_fallback=False)


def test_prepare_writes_a_complete_loadable_directory(corpus, tmp_path):
    data_cfg, tok_cfg = configs(corpus)
    directory = prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert directory.parent == tmp_path / "cache"
    assert directory.name == f"tiny-en-de-{cache_key(data_cfg, tok_cfg)[:12]}"  # one directory, both directions
    prepared = load_prepared(directory)
    meta = prepared.meta
    assert meta["clean"]["total"] == 302 and meta["clean"]["copy"] == 1 and meta["clean"]["empty"] == 1
    train = prepared.split("train")
    assert len(train) == meta["splits"]["train"]["pairs"] == meta["clean"]["kept"]
    assert prepared.tokenizer.vocab_size == 40 == meta["vocab_size"]
    # valid keeps every pair (duplicates and copies too), normalized: NFKC folds full-width letters
    valid = prepared.split("valid")
    assert len(valid) == 4
    assert prepared.text_path("valid", "en").read_text(encoding="utf-8").splitlines() == [
        "the dog", "Berlin", "the dog", "Hund"]
    assert [prepared.tokenizer.decode(valid[i][1]) for i in range(4)] == ["der Hund", "Berlin", "der Hund", "der Hund"]
    assert len(prepared.split("test")) == 7
    assert not list(directory.glob("scratch")) and not list(tmp_path.glob("cache/.*tmp*"))
    with pytest.raises(DataError, match="only for valid and test"):
        prepared.text_path("train", "en")


def test_second_prepare_reuses_the_cache(corpus, tmp_path, caplog):
    data_cfg, tok_cfg = configs(corpus)
    first = prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    stamp = (first / "meta.json").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="mt.data"):
        second = prepare_data(dataclasses.replace(data_cfg, num_workers=2), tok_cfg, tmp_path, progress=False)
    assert second == first
    assert (first / "meta.json").stat().st_mtime_ns == stamp
    assert "reusing prepared data" in caplog.text


def test_cache_key_tracks_settings_that_shape_the_output(corpus):
    data_cfg, tok_cfg = configs(corpus)
    key = cache_key(data_cfg, tok_cfg)
    assert cache_key(dataclasses.replace(data_cfg, max_words=10), tok_cfg) != key
    assert cache_key(data_cfg, dataclasses.replace(tok_cfg, vocab_size=41)) != key
    assert cache_key(dataclasses.replace(data_cfg, num_workers=8), tok_cfg) == key
    assert cache_key(dataclasses.replace(data_cfg, cache_dir="elsewhere"), tok_cfg) == key
    # settings of another source do not matter for a local corpus
    assert cache_key(dataclasses.replace(data_cfg, hf_path="other/dataset", demo_seed=3), tok_cfg) == key


def test_relative_and_absolute_paths_share_one_cache(corpus, tmp_path, caplog, monkeypatch):
    data_cfg, tok_cfg = configs(corpus)  # local_dir is absolute: tmp_path/corpus
    first = prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    (tmp_path / "link").symlink_to(corpus, target_is_directory=True)
    spellings = ["corpus", "./corpus/../corpus/", "link", str(tmp_path / "link")]
    with caplog.at_level(logging.INFO, logger="mt.data"):
        for local_dir in spellings:  # relative to work_dir, with dots, through a symlink
            other = dataclasses.replace(data_cfg, local_dir=local_dir)
            assert prepare_data(other, tok_cfg, tmp_path, progress=False) == first, local_dir
    assert caplog.text.count("reusing prepared data") == len(spellings)
    assert "input files changed" not in caplog.text
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the directory and its lock file
    # without work_dir, relative paths count from the current directory; a local HF copy likewise
    monkeypatch.chdir(tmp_path)
    relative = dataclasses.replace(data_cfg, local_dir="corpus")
    assert cache_key(relative, tok_cfg) == cache_key(data_cfg, tok_cfg)
    (tmp_path / "hf_copy").mkdir()
    hf = DataConfig(source="hf", hf_path="hf_copy")
    assert cache_key(hf, tok_cfg) == cache_key(dataclasses.replace(hf, hf_path=str(tmp_path / "hf_copy")), tok_cfg)
    hub_id = DataConfig(source="hf", hf_path="wmt/wmt14")  # not a directory here: a hub id, kept as is
    assert cache_key(hub_id, tok_cfg) != cache_key(dataclasses.replace(hub_id, hf_path="wmt/wmt16"), tok_cfg)


def test_changed_setting_builds_a_new_directory(corpus, tmp_path):
    data_cfg, tok_cfg = configs(corpus)
    first = prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    second = prepare_data(data_cfg, dataclasses.replace(tok_cfg, vocab_size=35), tmp_path, progress=False)
    third = prepare_data(dataclasses.replace(data_cfg, max_words=3), tok_cfg, tmp_path, progress=False)
    assert len({first, second, third}) == 3
    assert load_prepared(second).tokenizer.vocab_size == 35
    assert load_prepared(third).meta["clean"]["too_many_words"] > 0


def test_leftovers_of_a_killed_run_are_ignored_and_removed(corpus, tmp_path):
    data_cfg, tok_cfg = configs(corpus)
    final = prepare_mod.prepared_dir(data_cfg, tok_cfg, tmp_path)
    final.parent.mkdir(parents=True)
    stale_tmp = final.parent / f".{final.name}.tmp-99999"
    stale_tmp.mkdir()
    (stale_tmp / "train.en.bin").write_bytes(b"\0" * 10)
    final.mkdir()  # a directory without meta.json is not a cache
    (final / "train.en.bin").write_bytes(b"junk")
    directory = prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert directory == final and not stale_tmp.exists()
    assert len(load_prepared(directory).split("train")) > 0


def test_failure_midway_leaves_no_cache_and_rerun_succeeds(corpus, tmp_path, monkeypatch):
    data_cfg, tok_cfg = configs(corpus)
    real = prepare_mod.binarize_pairs

    def failing(pairs, model_path, out_dir, split, *args, **kwargs):
        if split == "valid":
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the valid split
        return real(pairs, model_path, out_dir, split, *args, **kwargs)

    monkeypatch.setattr(prepare_mod, "binarize_pairs", failing)
    with pytest.raises(KeyboardInterrupt):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    final = prepare_mod.prepared_dir(data_cfg, tok_cfg, tmp_path)
    assert not final.exists() and not list(final.parent.glob(".*.tmp-*"))
    monkeypatch.setattr(prepare_mod, "binarize_pairs", real)
    assert prepare_data(data_cfg, tok_cfg, tmp_path, progress=False) == final
    assert json.loads((final / "meta.json").read_text())["splits"]["valid"]["pairs"] == 4


def test_corpus_empty_after_cleaning_is_an_error(tmp_path):
    d = tmp_path / "copies"
    d.mkdir()
    write_split(d, "train", [("Berlin", "Berlin"), ("Paris", "Paris")])
    write_split(d, "valid", VALID)
    write_split(d, "test", VALID)
    data_cfg, tok_cfg = configs(d)
    with pytest.raises(DataError, match="removed all 2 train pairs.*data.remove_copies"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert not list((tmp_path / "cache").iterdir()) or all(
        p.name.endswith(".lock") for p in (tmp_path / "cache").iterdir())


def test_every_train_pair_too_long_is_an_error(corpus, tmp_path):
    data_cfg, tok_cfg = configs(corpus, max_tokens_per_sentence=1)
    with pytest.raises(DataError, match="exceed data.max_tokens_per_sentence=1"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)


def test_edited_local_files_are_reported_on_reuse(corpus, tmp_path, caplog):
    data_cfg, tok_cfg = configs(corpus)
    prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    write_split(corpus, "test", random_pairs(9, seed=5))
    with caplog.at_level(logging.WARNING, logger="mt.data"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert "input files changed" in caplog.text and "test.de" in caplog.text and "train.de" not in caplog.text


def test_copied_local_files_with_new_times_are_not_reported(corpus, tmp_path, caplog):
    """A copy or a sync gives the same content new modification times: the recorded digest says
    nothing changed. The same size with other content is still reported."""
    data_cfg, tok_cfg = configs(corpus)
    prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    for path in corpus.iterdir():
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with caplog.at_level(logging.WARNING, logger="mt.data"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert "input files changed" not in caplog.text
    valid = next(corpus.glob("*valid*.en"))
    text = valid.read_bytes()
    valid.write_bytes(text[::-1])  # same size, other content, another time
    os.utime(valid, ns=(valid.stat().st_atime_ns, valid.stat().st_mtime_ns + 2 * 10**9))
    with caplog.at_level(logging.WARNING, logger="mt.data"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)
    assert "input files changed" in caplog.text and valid.name in caplog.text


def test_demo_source(tmp_path, monkeypatch):
    pairs = random_pairs(200, seed=7)
    fake = types.SimpleNamespace(
        generate_demo_corpus=lambda sizes, seed: {"train": pairs, "valid": pairs[:3], "test": pairs[3:5]})
    monkeypatch.setitem(sys.modules, "mt.data.demo.corpus", fake)
    data_cfg = DataConfig(source="demo", name="demo", cache_dir=str(tmp_path / "c"), num_workers=1)
    prepared = load_prepared(prepare_data(data_cfg, TokenizerConfig(vocab_size=40, byte_fallback=False),
                                          tmp_path, progress=False))
    assert len(prepared.split("valid")) == 3
    assert prepared.text_path("test", "de").read_text(encoding="utf-8").splitlines() == [t for _, t in pairs[3:5]]


def test_load_prepared_rejects_other_directories(tmp_path):
    with pytest.raises(DataError, match="not a prepared data directory"):
        load_prepared(tmp_path)


def test_missing_eval_file_fails_before_any_training(corpus, tmp_path, monkeypatch):
    (corpus / "test.de").unlink()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the tokenizer was trained before the inputs were checked")

    monkeypatch.setattr(subwords_mod, "train_tokenizer", must_not_run)
    data_cfg, tok_cfg = configs(corpus)
    with pytest.raises(DataError, match=r"test\.de does not exist"):
        prepare_data(data_cfg, tok_cfg, tmp_path, progress=False)


def test_prepare_from_offline_hf_directory(tmp_path, monkeypatch):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    root = tmp_path / "hub" / "de-en"
    root.mkdir(parents=True)
    splits = {"train": random_pairs(200, seed=8), "validation": random_pairs(5, seed=9),
              "test": random_pairs(6, seed=10)}
    for split, pairs in splits.items():
        rows = [{"translation": {"de": de, "en": en}} for en, de in pairs]
        pq.write_table(pa.Table.from_pylist(rows), root / f"{split}-00000-of-00001.parquet")
    data_cfg = DataConfig(source="hf", hf_path=str(tmp_path / "hub"), hf_config="de-en", name="hub",
                          cache_dir="cache", num_workers=1, src_lang="de", tgt_lang="en")
    prepared = load_prepared(prepare_data(data_cfg, TokenizerConfig(vocab_size=40, byte_fallback=False),
                                          tmp_path, progress=False), "de", "en")
    assert prepared.directory.name.startswith("hub-en-de-")  # one directory for both directions
    assert len(prepared.split("valid")) == 5 and len(prepared.split("test")) == 6
    assert prepared.text_path("valid", "de").read_text(encoding="utf-8").splitlines() == [
        de for _, de in splits["validation"]]
    src, tgt = prepared.split("test")[0]
    assert prepared.tokenizer.decode(src) == splits["test"][0][1]  # source side is German
    assert prepared.tokenizer.decode(tgt) == splits["test"][0][0]


def test_both_directions_share_one_prepared_directory(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split, n, seed in (("train", 300, 1), ("valid", 5, 2), ("test", 6, 3)):
        write_split(corpus, split, random_pairs(n, seed=seed))
    en_de, tok_cfg = configs(corpus)
    de_en = dataclasses.replace(en_de, src_lang="de", tgt_lang="en")
    first = prepare_data(de_en, tok_cfg, tmp_path, progress=False)  # the reverse direction first
    built = (first / "meta.json").stat().st_mtime_ns
    second = prepare_data(en_de, tok_cfg, tmp_path, progress=False)
    assert second == first and (first / "meta.json").stat().st_mtime_ns == built  # reused, not rebuilt
    # Built in one direction (English first) whichever came first: the same content as en->de alone.
    alone = prepare_data(en_de, tok_cfg, tmp_path / "alone", progress=False)
    for lang in ("en", "de"):  # (the SentencePiece files differ only in the training paths they record)
        assert (alone / f"train.{lang}.bin").read_bytes() == (first / f"train.{lang}.bin").read_bytes()
    assert json.loads((first / "meta.json").read_text())["src_lang"] == "en"
    forward, backward = load_prepared(first, "en", "de"), load_prepared(second, "de", "en")
    assert (backward.src_lang, backward.tgt_lang) == ("de", "en")
    src, tgt = forward.split("valid")[2]
    back_src, back_tgt = backward.split("valid")[2]
    assert (back_src.tolist(), back_tgt.tolist()) == (tgt.tolist(), src.tolist())
    assert backward.reference_path("test").read_text(encoding="utf-8") == (corpus / "test.en").read_text(
        encoding="utf-8")
    with pytest.raises(DataError, match="holds en->de, not en->fr"):
        load_prepared(first, "en", "fr")
