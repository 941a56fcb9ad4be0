"""Sources: local text/TSV files, an offline HF dataset in the hub's parquet layout, the demo hook,
and what each tells the prepared-data cache."""

import dataclasses
import sys
import types
from pathlib import Path

import pytest

from mt.config import DataConfig
from mt.data.errors import DataError
from mt.data.sources import SOURCES, iter_pairs, source_for, split_size_hint
from mt.data.text_files import read_lines, read_text_pairs

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

    fake = types.SimpleNamespace(generate_demo_corpus=fake_generate)
    monkeypatch.setitem(sys.modules, "mt.data.demo.corpus", fake)
    cfg = DataConfig(source="demo", demo_sizes={"train": 1, "valid": 1, "test": 0}, demo_seed=7)
    assert list(iter_pairs(cfg, "train")) == [("the dog", "der Hund")]
    assert calls == [({"train": 1, "valid": 1, "test": 0}, 7)]
    swapped = DataConfig(source="demo", src_lang="de", tgt_lang="en")
    assert list(iter_pairs(swapped, "valid")) == [("eine Katze", "a cat")]


def test_unknown_source_lists_the_registry():
    with pytest.raises(DataError, match="data.source='bt' is not one of demo, hf, local"):
        iter_pairs(DataConfig(source="bt"), "train")
    assert split_size_hint(DataConfig(source="bt"), "train") is None


def test_each_config_field_belongs_to_at_most_one_source():
    # The synthetic sources (backtranslate, distill) share one set: the one they inherit.
    owned = {id(cls.fields): cls.fields for cls in SOURCES.values()}
    owners = [field for fields in owned.values() for field in fields]
    assert len(owners) == len(set(owners))
    assert set(owners) <= set(DataConfig.__dataclass_fields__)


def test_local_inputs_resolve_for_the_cache_and_list_every_file(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "corpus")
    source = source_for(DataConfig(source="local", local_dir="link"), work_dir=tmp_path)
    assert source.resolved_config().local_dir == str((tmp_path / "corpus").resolve())
    assert source.input_files("valid") == [tmp_path / "link" / "valid.en", tmp_path / "link" / "valid.de"]
    tsv = source_for(DataConfig(source="local", local_dir=str(tmp_path), local_format="tsv"))
    assert tsv.input_files("test") == [tmp_path / "test.tsv"]


def test_hf_path_resolves_only_when_it_is_a_local_directory(tmp_path):
    (tmp_path / "wmt_local").mkdir()
    local = source_for(DataConfig(source="hf", hf_path="wmt_local"), work_dir=tmp_path)
    assert local.resolved_config().hf_path == str((tmp_path / "wmt_local").resolve())
    hub = source_for(DataConfig(source="hf", hf_path="wmt/wmt14"), work_dir=tmp_path)
    assert hub.resolved_config().hf_path == "wmt/wmt14"
    assert hub.input_files("train") == []  # the cache does not fingerprint datasets


def test_each_source_describes_a_recorded_config_for_the_model_card():
    recorded = dataclasses.asdict(DataConfig(local_dir="/c", local_prefixes={"train": "tr"}))
    assert SOURCES["local"].describe(recorded) == "local text files in `/c` (train: `tr.*`)"
    assert SOURCES["hf"].describe(recorded).startswith("the Hugging Face dataset `wmt/wmt14`, config `de-en`")
    assert "seed 1234" in SOURCES["demo"].describe(recorded)
    assert SOURCES["hf"].describe({"hf_path": "x"}) == "the Hugging Face dataset `x`, splits None"
