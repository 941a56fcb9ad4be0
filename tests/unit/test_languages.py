"""Language settings (``mt.utils.languages``) where they act: cleaning, SentencePiece, BLEU."""

import re

import pytest

from mt.config import DataConfig, TrainConfig, validate
from mt.data.clean import PairFilter
from mt.eval.metrics import score_corpus
from mt.utils.errors import MTError
from mt.utils.languages import language, length_units, normalize, pair_languages, same_language


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


def test_codes_as_users_and_models_write_them_become_the_shortest_standard_tag():
    written = ["eng", "deu", "zho", "cmn_Hans", "zho_Hant", "pt_BR", "jpn", "zh-Hans", "en"]
    assert [normalize(code) for code in written] == ["en", "de", "zh", "zh-Hans", "zh-Hant", "pt-BR", "ja",
                                                     "zh-Hans", "en"]
    for bad in ("de+zh", "?", "xx", ""):
        with pytest.raises(MTError, match=re.escape(f"{bad!r} is not a language code")):
            normalize(bad)


def test_one_language_however_spelt():
    assert same_language("zh", "cmn") and same_language("zho", "zh-Hans") and same_language("zho_Hant", "zh")
    assert same_language("eng", "en") and same_language("pt_BR", "pt")
    assert not same_language("zh-Hans", "zh-Hant") and not same_language("en", "de")
    assert same_language("?", "?") and not same_language("?", "en") and not same_language("de+zh", "de")
    assert pair_languages("eng-zho") == ("eng", "zho") and pair_languages("cmn_Hans-eng") == ("cmn_Hans", "eng")
    assert pair_languages("en-zh-Hant") == ("en", "zh-Hant") and pair_languages("zh-Hant-en") == ("zh-Hant", "en")
    with pytest.raises(MTError, match="'en-xx' is not a language pair"):
        pair_languages("en-xx")


def test_settings_follow_the_language_however_spelt():
    for code in ("zho", "cmn_Hans", "zho_Hant", "cmn"):
        assert language(code).code == "zh" and language(code).bleu_tokenizer == "zh" and not language(code).spaces
    assert language("jpn").bleu_tokenizer == "ja-mecab" and language("jpn").character_coverage == 0.9995
    assert language("deu").compound_split and language("de+zh").bleu_tokenizer == "13a"
    assert PairFilter(DataConfig(src_lang="eng", tgt_lang="zho")).reason(
        "a man is riding a bike", "一个男人在骑自行车") is None


def test_bleu_picks_the_tokenizer_of_the_target_however_spelt():
    zh = score_corpus(["一个男人在骑车。"], ["一个男人在骑自行车。"], "zho", tokenized=False)
    assert "tok:zh" in zh["signatures"]["bleu"]
    pytest.importorskip("MeCab")
    ja = score_corpus(["猫が好きです。"], ["猫が大好きです。"], "jpn", tokenized=False)
    assert "tok:ja-mecab" in ja["signatures"]["bleu"]


def test_a_marian_directory_says_its_languages_as_mt_writes_them(tmp_path):
    """OPUS-MT's tokenizer_config.json says ``eng`` and ``zho``: read as ``en`` and ``zh``, which every
    direction check compares with the user's codes."""
    from mt.decode.load import read_model_state
    from tests.unit.test_marian_import import _opus_dir  # skips without transformers

    state = read_model_state(_opus_dir(tmp_path, separate=False))
    assert (state["src_lang"], state["tgt_lang"]) == ("en", "zh")
