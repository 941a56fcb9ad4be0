"""Multi-target Marian models (``>>xxx<<`` tokens before the source): the tokens are read from the
vocabulary, segmented as ``MarianTokenizer`` does, and ``tgt_lang`` picks the right one by language."""

from __future__ import annotations

import pytest

from mt.config import DecodeConfig, translate_config
from mt.data.tokenizer import Tokenizer, existing_models
from mt.decode.load import load_for_inference
from mt.decode.run import translate_file, translate_lines
from mt.decode.targets import language_token, with_language_token
from mt.utils.errors import MTError

TOKENS = (">>deu<<", ">>cmn_Hans<<", ">>zho_Hant<<", ">>fra<<", ">>rus<<")


def test_tgt_lang_picks_the_token_that_names_its_language():
    assert language_token(TOKENS, "zh") == ">>cmn_Hans<<"
    assert language_token(TOKENS, "zh-Hant") == ">>zho_Hant<<"
    assert language_token(TOKENS, "zh_TW") == ">>zho_Hant<<"
    assert language_token(TOKENS, "de") == language_token(TOKENS, "deu") == ">>deu<<"
    assert language_token(TOKENS, "ru") == ">>rus<<"
    with pytest.raises(MTError) as e:
        language_token(TOKENS, "ja")
    assert str(e.value).count("\n") == 0 and "cmn_Hans, deu, fra, rus, zho_Hant" in str(e.value)


def test_lines_get_the_token_unless_they_carry_their_own():
    lines = ["a dog", ">>fra<< a cat", ""]
    assert with_language_token(lines, TOKENS, "de") == [">>deu<< a dog", ">>fra<< a cat", ""]
    with pytest.raises(MTError, match="tgt_lang=XX"):
        with_language_token(lines, TOKENS, None)


@pytest.fixture(scope="module")
def multi_target_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    from tests.unit.test_marian_import import _opus_dir

    return _opus_dir(tmp_path_factory.mktemp("multi"), separate=False, tokens=TOKENS)


def test_tokens_are_read_from_the_vocabulary_and_segmented_as_marian_does(multi_target_dir):
    import transformers

    tokenizer = Tokenizer.from_bytes(*existing_models(multi_target_dir))
    assert tokenizer.language_tokens() == list(TOKENS)
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(multi_target_dir))
    for line in (">>cmn_Hans<< a man is riding a bike", ">>deu<<two dogs", "no token here", ">>xyz<< unknown"):
        assert tokenizer.encode(line) + [tokenizer.eos_id] == hf_tok(line)["input_ids"], line


def test_translate_py_steers_a_multi_target_model_with_tgt_lang(multi_target_dir, tmp_path):
    src = tmp_path / "in.en"
    src.write_text("a man is riding a bike\n>>deu<< two dogs play in the snow\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    cfg = translate_config({"checkpoint": [str(multi_target_dir)], "input": str(src), "output": str(out),
                            "tgt_lang": "zh", "progress": False, "decode": {"beam_size": 2}})
    translate_file(cfg)
    models, tokenizer, _ = load_for_inference([multi_target_dir], "cpu")
    expected = translate_lines(models, tokenizer, [">>cmn_Hans<< a man is riding a bike",
                                                   ">>deu<< two dogs play in the snow"], DecodeConfig(beam_size=2))
    assert out.read_text(encoding="utf-8").splitlines() == expected
    bad = translate_config({"checkpoint": [str(multi_target_dir)], "input": str(src), "output": str(out),
                            "tgt_lang": "ja", "progress": False})
    with pytest.raises(MTError, match="no target token for it"):
        translate_file(bad)


def test_fine_tuning_data_keeps_a_lines_token_as_marian_does(multi_target_dir, tmp_path):
    """Prepared source lines that start with ``>>xxx<<`` (how a multi-target model's training data
    says the target) get the token's id, as ``MarianTokenizer`` gives them."""
    import transformers

    from mt.data.binarize import binarize_pairs
    from mt.data.dataset import TokenPairDataset

    tokenizer = Tokenizer.from_bytes(*existing_models(multi_target_dir))
    (tmp_path / "src.model").write_bytes(tokenizer.to_bytes())
    (tmp_path / "tgt.model").write_bytes(tokenizer.target_bytes() or tokenizer.to_bytes())
    pairs = [(">>cmn_Hans<< a man is riding a bike", "一个人"), (">>deu<< two dogs", "两只狗"), ("no token", "没有")]
    binarize_pairs(pairs, (tmp_path / "src.model", tmp_path / "tgt.model"), tmp_path, "valid", "en", "zh",
                   num_workers=1)
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(multi_target_dir))
    data = TokenPairDataset(tmp_path, "valid", "en", "zh")
    for i, (src, tgt) in enumerate(pairs):
        assert list(data[i][0]) == hf_tok(src)["input_ids"][:-1]
        assert list(data[i][1]) == hf_tok(text_target=tgt)["input_ids"][:-1]
