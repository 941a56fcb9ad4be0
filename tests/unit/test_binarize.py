"""Binarization into flat token arrays and reading them back through TokenPairDataset."""

import pickle
import random

import numpy as np
import pytest

from mt.config import TokenizerConfig
from mt.data.binarize import bin_path, binarize_pairs, iter_chunks, length_mask, token_dtype
from mt.data.dataset import TokenPairDataset
from mt.data.errors import DataError
from mt.data.tokenizer import train_tokenizer

WORDS = "the a small big red house dog cat der die das klein groß rot Haus Hund Katze Baum Auto".split()


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sent = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))  # noqa: E731
    return [(sent(), sent()) for _ in range(n)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("spm")
    text = d / "train.txt"
    text.write_text("\n".join(s for p in make_pairs(200) for s in p) + "\n", encoding="utf-8")
    tok = train_tokenizer([text], TokenizerConfig(vocab_size=40, byte_fallback=False), d / "spm")
    return d / "spm.model", tok


def test_token_dtype_fits_the_vocabulary():
    assert token_dtype(8000) == np.uint16
    assert token_dtype(65535) == np.uint16
    assert token_dtype(65536) == np.uint32


def test_length_mask_counts_eos():
    src = np.array([3, 4, 0, 5])
    tgt = np.array([4, 3, 4, 2])
    # with EOS the lengths are 4,5,1,6 / 5,4,5,3: only pairs with both sides <= 5 survive
    assert length_mask(src, tgt, 5).tolist() == [True, True, True, False]
    assert length_mask(src, tgt, None).all()


def test_iter_chunks_splits_sides():
    chunks = list(iter_chunks([("a", "x"), ("b", "y"), ("c", "z")], size=2))
    assert chunks == [(["a", "b"], ["x", "y"]), (["c"], ["z"])]


@pytest.mark.parametrize("workers", [1, 2])
def test_binarize_then_reload_equals_encoded_input(model, tmp_path, workers):
    model_path, tok = model
    pairs = make_pairs(53, seed=3)
    stats = binarize_pairs(pairs, model_path, tmp_path, "valid", "en", "de", num_workers=workers, chunk_size=10)
    ds = TokenPairDataset(tmp_path, "valid", "en", "de")
    assert len(ds) == stats.pairs == 53
    for i, (src, tgt) in enumerate(pairs):
        got_src, got_tgt = ds[i]
        assert got_src.dtype == np.int64
        assert got_src.tolist() == tok.encode(src) and got_tgt.tolist() == tok.encode(tgt)
    assert ds.src_lengths.dtype == np.int32
    assert ds.src_lengths.tolist() == [len(tok.encode(s)) for s, _ in pairs]
    assert ds.tgt_lengths.tolist() == [len(tok.encode(t)) for _, t in pairs]
    assert stats.src_tokens == int(ds.src_lengths.sum())
    assert bin_path(tmp_path, "valid", "en").stat().st_size == 2 * stats.src_tokens  # uint16


def test_too_long_train_pairs_are_dropped_and_counted(model, tmp_path):
    model_path, tok = model
    pairs = make_pairs(40, seed=4)
    limit = 12
    expected = [p for p in pairs if max(len(tok.encode(p[0])), len(tok.encode(p[1]))) + 1 <= limit]
    assert 0 < len(expected) < len(pairs)
    stats = binarize_pairs(pairs, model_path, tmp_path, "train", "en", "de",
                           max_tokens_per_sentence=limit, num_workers=1, chunk_size=16)
    assert stats.dropped_too_long == len(pairs) - len(expected)
    ds = TokenPairDataset(tmp_path, "train", "en", "de")
    assert [tok.decode(ds[i][0]) for i in range(len(ds))] == [s for s, _ in expected]
    assert int(ds.tgt_lengths.max()) + 1 <= limit


def test_empty_split(model, tmp_path):
    model_path, _ = model
    stats = binarize_pairs([], model_path, tmp_path, "test", "en", "de", num_workers=1)
    ds = TokenPairDataset(tmp_path, "test", "en", "de")
    assert stats.pairs == 0 and len(ds) == 0 and ds.src_lengths.shape == (0,)
    with pytest.raises(IndexError):
        ds[0]


def test_dataset_pickles_without_token_data(model, tmp_path):
    model_path, _ = model
    binarize_pairs(make_pairs(5), model_path, tmp_path, "valid", "en", "de", num_workers=1)
    ds = TokenPairDataset(tmp_path, "valid", "en", "de")
    first = ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert all(np.array_equal(a, b) for a, b in zip(clone[0], first, strict=True))
    assert ds[-1][0].tolist() == ds[4][0].tolist()


def test_truncated_token_file_is_reported(model, tmp_path):
    model_path, _ = model
    binarize_pairs(make_pairs(5), model_path, tmp_path, "valid", "en", "de", num_workers=1)
    path = bin_path(tmp_path, "valid", "de")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"valid\.de\.bin has .* bytes"):
        TokenPairDataset(tmp_path, "valid", "en", "de")


def test_missing_split_is_reported(tmp_path):
    with pytest.raises(DataError, match=r"train\.en\.idx is missing"):
        TokenPairDataset(tmp_path, "train", "en", "de")
