"""A transformers ``MarianMTModel`` directory in OPUS-MT's conventions, imported by mt.

The model is tiny and random, built with transformers' own classes and saved with its own
``save_pretrained``, with OPUS-MT's conventions: separate source and target SentencePiece models and
one ``vocab.json`` (``</s>`` 0, ``<unk>`` 1, ``<pad>`` last and the decoder's start), swish, scaled
embeddings, sinusoidal positions, a nonzero ``final_logits_bias``. After the import, mt's greedy
output must equal transformers' ``generate`` on at least 99% of the lines, and the source must be
segmented as ``MarianTokenizer`` segments it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from mt.config import DecodeConfig, ModelConfig
from mt.data.tokenizer import Tokenizer, existing_models
from mt.decode.load import load_model, read_model_state
from mt.decode.run import translate_nbest
from mt.model import VocabInfo, build_model
from mt.model.marian import MarianImportError
from mt.train.init import init_from
from mt.utils.errors import MTError

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

EN = ["a man is riding a bike", "two dogs play in the snow", "the girl reads a book in the park",
      "people are walking down the street", "a woman sings on a stage", "children swim in a lake"]
DE = ["ein mann fährt fahrrad", "zwei hunde spielen im schnee", "das mädchen liest ein buch im park",
      "leute gehen die straße entlang", "eine frau singt auf einer bühne", "kinder schwimmen in einem see"]


def _spm(tmp: Path, name: str, lines: list[str]) -> Path:
    text = tmp / f"{name}.txt"
    text.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp / name), vocab_size=40,
                                   character_coverage=1.0, minloglevel=2, bos_id=-1, eos_id=0, unk_id=1)
    return tmp / f"{name}.model"


@pytest.fixture(scope="module")
def opus_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("opus")
    source, target = _spm(tmp, "source", EN), _spm(tmp, "target", DE)
    pieces = ["</s>", "<unk>"]
    for path in (source, target):
        sp = spm.SentencePieceProcessor(model_file=str(path))
        pieces += [p for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size())) if p not in pieces]
    pieces.append("<pad>")
    (tmp / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(pieces)}), encoding="utf-8")
    pad = len(pieces) - 1
    config = transformers.MarianConfig(
        vocab_size=len(pieces), decoder_vocab_size=len(pieces), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        activation_function="swish", max_position_embeddings=128, scale_embedding=True,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.5)
        for p in model.parameters():
            p.mul_(4.0)  # sharper distributions: fewer near-ties between the two implementations
    out = tmp / "model"
    model.save_pretrained(str(out))
    tok = transformers.MarianTokenizer(source_spm=str(source), target_spm=str(target), vocab=str(tmp / "vocab.json"),
                                       source_lang="en", target_lang="de")
    tok.save_pretrained(str(out))
    return out


def _lines() -> list[str]:
    words = " ".join(EN).split()
    g = torch.Generator().manual_seed(1)
    return [" ".join(words[int(i)] for i in torch.randint(len(words), (int(n),), generator=g))
            for n in torch.randint(2, 12, (200,), generator=g)]


def test_greedy_output_equals_transformers_generate(opus_dir):
    state = read_model_state(opus_dir)
    assert state["model_config"]["activation"] == "swish" and state["model_config"]["output_bias"]
    assert (state["vocab"]["pad_id"], state["vocab"]["bos_id"], state["vocab"]["eos_id"]) == (
        state["vocab"]["size"] - 1, state["vocab"]["size"] - 1, 0)
    model = load_model(state, opus_dir).eval()
    tokenizer = Tokenizer.from_bytes(*existing_models(opus_dir))
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(opus_dir))
    hf = transformers.MarianMTModel.from_pretrained(str(opus_dir)).eval()
    lines = _lines()
    for line in lines[:20]:  # the source is segmented as MarianTokenizer does it, ids and all
        assert tokenizer.encode(line) + [tokenizer.eos_id] == hf_tok(line)["input_ids"]
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
    other_vocab = VocabInfo(size=state["vocab"]["size"], pad_id=0, bos_id=2, eos_id=3, unk_id=1)
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
