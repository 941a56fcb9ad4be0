"""Language settings (``mt.utils.languages``) where they act: cleaning, SentencePiece, BLEU."""

import pytest

from mt.config import DataConfig, TrainConfig, validate
from mt.data.clean import PairFilter
from mt.eval.metrics import score_corpus
from mt.utils.errors import MTError
from mt.utils.languages import language, length_units


def test_lengths_are_words_or_characters_by_language():
    assert length_units("a man rides a bike", language("en")) == 5
    assert length_units("一个男人 骑自行车", language("zh")) == 8
    assert language("zh-Hans").bleu_tokenizer == "zh" and language("pt_BR").code == "pt"
    assert language(None).bleu_tokenizer == "13a"


def test_the_length_ratio_counts_characters_for_chinese():
    en_zh = PairFilter(DataConfig(src_lang="en", tgt_lang="zh"))
    # 6 English words against 9 Chinese characters: a good pair. Counted by spaces, the Chinese side
    # is one "word", and the pair would be dropped as 6 times too long.
    assert en_zh.reason("a man is riding a bike", "一个男人在骑自行车") is None
    assert PairFilter(DataConfig(src_lang="en", tgt_lang="de")).reason(
        "a man is riding a bike", "一个男人在骑自行车") == "length_ratio"
    assert en_zh.reason("a man is riding a bike", "男") == "length_ratio"


def test_sentencepiece_coverage_follows_the_languages():
    def coverage(src, tgt, value=None):
        cfg = TrainConfig()
        cfg.data.src_lang, cfg.data.tgt_lang, cfg.tokenizer.character_coverage = src, tgt, value
        return validate(cfg).tokenizer.character_coverage
    assert coverage("en", "de") == 1.0
    assert coverage("en", "zh") == coverage("ja", "en") == 0.9995
    assert coverage("en", "zh", 0.98) == 0.98


def test_a_missing_mecab_is_one_line_naming_the_extra():
    try:
        import MeCab  # noqa: F401
        pytest.skip("MeCab is installed here")
    except ImportError:
        pass
    with pytest.raises(MTError, match=r'pip install -e "\.\[ja\]"') as info:
        score_corpus(["猫が好き"], ["猫が好き"], "ja")
    assert "\n" not in str(info.value)
