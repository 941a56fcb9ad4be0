"""A transformers ``MarianMTModel`` directory in OPUS-MT's conventions, imported by mt.

The model is tiny and random, built with transformers' own classes and saved with its own
``save_pretrained``, with OPUS-MT's conventions: two SentencePiece models trained independently on
two real languages (English and Chinese, WMT21 news text from ``tests/fixtures/wmt21``), one
``vocab.json`` for both sides (``</s>`` 0, ``<unk>`` 1, ``<pad>`` last and the decoder's start) or a
vocabulary per side (``separate_vocabs``), swish, scaled embeddings, sinusoidal positions, a nonzero
``final_logits_bias``. After the import, mt's greedy output must equal transformers' ``generate`` on
at least 99% of the lines, and both sides must be segmented as ``MarianTokenizer`` segments them:
the source as its input, the target as its ``text_target`` (what fine-tuning trains on).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from mt.config import DataConfig, DecodeConfig, ModelConfig, TokenizerConfig
from mt.data.prepare import load_prepared, prepare_data
from mt.data.tokenizer import Tokenizer, existing_models
from mt.decode.load import load_model, read_model_state
from mt.decode.run import translate_nbest
from mt.model import VocabInfo, build_model
from mt.model.marian import MarianImportError
from mt.train.init import init_from
from mt.utils.errors import MTError

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

WMT21 = Path(__file__).resolve().parents[1] / "fixtures" / "wmt21"
EN = (WMT21 / "en-zh.src.en").read_text(encoding="utf-8").splitlines()
ZH = (WMT21 / "en-zh.ref.zh").read_text(encoding="utf-8").splitlines()


def _spm(tmp: Path, name: str, lines: list[str], vocab_size: int, coverage: float) -> Path:
    """A SentencePiece model as OPUS-MT trains them: no BOS, ``</s>`` 0, ``<unk>`` 1, no byte fallback."""
    text = tmp / f"{name}.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp / name), vocab_size=vocab_size,
                                   character_coverage=coverage, minloglevel=2, bos_id=-1, eos_id=0, unk_id=1)
    return tmp / f"{name}.model"


def _pieces(path: Path) -> list[str]:
    sp = spm.SentencePieceProcessor(model_file=str(path))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def _vocabularies(tmp: Path, source: Path, target: Path, separate: bool,
                  tokens: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """OPUS-MT's joint ``vocab.json`` (both sides' pieces, ``<pad>`` last), or one per side. With two,
    ``<pad>`` takes id 2 on both sides: a ``MarianConfig`` has one ``pad_token_id`` for both tables."""
    if separate:
        sides = [["</s>", "<unk>", "<pad>"] + [p for p in _pieces(path) if p not in ("</s>", "<unk>")]
                 for path in (source, target)]
        (tmp / "target_vocab.json").write_text(json.dumps({p: i for i, p in enumerate(sides[1])}), encoding="utf-8")
    else:
        joint = ["</s>", "<unk>", *tokens]  # a multi-target model's >>xxx<< tokens
        for path in (source, target):
            joint += [p for p in _pieces(path) if p not in joint]
        sides = [joint + ["<pad>"]] * 2
    (tmp / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(sides[0])}), encoding="utf-8")
    return sides[0], sides[1]


def _opus_dir(tmp: Path, separate: bool, tokens: tuple[str, ...] = ()) -> Path:
    """The model directory; ``tokens``: the ``>>xxx<<`` target-language tokens of a multi-target model."""
    source = _spm(tmp, "source", EN, 600, 1.0)
    target = _spm(tmp, "target", ZH, 1500, 0.9995)  # the rarest characters become <unk>, as in OPUS-MT
    src_vocab, tgt_vocab = _vocabularies(tmp, source, target, separate, tokens)
    pad = src_vocab.index("<pad>")
    config = transformers.MarianConfig(
        vocab_size=len(src_vocab), decoder_vocab_size=len(tgt_vocab), d_model=32, encoder_layers=2,
        decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
        decoder_ffn_dim=64, activation_function="swish", max_position_embeddings=256, scale_embedding=True,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
        share_encoder_decoder_embeddings=not separate)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.5)
        for p in model.parameters():
            p.mul_(4.0)  # sharper distributions: fewer near-ties between the two implementations
    out = tmp / "model"
    model.save_pretrained(str(out))
    extra = {"separate_vocabs": True, "target_vocab_file": str(tmp / "target_vocab.json")} if separate else {}
    tok = transformers.MarianTokenizer(source_spm=str(source), target_spm=str(target), vocab=str(tmp / "vocab.json"),
                                       source_lang="eng", target_lang="zho", **extra)
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module", params=["joint_vocab", "separate_vocabs"])
def opus_dir(tmp_path_factory, request) -> Path:
    return _opus_dir(tmp_path_factory.mktemp(request.param), request.param == "separate_vocabs")


def _lines() -> list[str]:
    words = " ".join(EN).split()
    g = torch.Generator().manual_seed(1)
    return [" ".join(words[int(i)] for i in torch.randint(len(words), (int(n),), generator=g))
            for n in torch.randint(2, 12, (200,), generator=g)]


def test_both_sides_are_segmented_as_marian_tokenizer_does_it(opus_dir):
    """Source ids as MarianTokenizer's input, target ids as its ``text_target``, on 200 of 200 real
    lines each; the target is not segmented with the source model (which would give <unk>s)."""
    tokenizer = Tokenizer.from_bytes(*existing_models(opus_dir))
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(opus_dir))
    eos = [tokenizer.eos_id]
    assert [tokenizer.encode(line) + eos for line in EN[:200]] == hf_tok(EN[:200])["input_ids"]
    assert [tokenizer.encode_target(line) + eos for line in ZH[:200]] == \
        hf_tok(text_target=ZH[:200])["input_ids"]
    # Chinese through the English model is full of <unk>: the defect the target model fixes.
    def unk_share(encode) -> float:
        ids = [i for line in ZH[:200] for i in encode(line)]
        return sum(i == tokenizer.unk_id for i in ids) / len(ids)

    assert unk_share(tokenizer.encode) > 0.2 and unk_share(tokenizer.encode_target) < 0.02
    assert hf_tok.decode(tokenizer.encode_target(ZH[0]), skip_special_tokens=True) == tokenizer.decode(
        tokenizer.encode_target(ZH[0]))


def test_fine_tuning_data_is_segmented_as_marian_tokenizer_does_it(opus_dir, tmp_path):
    """``tokenizer.from_model=<Marian dir>`` prepares the ids that MarianTokenizer gives, on both sides."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for prefix, (lo, hi) in {"train": (0, 150), "valid": (150, 175), "test": (175, 200)}.items():
        (corpus / f"{prefix}.en").write_text("\n".join(EN[lo:hi]) + "\n", encoding="utf-8")
        (corpus / f"{prefix}.zh").write_text("\n".join(ZH[lo:hi]) + "\n", encoding="utf-8")
    data = DataConfig(source="local", local_dir=str(corpus), name="wmt21", src_lang="en", tgt_lang="zh",
                      cache_dir="cache", num_workers=1, max_length_ratio=10.0)
    directory = prepare_data(data, TokenizerConfig(from_model=str(opus_dir)), tmp_path, progress=False)
    prepared = load_prepared(directory, "en", "zh")
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(opus_dir))
    valid = prepared.split("valid")
    src_text = prepared.text_path("valid", "en").read_text(encoding="utf-8").splitlines()
    tgt_text = prepared.text_path("valid", "zh").read_text(encoding="utf-8").splitlines()
    for i in range(len(valid)):
        src, tgt = valid[i]
        assert list(src) == hf_tok(src_text[i])["input_ids"][:-1]
        assert list(tgt) == hf_tok(text_target=tgt_text[i])["input_ids"][:-1]


def test_greedy_output_equals_transformers_generate(opus_dir):
    state = read_model_state(opus_dir)
    assert state["model_config"]["activation"] == "swish" and state["model_config"]["output_bias"]
    pad = json.loads((opus_dir / "vocab.json").read_text(encoding="utf-8"))["<pad>"]
    assert (state["vocab"]["pad_id"], state["vocab"]["bos_id"], state["vocab"]["eos_id"]) == (pad, pad, 0)
    model = load_model(state, opus_dir).eval()
    tokenizer = Tokenizer.from_bytes(*existing_models(opus_dir))
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(opus_dir))
    hf = transformers.MarianMTModel.from_pretrained(str(opus_dir)).eval()
    lines = _lines()
    limit = 20
    mt_out = translate_nbest([model], tokenizer, lines, DecodeConfig(beam_size=1, max_len_a=0, max_len_b=limit))
    batch = hf_tok(lines, return_tensors="pt", padding=True)
    with torch.inference_mode():
        generated = hf.generate(**batch, num_beams=1, do_sample=False, max_new_tokens=limit + 1,
                                bad_words_ids=[[tokenizer.pad_id]])
    same = 0
    for hyps, row in zip(mt_out, generated.tolist(), strict=True):
        ids = [t for t in row[1:] if t not in (tokenizer.pad_id, tokenizer.eos_id)][:limit]
        same += hyps[0].tokens == ids
    assert sum(len(h[0].tokens) > 1 for h in mt_out) > 100  # real outputs, not empty ones
    print(f"{same} of {len(lines)} lines equal")
    assert same >= 0.99 * len(lines), f"{same} of {len(lines)} lines equal"


def test_a_child_of_another_shape_is_refused_naming_the_keys(opus_dir):
    state = read_model_state(opus_dir)
    cfg = ModelConfig(**{**state["model_config"], "d_model": 64, "activation": "relu"})
    child = build_model(cfg, VocabInfo.from_dict(state["vocab"]))
    with pytest.raises(MTError, match=r"model.d_model=64 \(parent: 32\); model.activation='relu' \(parent: 'swish'\)"):
        init_from(child, cfg, VocabInfo.from_dict(state["vocab"]), opus_dir)
    same_shape = ModelConfig(**state["model_config"])
    other_vocab = dataclasses.replace(VocabInfo.from_dict(state["vocab"]), pad_id=0, bos_id=2, eos_id=3)
    with pytest.raises(MTError, match="vocabulary"):
        init_from(build_model(same_shape, other_vocab), same_shape, other_vocab, opus_dir)


def test_what_mt_cannot_represent_is_refused(opus_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in opus_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "scale_embedding": False}))
    with pytest.raises(MarianImportError, match="scale_embedding"):
        read_model_state(broken)


def test_the_import_script_prints_the_overrides_and_writes_a_checkpoint(opus_dir, tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from import_marian import main

    main([str(opus_dir), "--output", str(tmp_path / "opus.pt")])
    printed = capsys.readouterr().out
    assert "model.d_model=32" in printed and "model.activation=swish" in printed and "model.output_bias=true" in printed
    from mt.decode.load import load_for_inference

    lines = _lines()[:30]
    decoded = [translate_nbest(m, t, lines, DecodeConfig(beam_size=2)) for m, t, _ in
               (load_for_inference([p], "cpu") for p in (opus_dir, tmp_path / "opus.pt"))]
    assert [h[0].tokens for h in decoded[0]] == [h[0].tokens for h in decoded[1]]


def test_separate_vocabularies_with_different_special_ids_are_refused_naming_them(opus_dir, tmp_path):
    """mt (like ``MarianConfig``, which has one ``pad_token_id``) needs the special pieces at the same
    ids on both sides: a target vocabulary with ``<pad>`` elsewhere is one clear error."""
    if not (opus_dir / "target_vocab.json").is_file():
        pytest.skip("a joint vocab.json has one set of special ids")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in opus_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    target = json.loads((broken / "target_vocab.json").read_text(encoding="utf-8"))
    last = max(target, key=target.get)
    target[last], target["<pad>"] = target["<pad>"], target[last]  # <pad> last, as converters put it
    (broken / "target_vocab.json").write_text(json.dumps(target), encoding="utf-8")
    with pytest.raises(MTError, match="different special ids"):
        read_model_state(broken)
