"""Sources: local text/TSV files, an offline HF dataset in the hub's parquet layout, the demo hook."""

import sys
import types
from pathlib import Path

import pytest

from mt.config import DataConfig
from mt.data.download import DataError, iter_pairs, read_lines, read_text_pairs, split_size_hint

PAIRS = {
    "train": [("a small house", "ein kleines Haus"), ("the dog", "der Hund"), ("good night", "gute Nacht")],
    "validation": [("the cat", "die Katze")],
    "test": [("one tree", "ein Baum"), ("two trees", "zwei Bäume")],
}


@pytest.fixture(autouse=True)
def _hf_cache_in_tmp(tmp_path, monkeypatch):
    """Keep the Arrow cache of the offline HF datasets out of the user's home."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def write_text(directory: Path, prefix: str, pairs, src="en", tgt="de") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{prefix}.{src}").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    (directory / f"{prefix}.{tgt}").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")


def write_hub_layout(root: Path, config: str = "de-en") -> Path:
    """A local directory laid out like a hub dataset: <root>/<config>/<split>-00000-of-00001.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / config).mkdir(parents=True)
    for split, pairs in PAIRS.items():
        rows = [{"translation": {"de": de, "en": en}} for en, de in pairs]
        pq.write_table(pa.Table.from_pylist(rows), root / config / f"{split}-00000-of-00001.parquet")
    return root


def test_local_text_pairs(tmp_path):
    write_text(tmp_path, "train", PAIRS["train"])
    cfg = DataConfig(source="local", local_dir=str(tmp_path))
    assert list(iter_pairs(cfg, "train")) == PAIRS["train"]
    assert split_size_hint(cfg, "train") == 3


def test_local_dir_relative_to_work_dir(tmp_path):
    write_text(tmp_path / "corpus", "train", PAIRS["train"])
    cfg = DataConfig(source="local", local_dir="corpus")
    assert list(iter_pairs(cfg, "train", work_dir=tmp_path)) == PAIRS["train"]


def test_local_reverse_direction_reads_other_suffix(tmp_path):
    write_text(tmp_path, "train", PAIRS["train"])
    cfg = DataConfig(source="local", local_dir=str(tmp_path), src_lang="de", tgt_lang="en")
    assert list(iter_pairs(cfg, "train")) == [(t, s) for s, t in PAIRS["train"]]


def test_local_tsv_pairs(tmp_path):
    (tmp_path / "valid.tsv").write_text("the cat\tdie Katze\r\nhello\tHallo\n", encoding="utf-8")
    cfg = DataConfig(source="local", local_dir=str(tmp_path), local_format="tsv")
    assert list(iter_pairs(cfg, "valid")) == [("the cat", "die Katze"), ("hello", "Hallo")]


def test_tsv_line_without_tab_names_file_and_line(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tb\nno tab here\n", encoding="utf-8")
    cfg = DataConfig(source="local", local_dir=str(tmp_path), local_format="tsv")
    with pytest.raises(DataError, match=r"train\.tsv:2: expected 'source<TAB>target'"):
        list(iter_pairs(cfg, "train"))


def test_byte_order_mark_and_crlf_are_not_part_of_the_text(tmp_path):
    path = tmp_path / "train.en"
    path.write_bytes("\ufeffthe cat\r\nthe dog\u2028still line two\n".encode())
    # only "\n" ends a line: U+2028 inside a sentence must not break the alignment of the pair files
    assert list(read_lines(path)) == ["the cat", "the dog\u2028still line two"]


def test_line_count_mismatch_names_both_files_and_counts(tmp_path):
    (tmp_path / "train.en").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("x\ny\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(read_text_pairs(tmp_path / "train.en", tmp_path / "train.de"))
    message = str(err.value)
    assert "train.en has 3 lines" in message and "train.de has 2" in message


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "train.de"
    path.write_bytes("größer\n".encode() + b"caf\xe9 latin-1\n")
    with pytest.raises(DataError, match=r"train\.de:2: invalid UTF-8"):
        list(read_lines(path))


def test_missing_valid_file_is_an_error_naming_it(tmp_path):
    write_text(tmp_path, "train", PAIRS["train"])
    cfg = DataConfig(source="local", local_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"valid\.en does not exist"):
        list(iter_pairs(cfg, "valid"))


def test_unknown_split_is_rejected():
    with pytest.raises(DataError, match="unknown split"):
        iter_pairs(DataConfig(), "dev")


def test_hf_parquet_directory_offline(tmp_path):
    root = write_hub_layout(tmp_path / "wmt_local")
    cfg = DataConfig(source="hf", hf_path=str(root), hf_config="de-en")
    assert list(iter_pairs(cfg, "train")) == PAIRS["train"]
    # our "valid" maps to the dataset's "validation" through hf_splits
    assert list(iter_pairs(cfg, "valid")) == PAIRS["validation"]
    assert split_size_hint(cfg, "test") == 2


def test_hf_direction_comes_from_languages_not_config_name(tmp_path):
    root = write_hub_layout(tmp_path / "wmt_local")
    cfg = DataConfig(source="hf", hf_path=str(root), hf_config="de-en", src_lang="de", tgt_lang="en")
    assert list(iter_pairs(cfg, "test")) == [(de, en) for en, de in PAIRS["test"]]


def test_hf_streaming_reads_the_same_pairs(tmp_path):
    root = write_hub_layout(tmp_path / "wmt_local")
    cfg = DataConfig(source="hf", hf_path=str(root), hf_config="de-en", hf_streaming=True)
    assert list(iter_pairs(cfg, "train")) == PAIRS["train"]
    assert split_size_hint(cfg, "train") is None


def test_hf_missing_language_is_explained(tmp_path):
    root = write_hub_layout(tmp_path / "wmt_local")
    cfg = DataConfig(source="hf", hf_path=str(root), hf_config="de-en", src_lang="fr", tgt_lang="en")
    with pytest.raises(DataError, match="languages \\['de', 'en'\\], not 'fr' and 'en'"):
        list(iter_pairs(cfg, "train"))


def test_demo_source_uses_generator_and_swaps_direction(monkeypatch):
    corpus = {"train": [("the dog", "der Hund")], "valid": [("a cat", "eine Katze")], "test": []}
    calls = []

    def fake_generate(sizes, seed):
        calls.append((dict(sizes), seed))
        return corpus

    monkeypatch.setitem(sys.modules, "mt.data.demo", types.SimpleNamespace(generate_demo_corpus=fake_generate))
    cfg = DataConfig(source="demo", demo_sizes={"train": 1, "valid": 1, "test": 0}, demo_seed=7)
    assert list(iter_pairs(cfg, "train")) == [("the dog", "der Hund")]
    assert calls == [({"train": 1, "valid": 1, "test": 0}, 7)]
    swapped = DataConfig(source="demo", src_lang="de", tgt_lang="en")
    assert list(iter_pairs(swapped, "valid")) == [("eine Katze", "a cat")]
