"""CTranslate2 and Hugging Face exports of a tiny trained model decode as mt does.

One model is trained for a few hundred updates on the tiny demo corpus (seconds), exported both ways,
and decoded by mt, by CTranslate2 and by ``transformers``: greedy outputs must be identical, beam
outputs score within 0.3 BLEU of mt's. A second one, trained with ``model.tie_embeddings=false``, checks
the Hugging Face export of separate source, target and output embeddings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mt.config import ConfigError, DecodeConfig, ExportConfig, export_config, translate_config
from mt.decode.ct2 import load_ct2, translate_nbest_ct2
from mt.decode.load import load_for_inference
from mt.decode.run import translate_nbest
from mt.eval.metrics import score_corpus
from mt.export.hf import export_huggingface, interleaved_to_halves, load_marian, marian_translate
from mt.export.run import export
from mt.model import VocabInfo, build_model
from mt.model.transformer import sinusoidal_positions
from mt.utils.errors import MTError
from tests.conftest import ROOT, TINY, run_cli

TRAIN = ["trainer.max_steps=500", "optim.lr=3e-3", "optim.warmup_steps=50", "trainer.save_every=1000",
         "trainer.valid_every=1000", "trainer.test_at_end=true"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_cache) -> Path:
    """A tiny model trained deterministically (about 20 s on 2 cores), with its results.json."""
    run = tmp_path_factory.mktemp("export") / "run"
    out = run_cli(["train.py", *TINY, *TRAIN, f"hydra.run.dir={run}", f"data.cache_dir={tiny_cache}"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def test_set(run_dir, tiny_cache) -> tuple[list[str], list[str]]:
    prepared = next(p for p in tiny_cache.iterdir() if (p / "test.en.txt").is_file())
    src = (prepared / "test.en.txt").read_text(encoding="utf-8").splitlines()[:40]
    ref = (prepared / "test.de.txt").read_text(encoding="utf-8").splitlines()[:40]
    return src, ref


@pytest.fixture(scope="module")
def mt_model(run_dir):
    return load_for_inference([run_dir / "checkpoints" / "best.pt"], "cpu")


@pytest.fixture(scope="module")
def ct2_dir(run_dir) -> Path:
    out = run_dir / "export-ct2"
    export(ExportConfig(checkpoint=str(run_dir / "checkpoints" / "best.pt"), output=str(out)))
    return out


@pytest.fixture(scope="module")
def hf_dir(run_dir) -> Path:
    out = run_dir / "export-hf"
    export(ExportConfig(checkpoint=str(run_dir / "checkpoints" / "best.pt"), format="huggingface",
                        output=str(out)))
    return out


@pytest.fixture(scope="module")
def untied_run_dir(tmp_path_factory, tiny_cache) -> Path:
    """The same tiny model trained with separate source, target and output embeddings."""
    run = tmp_path_factory.mktemp("export-untied") / "run"
    out = run_cli(["train.py", *TINY, *TRAIN, "model.tie_embeddings=false", f"hydra.run.dir={run}",
                   f"data.cache_dir={tiny_cache}"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return run


def _load_cleanly(hf_dir: Path):
    """``MarianMTModel.from_pretrained`` of ``hf_dir``, asserting that every stored tensor found its
    parameter and every parameter its tensor (positions excepted: Marian rebuilds them)."""
    from transformers import MarianMTModel

    model, loading = MarianMTModel.from_pretrained(hf_dir, output_loading_info=True)
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"], loading
    return model.eval()


def _mt(mt_model, lines, beam):
    models, tokenizer, _ = mt_model
    return [hyps[0] for hyps in translate_nbest(models, tokenizer, lines, DecodeConfig(beam_size=beam))]


def test_greedy_is_identical_in_mt_ctranslate2_and_transformers(mt_model, ct2_dir, hf_dir, test_set):
    src, _ = test_set
    reference = [t.tokens for t in _mt(mt_model, src, beam=1)]
    assert sum(len(t) > 2 for t in reference) > 30  # a trained model: real sentences, not empty ones
    ct2 = translate_nbest_ct2(load_ct2(ct2_dir, "cpu", threads=1), src, DecodeConfig(beam_size=1))
    assert [hyps[0].tokens for hyps in ct2] == reference
    assert marian_translate(load_marian(hf_dir), src) == reference


def test_the_hugging_face_export_imports_back_to_identical_outputs(mt_model, hf_dir, test_set, tmp_path):
    """``read_model_state`` reads a Marian directory as a checkpoint: mt's own export comes back with
    the same tokens (greedy and beam), and translate.py takes the directory as its checkpoint."""
    src, _ = test_set
    imported = load_for_inference([hf_dir], "cpu")
    assert imported[1].to_bytes() != b"" and imported[2]["vocab"] == mt_model[2]["vocab"]
    for beam in (1, 4):
        assert [t.tokens for t in _mt(imported, src, beam)] == [t.tokens for t in _mt(mt_model, src, beam)]
    (tmp_path / "in.txt").write_text("\n".join(src[:5]) + "\n", encoding="utf-8")
    out = run_cli(["translate.py", f"checkpoint={hf_dir}", f"input={tmp_path / 'in.txt'}",
                   f"output={tmp_path / 'out.txt'}", "progress=false", "decode.beam_size=1"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines() == [t.text for t in _mt(mt_model, src[:5], 1)]


def test_init_from_starts_at_the_parents_score_and_resuming_wins(run_dir, tiny_cache, tmp_path):
    """A child of the trained model, prepared with its tokenizer, validates at step 0 at the parent's
    valid loss; run again in its directory, it resumes from its own last.pt instead."""
    parent = json.loads((run_dir / "results.json").read_text())
    child = tmp_path / "child"
    args = ["train.py", *TINY, f"data.cache_dir={tiny_cache}", f"hydra.run.dir={child}", "trainer.max_steps=20",
            f"trainer.init_from={run_dir / 'checkpoints' / 'best.pt'}", "trainer.validate_at_start=true",
            "optim.lr=1e-4", "trainer.valid_every=20", "trainer.save_every=20"]
    out = run_cli(args, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    log = (child / "train.log").read_text()
    assert "initialised from" in log and "tokenizer.from_model" in log
    step0 = float(next(line for line in log.splitlines() if "valid step 0 " in line).split("| loss ")[1].split()[0])
    assert step0 == pytest.approx(-parent["best_valid"], abs=2e-3)  # best_valid holds -loss (higher is better)
    again = run_cli([*args[:-3], "trainer.max_steps=30", "trainer.valid_every=20", "trainer.save_every=20"], cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    log = (child / "train.log").read_text()
    assert "resumed from" in log and log.count("initialised from") == 1
    wrong = run_cli([*args, "model.d_model=32", f"hydra.run.dir={tmp_path / 'wrong'}"], cwd=ROOT)
    assert wrong.returncode != 0 and "model.d_model=32 (parent: 64)" in wrong.stderr


def test_beam_outputs_score_within_0_3_bleu(mt_model, ct2_dir, hf_dir, test_set):
    src, ref = test_set
    models, tokenizer, _ = mt_model
    mt_bleu = score_corpus([t.text for t in _mt(mt_model, src, beam=4)], ref)["bleu"]
    ct2 = translate_nbest_ct2(load_ct2(ct2_dir, "cpu", threads=1), src, DecodeConfig(beam_size=4))
    ct2_bleu = score_corpus([hyps[0].text for hyps in ct2], ref)["bleu"]
    hf = tokenizer.decode_batch(marian_translate(load_marian(hf_dir), src, beam_size=4))
    hf_bleu = score_corpus(hf, ref)["bleu"]
    assert mt_bleu > 1.0
    assert abs(ct2_bleu - mt_bleu) <= 0.3 and abs(hf_bleu - mt_bleu) <= 0.3, (mt_bleu, ct2_bleu, hf_bleu)


def test_ctranslate2_nbest_scores_are_mts(mt_model, ct2_dir, test_set):
    """Scores come back on mt's scale (GNMT-normalised log-probs), ranked best first."""
    src, _ = test_set
    models, tokenizer, _ = mt_model
    cfg = DecodeConfig(beam_size=4, nbest=3)
    ours = translate_nbest(models, tokenizer, src[:10], cfg)
    theirs = translate_nbest_ct2(load_ct2(ct2_dir, "cpu", threads=1), src[:10], cfg)
    for a, b in zip(ours, theirs, strict=True):
        assert [h.score for h in b] == sorted((h.score for h in b), reverse=True)
        if a[0].tokens == b[0].tokens:
            assert b[0].score == pytest.approx(a[0].score, rel=2e-3)  # CTranslate2's own kernels


def test_parallel_ctranslate2_workers_match_one_and_leave_torch_threads_alone(ct2_dir, test_set):
    """Two workers of one thread (the CPU default) translate batches side by side: same output, in
    order, as one worker; creating them must not shrink PyTorch's thread count in this process."""
    src, _ = test_set
    torch_threads = torch.get_num_threads()
    parallel = load_ct2(ct2_dir, "cpu", threads=2, intra_threads=1)
    assert parallel.workers == 2 and torch.get_num_threads() == torch_threads
    cfg = DecodeConfig(beam_size=4, max_tokens=60)  # several batches per worker
    one = translate_nbest_ct2(load_ct2(ct2_dir, "cpu", threads=1), src, cfg)
    assert [h[0].tokens for h in translate_nbest_ct2(parallel, src, cfg)] == [h[0].tokens for h in one]
    # Two sentences per batch (8 beam rows at beam 4): the batches change, the translations do not.
    pairs = translate_nbest_ct2(parallel, src, cfg, max_beam_rows=8)
    assert [h[0].tokens for h in pairs] == [h[0].tokens for h in one]
    assert load_ct2(ct2_dir, "cpu", threads=2, intra_threads=2).workers == 1


def test_hugging_face_directory_loads_with_plain_transformers(hf_dir, run_dir, mt_model):
    from transformers import MarianTokenizer

    names = {p.name for p in hf_dir.iterdir()}
    assert {"config.json", "model.safetensors", "source.spm", "target.spm", "vocab.json",
            "tokenizer_config.json", "generation_config.json", "README.md"} <= names
    model, hf_tok = _load_cleanly(hf_dir), MarianTokenizer.from_pretrained(hf_dir)
    models, tokenizer, _ = mt_model
    line = "she sees two small cats"
    assert hf_tok([line])["input_ids"][0] == tokenizer.encode(line) + [tokenizer.eos_id]  # </s> appended
    config = json.loads((hf_dir / "config.json").read_text())
    assert config["decoder_start_token_id"] == tokenizer.bos_id and config["activation_function"] == "relu"
    # Same logits as mt's model, whose d_model coordinates the export permuted.
    src = torch.tensor([tokenizer.encode(line) + [tokenizer.eos_id]])
    tgt = torch.tensor([[tokenizer.bos_id] + tokenizer.encode("sie sieht")])
    with torch.no_grad():
        theirs = model(input_ids=src, decoder_input_ids=tgt).logits
        ours = models[0](src, tgt)
    assert torch.allclose(theirs, ours, atol=1e-4)
    card = (hf_dir / "README.md").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert f"{results['bleu']:.2f}" in card and results["signatures"]["bleu"] in card
    assert "demo" in card and "d_model: 64" in card


def test_untied_embeddings_export_loads_and_decodes_as_mt(untied_run_dir, test_set, tmp_path):
    """model.tie_embeddings=false: Marian gets separate encoder, decoder and output embeddings."""
    src, _ = test_set
    mt_model = load_for_inference([untied_run_dir / "checkpoints" / "best.pt"], "cpu")
    assert mt_model[0][0].output_proj is not None  # really untied
    hf_dir = tmp_path / "hf"
    export(ExportConfig(checkpoint=str(untied_run_dir / "checkpoints" / "best.pt"), format="huggingface",
                        output=str(hf_dir)))
    config = json.loads((hf_dir / "config.json").read_text())
    assert not config["share_encoder_decoder_embeddings"] and not config["tie_word_embeddings"]
    model = _load_cleanly(hf_dir)
    assert model.model.encoder.embed_tokens.weight is not model.model.decoder.embed_tokens.weight
    assert model.lm_head.weight is not model.model.decoder.embed_tokens.weight
    reference = [t.tokens for t in _mt(mt_model, src, beam=1)]
    assert sum(len(t) > 2 for t in reference) > 30
    assert marian_translate(load_marian(hf_dir), src) == reference


@pytest.mark.parametrize(("shared", "tied_output"), [(True, True), (True, False), (False, True), (False, False)])
def test_every_embedding_layout_exports_exactly(mt_model, tmp_path, shared, tied_output):
    """Source/target embeddings shared or not, output tied to the target embedding or not (mt's config
    builds the first and the last; the export reads the layout from the modules, so it covers all
    four): the export loads with no missing or unexpected tensor and gives mt's logits."""
    models, tokenizer, info = mt_model
    torch.manual_seed(0)
    model = build_model(models[0].cfg, VocabInfo.from_dict(info["vocab"])).eval()
    if not shared:
        model.tgt_embed = torch.nn.Embedding(model.vocab_size, model.cfg.d_model, padding_idx=tokenizer.pad_id)
    if not tied_output:
        model.output_proj = torch.nn.Linear(model.cfg.d_model, model.vocab_size, bias=False)
    export_huggingface(model, tokenizer, info, tmp_path / "hf", beam_size=1, card="")
    marian = _load_cleanly(tmp_path / "hf")
    src = torch.tensor([tokenizer.encode("she sees two small cats") + [tokenizer.eos_id]])
    tgt = torch.tensor([[tokenizer.bos_id] + tokenizer.encode("sie sieht")])
    with torch.no_grad():
        assert torch.allclose(marian(input_ids=src, decoder_input_ids=tgt).logits, model(src, tgt), atol=1e-5)


def test_permutation_turns_mts_position_table_into_marians():
    # mt: [sin f0, cos f0, sin f1, cos f1]; Marian: [sin f0, sin f1, cos f0, cos f1].
    assert interleaved_to_halves(4).tolist() == [0, 2, 1, 3]
    table = sinusoidal_positions(5, 4)[:, interleaved_to_halves(4)]
    pos = torch.arange(5.0)
    expected = torch.stack([pos.sin(), (pos * 0.01).sin(), pos.cos(), (pos * 0.01).cos()], dim=1)
    assert torch.allclose(table, expected, atol=1e-6)


def test_translate_cli_with_ctranslate2_keeps_lines(ct2_dir, mt_model, test_set, tmp_path):
    src, _ = test_set
    lines = [src[0], "", src[1], "   ", src[2]]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli([str(ROOT / "translate.py"), "backend=ctranslate2", f"model={ct2_dir}", "input=in.txt", "output=out.txt",
                   "decode.beam_size=1"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = (tmp_path / "out.txt").read_text(encoding="utf-8").split("\n")
    expected = [t.text for t in _mt(mt_model, lines, beam=1)]
    assert got == [*expected, ""] and got[1] == got[3] == ""


def test_int8_export_translates(run_dir, test_set):
    out = run_dir / "export-int8"
    export(ExportConfig(checkpoint=str(run_dir / "checkpoints" / "best.pt"), output=str(out),
                        quantization="int8"))
    assert json.loads((out / "mt_export.json").read_text())["quantization"] == "int8"
    assert (out / "model.bin").stat().st_size < (run_dir / "export-ct2" / "model.bin").stat().st_size / 2
    hyps = translate_nbest_ct2(load_ct2(out, "cpu", threads=1), test_set[0][:5], DecodeConfig())
    assert all(h[0].text for h in hyps)


def test_export_refuses_to_overwrite_and_cli_errors_are_one_line(run_dir, ct2_dir, tmp_path):
    ckpt = str(run_dir / "checkpoints" / "best.pt")
    with pytest.raises(MTError, match="already exists"):
        export(ExportConfig(checkpoint=ckpt, output=str(ct2_dir)))
    out = run_cli(["scripts/export.py", f"checkpoint={ckpt}", "format=onnx", f"output={tmp_path / 'x'}"], cwd=ROOT)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: format='onnx'")
    assert not (tmp_path / "x").exists()


def test_config_validation():
    with pytest.raises(ConfigError, match="quantization"):
        export_config({"checkpoint": "a.pt", "output": "o", "quantization": "int4"})
    with pytest.raises(ConfigError, match="ctranslate2 only"):
        export_config({"checkpoint": "a.pt", "output": "o", "format": "huggingface", "quantization": "int8"})
    with pytest.raises(ConfigError, match="model=DIR"):
        translate_config({"backend": "ctranslate2"})  # no model_dir
    with pytest.raises(ConfigError, match="backend"):
        translate_config({"backend": "onnx", "checkpoint": "a.pt"})
    with pytest.raises(ConfigError, match="ct2_intra_threads"):
        translate_config({"backend": "ctranslate2", "model_dir": "d", "ct2_intra_threads": 0})


@pytest.mark.parametrize(("module", "extra", "fmt"), [("ctranslate2", "ct2", "ctranslate2"),
                                                     ("transformers", "hf", "huggingface")])
def test_missing_extra_names_the_install_command(run_dir, tmp_path, monkeypatch, module, extra, fmt):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if the package were absent
    with pytest.raises(MTError, match=rf'pip install -e "\.\[{extra}\]"'):
        export(ExportConfig(checkpoint=str(run_dir / "checkpoints" / "best.pt"), format=fmt,
                            output=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
