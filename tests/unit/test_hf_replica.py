"""The HF source offline: a local replica of the hub's ``wmt/wmt14`` repository, prepared streamed and not.

The replica has what the hub serves for the ``de-en`` config: sharded parquet files with one
``translation`` struct column, and a README.md whose YAML (``dataset_info`` and ``configs:
data_files``) maps the config and its splits to those files.
"""

from pathlib import Path

import pytest

from mt.config import DataConfig, TokenizerConfig
from mt.data.binarize import bin_path
from mt.data.errors import DataError
from mt.data.prepare import load_prepared, prepare_data
from mt.data.sources import iter_pairs
from tests.unit.test_prepare import random_pairs

SPLITS = {"train": random_pairs(240, seed=21), "validation": random_pairs(6, seed=22),
          "test": random_pairs(7, seed=23)}
TRAIN_SHARDS = 3


def card(configs: dict[str, dict[str, int]]) -> str:
    """The YAML header of the hub's dataset card for these configs (rows per split)."""
    info, files = [], []
    for name, rows in configs.items():
        langs = name.split("-")
        info += [f"- config_name: {name}", "  features:", "  - name: translation", "    dtype:",
                 "      translation:", "        languages:", *(f"        - {lang}" for lang in langs),
                 "  splits:"]
        for split, n in rows.items():
            info += [f"  - name: {split}", f"    num_bytes: {40 * n}", f"    num_examples: {n}"]
        info += [f"  download_size: {30 * sum(rows.values())}", f"  dataset_size: {40 * sum(rows.values())}"]
        files += [f"- config_name: {name}", "  data_files:"]
        files += [line for split in rows for line in (f"  - split: {split}", f"    path: {name}/{split}-*")]
    return "\n".join(["---", "dataset_info:", *info, "configs:", *files, "---", "", "# WMT14", ""])


def write_wmt14_replica(root: Path) -> Path:
    """``<root>/README.md`` and ``<root>/de-en/{train-0000k-of-00003,validation-..,test-..}.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "de-en").mkdir(parents=True)
    for split, pairs in SPLITS.items():
        shards = TRAIN_SHARDS if split == "train" else 1
        for k in range(shards):
            rows = [{"translation": {"de": de, "en": en}} for en, de in pairs[k::shards]]
            pq.write_table(pa.Table.from_pylist(rows), root / "de-en" / f"{split}-{k:05d}-of-{shards:05d}.parquet")
    # A second config, as on the hub: selecting de-en must not touch it.
    (root / "fr-en").mkdir()
    (root / "README.md").write_text(card({"de-en": {s: len(p) for s, p in SPLITS.items()},
                                          "fr-en": {"train": 1, "validation": 1, "test": 1}}))
    return root


def corrupt_train(root: Path) -> None:
    """Make every train shard unreadable as parquet: reading one now fails."""
    for shard in (root / "de-en").glob("train-*.parquet"):
        shard.write_bytes(b"not a parquet file")


@pytest.fixture
def replica(tmp_path, monkeypatch) -> Path:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    return write_wmt14_replica(tmp_path / "wmt14")


def hf_config(root: Path, **overrides) -> DataConfig:
    return DataConfig(**{"source": "hf", "hf_path": str(root), "hf_config": "de-en", "name": "wmt14",
                         "cache_dir": "cache", "num_workers": 1, **overrides})


def test_replica_goes_through_the_hub_call(replica, monkeypatch):
    import datasets

    calls = []
    real = datasets.load_dataset

    def spy(path, **kwargs):
        calls.append((path, kwargs))
        if not Path(path).is_dir():  # the hub is out of reach here: record its call, do not wait on it
            raise FileNotFoundError(f"{path} is not reachable offline")
        return real(path, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", spy)
    for streaming in (False, True):
        assert list(iter_pairs(hf_config(replica, hf_streaming=streaming), "valid")) == SPLITS["validation"]
    with pytest.raises(DataError):
        list(iter_pairs(hf_config(replica, hf_path="wmt/wmt14", hf_streaming=True), "valid"))
    hub = {"name": "de-en", "split": "validation", "streaming": True}
    assert calls == [(str(replica), {**hub, "streaming": False}), (str(replica), hub), ("wmt/wmt14", hub)]


@pytest.mark.parametrize("streaming", [False, True])
def test_prepare_from_the_replica(replica, tmp_path, streaming):
    data_cfg = hf_config(replica, hf_streaming=streaming, cache_dir=f"cache-{streaming}")
    prepared = load_prepared(prepare_data(data_cfg, TokenizerConfig(vocab_size=40, byte_fallback=False),
                                          tmp_path, progress=False))
    assert prepared.meta["splits"]["train"]["raw_pairs"] == len(SPLITS["train"])
    assert len(prepared.split("valid")) == 6 and len(prepared.split("test")) == 7
    assert prepared.reference_path("test").read_text(encoding="utf-8").splitlines() == [
        de for _, de in SPLITS["test"]]
    src, tgt = prepared.split("valid")[0]
    assert prepared.tokenizer.decode(src) == SPLITS["validation"][0][0]
    assert prepared.tokenizer.decode(tgt) == SPLITS["validation"][0][1]


def test_streamed_and_unstreamed_preparations_are_identical(replica, tmp_path):
    tok_cfg = TokenizerConfig(vocab_size=40, byte_fallback=False)
    dirs = [prepare_data(hf_config(replica, hf_streaming=s, cache_dir=f"cache-{s}"), tok_cfg, tmp_path,
                         progress=False) for s in (False, True)]
    for split in ("train", "valid", "test"):
        for lang in ("en", "de"):
            assert bin_path(dirs[0], split, lang).read_bytes() == bin_path(dirs[1], split, lang).read_bytes()


def test_streaming_eval_splits_never_read_train(replica, caplog):
    corrupt_train(replica)
    streamed = hf_config(replica, hf_streaming=True)
    assert list(iter_pairs(streamed, "valid")) == SPLITS["validation"]
    assert list(iter_pairs(streamed, "test")) == SPLITS["test"]
    assert "train-" not in caplog.text
    # The same eval split unstreamed converts the whole dataset first, and so trips over train.
    with pytest.raises(Exception, match="generating the dataset"):
        list(iter_pairs(hf_config(replica), "test"))
    assert "train-00000-of-00003.parquet" in caplog.text
