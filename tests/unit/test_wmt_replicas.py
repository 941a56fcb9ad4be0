"""The WMT datasets of the recipes, offline: replicas of the hub's ``wmt/wmt16``, ``wmt/wmt17`` and
``wmt/wmt19`` repositories (a dataset card whose YAML lists every language pair of the real dataset,
and sharded parquet files for the pair under test, a few thousand lines), prepared streamed and not,
in both directions from one download; and a pair a dataset lacks is a one-line error listing its pairs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mt.config import DataConfig, TokenizerConfig
from mt.data.binarize import bin_path
from mt.data.errors import DataError
from mt.data.prepare import load_prepared, prepare_data
from mt.data.sources import iter_pairs
from tests.unit.test_hf_replica import card

# The language pairs (configs) and splits of the real datasets.
DATASETS = {
    "wmt16": (["cs-en", "de-en", "fi-en", "ro-en", "ru-en", "tr-en"], ["train", "validation", "test"]),
    "wmt17": (["cs-en", "de-en", "fi-en", "lv-en", "ru-en", "tr-en", "zh-en"], ["train", "validation", "test"]),
    "wmt19": (["cs-en", "de-en", "fi-en", "gu-en", "kk-en", "lt-en", "ru-en", "zh-en", "fr-de"],
              ["train", "validation"]),
}
WORDS = {
    "en": ["the", "man", "sees", "a", "house", "two", "dogs", "run", "today", "quickly"],
    "de": ["der", "Mann", "sieht", "ein", "Haus", "zwei", "Hunde", "laufen", "heute", "schnell"],
    "ro": ["omul", "vede", "o", "casă", "doi", "câini", "aleargă", "astăzi", "repede", "și"],
    "ru": ["человек", "видит", "дом", "два", "собаки", "бегут", "сегодня", "быстро", "и", "в"],
    "zh": ["男人", "看见", "一座", "房子", "两只", "狗", "跑", "今天", "很快", "的"],
}
SIZES = {"train": 2000, "validation": 40, "test": 50}


def pairs(config: str, n: int, seed: int) -> list[dict[str, str]]:
    a, b = config.split("-")
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        idx = [rng.randrange(10) for _ in range(rng.randint(2, 9))]
        join = {lang: ("" if lang == "zh" else " ").join(WORDS[lang][i] for i in idx) for lang in (a, b)}
        rows.append(join)
    return rows


def write_replica(root: Path, dataset: str, config: str) -> dict[str, list[dict[str, str]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    configs, splits = DATASETS[dataset]
    data = {split: pairs(config, SIZES[split], seed=k) for k, split in enumerate(splits)}
    (root / config).mkdir(parents=True)
    for split, rows in data.items():
        shards = 2 if split == "train" else 1
        for k in range(shards):
            table = pa.Table.from_pylist([{"translation": row} for row in rows[k::shards]])
            pq.write_table(table, root / config / f"{split}-{k:05d}-of-{shards:05d}.parquet")
    for other in (c for c in configs if c != config):  # one row per split: the card's other pairs exist
        (root / other).mkdir()
        langs = other.split("-")
        for split in splits:
            row = {"translation": {lang: f"{lang} {split}" for lang in langs}}
            pq.write_table(pa.Table.from_pylist([row]), root / other / f"{split}-00000-of-00001.parquet")
    rows = {c: ({s: len(data[s]) for s in splits} if c == config else dict.fromkeys(splits, 1)) for c in configs}
    (root / "README.md").write_text(card(rows).replace("# WMT14", f"# {dataset.upper()}"), encoding="utf-8")
    return data


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    return tmp_path / "hf_cache"


def data_cfg(root: Path, config: str, src: str, tgt: str, **overrides) -> DataConfig:
    splits = {"train": "train", "valid": "validation", "test": "test"}
    if not (root / config / "test-00000-of-00001.parquet").is_file():
        splits["test"] = "validation"  # wmt19 on the hub has no test split (newstest2019 is sacreBLEU's)
    return DataConfig(**{"source": "hf", "hf_path": str(root), "hf_config": config, "src_lang": src,
                         "tgt_lang": tgt, "name": root.name, "hf_splits": splits, "num_workers": 1, **overrides})


RECIPE_PAIRS = [("wmt16", "ro-en", "en", "ro"), ("wmt17", "zh-en", "zh", "en"), ("wmt19", "de-en", "de", "en"),
                ("wmt19", "ru-en", "en", "ru")]


@pytest.mark.parametrize(("dataset", "config", "src", "tgt"), RECIPE_PAIRS)
def test_each_dataset_prepares_the_same_streamed_or_not(tmp_path, hf_cache, dataset, config, src, tgt):
    root = tmp_path / dataset
    data = write_replica(root, dataset, config)
    vocab = {"ro-en": 40, "zh-en": 60}.get(config, 45)  # what SentencePiece can fill from ten words a side
    tok = TokenizerConfig(vocab_size=vocab, byte_fallback=False, character_coverage=1.0)
    dirs = [prepare_data(data_cfg(root, config, src, tgt, hf_streaming=s, cache_dir=f"cache-{s}"), tok, tmp_path,
                         progress=False) for s in (False, True)]
    for split in ("train", "valid", "test"):
        for lang in (src, tgt):
            assert bin_path(dirs[0], split, lang).read_bytes() == bin_path(dirs[1], split, lang).read_bytes()
    assert dirs[0].name.startswith(f"{root.name}-en-")  # built English first, for both directions
    prepared = load_prepared(dirs[0], src, tgt)
    assert prepared.meta["splits"]["train"]["raw_pairs"] == SIZES["train"]
    first = data["validation"][0]
    assert [prepared.tokenizer.decode(ids) for ids in prepared.split("valid")[0]] == [first[src], first[tgt]]


def test_both_directions_come_from_one_download(tmp_path, hf_cache):
    root = tmp_path / "wmt16"
    data = write_replica(root, "wmt16", "ro-en")
    forward = list(iter_pairs(data_cfg(root, "ro-en", "en", "ro"), "test"))
    converted = sorted(p.name for p in hf_cache.rglob("*.arrow"))
    backward = list(iter_pairs(data_cfg(root, "ro-en", "ro", "en"), "test"))
    assert backward == [(t, s) for s, t in forward] and forward[0] == (data["test"][0]["en"], data["test"][0]["ro"])
    assert sorted(p.name for p in hf_cache.rglob("*.arrow")) == converted  # no second conversion


def test_a_pair_the_dataset_lacks_is_one_line_listing_its_pairs(tmp_path, hf_cache):
    root = tmp_path / "wmt16"
    write_replica(root, "wmt16", "ro-en")
    for streaming in (False, True):
        with pytest.raises(DataError) as info:
            list(iter_pairs(data_cfg(root, "fr-en", "fr", "en", hf_streaming=streaming), "valid"))
        message = str(info.value)
        assert "\n" not in message and "has no language pair fr-en" in message
        assert "it has cs-en, de-en, fi-en, ro-en, ru-en, tr-en" in message
