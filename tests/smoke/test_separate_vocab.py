"""Separate source and target vocabularies (``tokenizer.joint=false``), end to end.

A tiny model is trained on the demo corpus with a 400-piece English and a 520-piece German model, then
resumed, translated, exported to CTranslate2 and to Hugging Face, and imported back: every step must
carry both vocabularies, and greedy outputs must be identical in mt, CTranslate2 and transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mt.checkpoint import load_checkpoint
from mt.config import DecodeConfig, ExportConfig
from mt.data.prepare import load_prepared
from mt.decode.load import load_for_inference
from mt.decode.run import translate_nbest
from mt.export.run import export
from tests.conftest import ROOT, TINY, run_cli

SEPARATE = ["tokenizer.joint=false", "tokenizer.src_vocab_size=400", "tokenizer.tgt_vocab_size=520"]
TRAIN = ["trainer.max_steps=300", "optim.lr=3e-3", "optim.warmup_steps=50", "trainer.save_every=150",
         "trainer.valid_every=150"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("separate")
    run = tmp / "run"
    out = run_cli(["train.py", *TINY, *SEPARATE, *TRAIN, f"hydra.run.dir={run}", f"data.cache_dir={tmp / 'cache'}"],
                  cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return run


def _prepared(run_dir: Path) -> Path:
    return next(p for p in (run_dir.parent / "cache").iterdir() if (p / "meta.json").is_file())


def test_one_model_per_side_is_trained_and_carried_into_the_checkpoint(run_dir):
    prepared = _prepared(run_dir)
    meta = json.loads((prepared / "meta.json").read_text())
    assert not (prepared / "spm.model").exists() and meta["joint_vocab"] is False
    assert meta["vocab_sizes"] == {"en": 400, "de": 520}
    data = load_prepared(prepared)
    assert (data.tokenizer.src_vocab_size, data.tokenizer.vocab_size) == (400, 520)
    assert not data.tokenizer.shared_vocab
    # The reverse direction reads the same directory with the sides swapped.
    reverse = load_prepared(prepared, "de", "en")
    assert (reverse.tokenizer.src_vocab_size, reverse.tokenizer.vocab_size) == (520, 400)

    state = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert state["vocab"]["size"] == 520 and state["vocab"]["src_size"] == 400
    assert "target_model" in state["tokenizer"]
    weights = state["model"]
    assert weights["src_embed.weight"].shape[0] == 400 and weights["tgt_embed.weight"].shape[0] == 520
    models, tokenizer, _ = load_for_inference([run_dir / "checkpoints" / "best.pt"], "cpu")
    model = models[0]
    assert model.src_embed is not model.tgt_embed and model.output_weight is model.tgt_embed.weight
    line = "she sees two small cats"
    assert tokenizer.encode(line) == data.tokenizer.encode(line)  # the source model, not the target's
    assert tokenizer.encode_target("sie sieht zwei kleine Katzen") == \
        data.tokenizer.encode_target("sie sieht zwei kleine Katzen")


def test_a_resumed_run_keeps_both_vocabularies(run_dir):
    out = run_cli(["train.py", *TINY, *SEPARATE, *TRAIN, "trainer.max_steps=320", f"hydra.run.dir={run_dir}",
                   f"data.cache_dir={run_dir.parent / 'cache'}"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resum" in (out.stdout + out.stderr).lower()
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["trainer"]["step"] == 320


def _src_lines(run_dir: Path) -> list[str]:
    return (_prepared(run_dir) / "test.en.txt").read_text(encoding="utf-8").splitlines()[:40]


def test_exports_carry_both_vocabularies_and_decode_as_mt_does(run_dir):
    pytest.importorskip("ctranslate2")
    transformers = pytest.importorskip("transformers")
    from mt.decode.ct2 import TARGET_SENTENCEPIECE_FILE, load_ct2, translate_nbest_ct2
    from mt.export.hf import load_marian, marian_translate

    checkpoint = run_dir / "checkpoints" / "best.pt"
    models, tokenizer, _ = load_for_inference([checkpoint], "cpu")
    src = _src_lines(run_dir)
    reference = [h[0].tokens for h in translate_nbest(models, tokenizer, src, DecodeConfig(beam_size=1))]
    assert sum(len(t) > 2 for t in reference) > 30

    ct2_dir, hf_dir = run_dir / "ct2", run_dir / "hf"
    export(ExportConfig(checkpoint=str(checkpoint), output=str(ct2_dir)))
    assert (ct2_dir / TARGET_SENTENCEPIECE_FILE).is_file()
    ct2 = translate_nbest_ct2(load_ct2(ct2_dir, "cpu", threads=1), src, DecodeConfig(beam_size=1))
    assert [h[0].tokens for h in ct2] == reference

    export(ExportConfig(checkpoint=str(checkpoint), format="huggingface", output=str(hf_dir)))
    config = json.loads((hf_dir / "config.json").read_text())
    assert (config["vocab_size"], config["decoder_vocab_size"]) == (400, 520)
    assert config["share_encoder_decoder_embeddings"] is False
    hf_tok = transformers.MarianTokenizer.from_pretrained(str(hf_dir))
    assert hf_tok.separate_vocabs
    for line in src[:20]:
        assert hf_tok(line)["input_ids"] == tokenizer.encode(line) + [tokenizer.eos_id]
    target = "zwei kleine Katzen schlafen"
    assert hf_tok(text_target=target)["input_ids"] == tokenizer.encode_target(target) + [tokenizer.eos_id]
    assert marian_translate(load_marian(hf_dir), src) == reference

    # The Hugging Face directory imports back: same vocabularies, same greedy tokens.
    imported, imported_tok, info = load_for_inference([hf_dir], "cpu")
    assert info["vocab"]["src_size"] == 400 and not imported_tok.shared_vocab
    again = [h[0].tokens for h in translate_nbest(imported, imported_tok, src, DecodeConfig(beam_size=1))]
    assert again == reference
    with torch.no_grad():
        assert torch.equal(imported[0].src_embed.weight, models[0].src_embed.weight)
