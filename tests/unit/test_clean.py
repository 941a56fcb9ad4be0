"""Normalization and train-pair filters, checked on hand-made pairs with hand-counted answers."""

import pytest

from mt.config import DataConfig
from mt.data.clean import CleanStats, PairFilter, clean_pairs, normalize_pairs, normalize_text, pair_digest
from mt.data.errors import DataError


def test_normalize_text_nfkc_and_whitespace():
    # NFKC folds the ligature and full-width letters; whitespace runs (tab, NBSP, newline) collapse.
    assert normalize_text("  \ufb01ne\t\u00a0ＡＢ \n x ", "NFKC") == "fine AB x"
    # NFC composes "e" + combining acute into one code point but keeps the ligature.
    assert normalize_text("cafe\u0301 \ufb01", "NFC") == "caf\u00e9 \ufb01"
    assert normalize_text(" a  b ", None) == "a b"


def test_each_filter_counts_the_pairs_it_removes():
    cfg = DataConfig(max_words=5, max_length_ratio=2.0, normalize="NFKC")
    pairs = [
        ("the house", "das Haus"),                       # kept
        ("", "leer"),                                    # empty source
        ("   ", "nur Leerzeichen"),                      # empty after whitespace collapse
        ("Berlin", "Berlin"),                            # copy
        ("one two three four five six", "eins"),         # 6 words > max_words=5
        ("a b c d", "w x y z q r s t u"),                # 9 words > max_words also on target side
        ("a b c d e", "x y"),                            # 5 vs 2 words: ratio 2.5 > 2
        ("a b c", "x"),                                  # 3 vs 1: exempt (longer side <= 3 words)
        ("the  house", "das Haus"),                      # duplicate after whitespace collapse
        ("the house", "das Haus "),                      # duplicate again
        ("a b c d", "x y"),                              # 4 vs 2 = ratio 2: kept (not above 2)
    ]
    out: list[CleanStats] = []
    kept = list(clean_pairs(pairs, cfg, out))
    assert kept == [("the house", "das Haus"), ("a b c", "x"), ("a b c d", "x y")]
    assert out[0].as_dict() == {
        "total": 11, "kept": 3, "empty": 2, "copy": 1, "too_many_words": 2, "length_ratio": 1,
        "duplicate": 2,
    }
    assert out[0].removed == 8


def test_disabled_filters_keep_copies_and_duplicates():
    cfg = DataConfig(dedup=False, remove_copies=False)
    pairs = [("Berlin", "Berlin"), ("Berlin", "Berlin")]
    assert list(clean_pairs(pairs, cfg)) == pairs


def test_a_pair_counts_only_under_its_first_failing_filter():
    flt = PairFilter(DataConfig(max_words=2))
    assert flt.keep("x y z", "x y z") is False  # a copy that is also too long: counted as copy
    assert flt.stats.copy == 1 and flt.stats.too_many_words == 0


def test_eval_splits_are_normalized_never_filtered():
    pairs = [("", "leer"), ("Berlin", "Berlin"), ("a  b", "c"), ("a b", "c")]
    assert list(normalize_pairs(pairs, "NFKC")) == [("", "leer"), ("Berlin", "Berlin"), ("a b", "c"), ("a b", "c")]


def test_corpus_empty_after_cleaning_names_the_setting():
    cfg = DataConfig(max_words=1)
    with pytest.raises(DataError, match="removed all 2 train pairs.*data.max_words"):
        list(clean_pairs([("a b", "c d"), ("e f", "g h")], cfg))


def test_empty_source_corpus_is_an_error():
    with pytest.raises(DataError, match="train split is empty"):
        list(clean_pairs([], DataConfig()))


def test_pair_digest_is_stable_and_order_sensitive():
    assert pair_digest("a", "b") == pair_digest("a", "b")
    assert pair_digest("a", "b") != pair_digest("b", "a")
    assert 0 <= pair_digest("a", "b") < 2**64
