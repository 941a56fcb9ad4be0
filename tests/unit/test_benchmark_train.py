"""scripts/benchmarks: the plain loop is mt's model and step but for the loop, FLOPs, peaks, fixed-length decoding."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mt.config import ModelConfig, OptimConfig
from mt.decode.search import beam_search
from mt.model.transformer import Transformer
from mt.train.loss import label_smoothed_nll
from mt.train.optim import build_optimizer
from mt.utils.device import autocast
from tests.unit.test_search import IDS, random_model, random_source

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from benchmarks import device_check, hardware  # noqa: E402
from benchmarks.plain_loop import PlainSeq2Seq, plain_loop  # noqa: E402
from benchmarks.train import training_flops  # noqa: E402

CFG = ModelConfig(encoder_layers=2, decoder_layers=2, d_model=32, n_heads=4, ffn_dim=64, dropout=0.1,
                  attention_dropout=0.0, activation_dropout=0.0, max_positions=64)


def _copy_weights(mt: Transformer, plain: PlainSeq2Seq) -> None:
    """Load mt's weights into the plain model: the two name the same parameters differently."""
    core = plain.core
    with torch.no_grad():
        plain.embed.weight.copy_(mt.src_embed.weight)
        for ours, theirs in zip(mt.encoder_layers, core.encoder.layers, strict=True):
            theirs.self_attn.in_proj_weight.copy_(ours.self_attn.qkv_proj.weight)
            theirs.self_attn.in_proj_bias.copy_(ours.self_attn.qkv_proj.bias)
            theirs.self_attn.out_proj.load_state_dict(ours.self_attn.out_proj.state_dict())
            theirs.norm1.load_state_dict(ours.attn_block.norm.state_dict())
            theirs.norm2.load_state_dict(ours.ffn_block.norm.state_dict())
            theirs.linear1.load_state_dict(ours.ffn.fc1.state_dict())
            theirs.linear2.load_state_dict(ours.ffn.fc2.state_dict())
        for ours, theirs in zip(mt.decoder_layers, core.decoder.layers, strict=True):
            theirs.self_attn.in_proj_weight.copy_(ours.self_attn.qkv_proj.weight)
            theirs.self_attn.in_proj_bias.copy_(ours.self_attn.qkv_proj.bias)
            theirs.self_attn.out_proj.load_state_dict(ours.self_attn.out_proj.state_dict())
            cross = ours.cross_attn
            theirs.multihead_attn.in_proj_weight.copy_(torch.cat([cross.q_proj.weight, cross.kv_proj.weight]))
            theirs.multihead_attn.in_proj_bias.copy_(torch.cat([cross.q_proj.bias, cross.kv_proj.bias]))
            theirs.multihead_attn.out_proj.load_state_dict(cross.out_proj.state_dict())
            for norm, block in zip((theirs.norm1, theirs.norm2, theirs.norm3),
                                   (ours.self_block, ours.cross_block, ours.ffn_block), strict=True):
                norm.load_state_dict(block.norm.state_dict())
            theirs.linear1.load_state_dict(ours.ffn.fc1.state_dict())
            theirs.linear2.load_state_dict(ours.ffn.fc2.state_dict())


@pytest.mark.parametrize("pre_norm", [False, True])
def test_plain_model_computes_the_same_function_as_mt(pre_norm):
    """Same shape, same parameters, same logits: the yardstick differs from mt only in how it runs."""
    cfg = ModelConfig(**{**CFG.__dict__, "pre_norm": pre_norm})
    torch.manual_seed(0)
    mt, plain = Transformer(cfg, 40, IDS["pad_id"]).eval(), PlainSeq2Seq(cfg, 40, IDS["pad_id"]).eval()
    assert sum(p.numel() for p in plain.parameters()) == mt.num_parameters()
    _copy_weights(mt, plain)
    src = random_source(1, [7, 5, 3], vocab=40)
    tgt_in = random_source(2, [6, 6, 2], vocab=40)
    tgt_in[:, 0] = IDS["bos_id"]
    with torch.no_grad():
        expected, got = mt(src, tgt_in), plain(src, tgt_in)
    real = tgt_in != IDS["pad_id"]  # outputs at pad positions are never used by the loss
    torch.testing.assert_close(got[real], expected[real], atol=2e-5, rtol=1e-4)


def test_plain_model_has_mts_dropout_placement():
    cfg = ModelConfig(**{**CFG.__dict__, "dropout": 0.3, "attention_dropout": 0.1, "activation_dropout": 0.05})
    plain = PlainSeq2Seq(cfg, 40, IDS["pad_id"])
    assert plain.dropout.p == 0.3  # embeddings
    for layer in [*plain.core.encoder.layers, *plain.core.decoder.layers]:
        assert layer.self_attn.dropout == 0.1
        assert layer.dropout.p == 0.05  # FFN hidden
        assert layer.dropout1.p == layer.dropout2.p == 0.3  # residual branches
    assert all(layer.multihead_attn.dropout == 0.1 for layer in plain.core.decoder.layers)
    assert plain.core.encoder.norm is None and plain.core.decoder.norm is None  # post-norm: no final norm


def test_plain_step_uses_mts_optimizer_and_loss():
    """One update of the plain loop equals one hand-written update with mt's optimizer and loss."""
    torch.manual_seed(0)
    cfg = SimpleNamespace(model=ModelConfig(**{**CFG.__dict__, "dropout": 0.0}),
                          optim=OptimConfig(lr=1e-3, clip_norm=0.5, weight_decay=0.01))
    trainer = SimpleNamespace(cfg=cfg, tokenizer=SimpleNamespace(vocab_size=40, pad_id=IDS["pad_id"]),
                              device=torch.device("cpu"), precision="fp32",
                              autocast=lambda: autocast(torch.device("cpu"), "fp32"))
    src = random_source(3, [7, 5], vocab=40)
    tgt = random_source(4, [6, 4], vocab=40)
    tgt_in = torch.cat([torch.full((2, 1), IDS["bos_id"]), tgt[:, :-1]], dim=1)
    batch = SimpleNamespace(src_tokens=src, tgt_in=tgt_in, tgt_out=tgt, num_tgt_tokens=int((tgt != 0).sum()))
    batch.to = lambda device, non_blocking=False: batch
    torch.manual_seed(5)
    step = plain_loop(trainer)
    torch.manual_seed(5)
    reference = PlainSeq2Seq(cfg.model, 40, IDS["pad_id"])
    optimizer = build_optimizer(reference, cfg.optim, "cpu")
    loss, _ = label_smoothed_nll(reference(src, tgt_in), tgt, epsilon=0.1, pad_id=IDS["pad_id"])
    (loss / batch.num_tgt_tokens).backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
    optimizer.step()
    step([batch])
    model = step.__closure__ and next(c.cell_contents for c in step.__closure__
                                      if isinstance(c.cell_contents, PlainSeq2Seq))
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


def test_training_flops_by_hand():
    """One layer each side, d 2, FFN 4, vocabulary 10, one source and one target token of length 1."""
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=2, n_heads=1, ffn_dim=4)
    enc = 2 * (4 * 4 + 2 * 2 * 4) + 4 * 1 * 2  # projections + attention scores/values = 56
    dec = 2 * (6 * 4 + 2 * 2 * 4) + 2 * 1 * 2 + 4 * 1 * 2  # = 92
    cross_kv, out = 2 * 2 * 4, 2 * 2 * 10  # 16, 40
    assert training_flops(cfg, 10, 1, 1, 1, 1) == 3 * (enc + cross_kv + dec + out)


def test_transformer_big_costs_about_1_3_gflop_per_target_token():
    """The issue's yardstick for the 40% MFU aim: ~1.3 GFLOP per target token at WMT lengths (32k vocab)."""
    big = ModelConfig(encoder_layers=6, decoder_layers=6, d_model=1024, n_heads=16, ffn_dim=4096)
    per_token = training_flops(big, 32000, 28, 30, 32, 32) / 30
    assert 1.1e9 < per_token < 1.4e9


@pytest.mark.parametrize(("name", "precision", "peak"), [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.0), ("NVIDIA H100 80GB HBM3", "tf32", 494.0),
    ("NVIDIA H100 PCIe", "fp16", 756.0), ("NVIDIA H200", "bf16", 989.0), ("NVIDIA A100-SXM4-80GB", "tf32", 156.0),
    ("NVIDIA GeForce RTX 4090", "bf16", None), ("cpu", "fp32", None)])
def test_vendor_peaks_are_matched_by_device_name(name, precision, peak):
    assert hardware.vendor_peak_tflops(name, precision) == peak


def test_tf32_is_allowed_only_for_tf32():
    try:
        hardware.set_matmul_precision("tf32")
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cuda.matmul.allow_tf32
        hardware.set_matmul_precision("fp32")
        assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cuda.matmul.allow_tf32
    finally:
        hardware.set_matmul_precision("fp32")
    assert hardware.trainer_precision("tf32") == "fp32" and hardware.matmul_dtype("bf16") == torch.bfloat16


def test_fixed_length_decoding_gives_every_sentence_ratio_times_its_source():
    """What the decode benchmark does with a random model: EOS forbidden until, and forced at, the limit."""
    model = random_model(0, eos_bias=8.0)  # a model that would rather stop at once
    lengths = [9, 6, 3]
    hyps = beam_search([model], random_source(0, lengths), beam_size=4, max_len_a=1.5, max_len_b=0,
                       min_len=1 << 20, **IDS)
    assert [len(h[0].tokens) for h in hyps] == [math.floor(1.5 * n) for n in lengths]


def test_run_limited_kills_the_whole_process_group_on_time_out(tmp_path):
    marker = tmp_path / "child-survived"
    child = tmp_path / "child.py"
    child.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    parent = tmp_path / "parent.py"
    parent.write_text(f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, {str(child)!r}])\n"
                      "time.sleep(30)\n")
    status, _, _, seconds = device_check.run_limited([sys.executable, str(parent)], 1.0, {})
    assert status is None and seconds < 10
    time.sleep(3.5)
    assert not marker.exists()  # the grandchild went with its parent


def test_summary_reports_the_ratios_of_the_aims():
    def train(model, precision, loop, speed, **extra):
        return {"phase": "train", "model": model, "precision": precision, "loop": loop, "status": "ok",
                "tgt_tok_per_s": speed, **extra}

    records = [train("transformer_big", "bf16", "mt", 300.0, mfu_vendor=0.41), train("transformer_big", "bf16", "plain", 200.0),
               train("transformer_big", "tf32", "mt", 150.0), train("transformer_big", "tf32", "plain", 100.0),
               {"phase": "compile", "model": "transformer_big", "precision": "bf16", "loop": "mt", "compile": True,
                "status": "timeout"}]
    out = device_check.summary(records)
    assert out["mt_over_plain"] == {"transformer_big bf16": 1.5, "transformer_big tf32": 1.5}
    assert out["bf16_over_tf32"] == {"transformer_big mt": 2.0, "transformer_big plain": 2.0}
    assert out["big_bf16_mfu_vendor"] == 0.41
    assert out["not_ok"] == ["compile transformer_big bf16 mt"]


def _fake_phases(monkeypatch, outcome=lambda phase: "ok"):
    """Phases that take exactly their planned seconds on a fake clock; returns the clock and the
    (title, limit, seconds left) of each phase run."""
    clock, ran = [0.0], []
    monkeypatch.setattr(device_check, "environment", lambda plan: {"phase": "environment", "status": "ok",
                                                                   "device": "NVIDIA H100 80GB HBM3"})

    def run_phase(phase, limit_s, env, reporter):
        ran.append((phase.title, limit_s, 300 - clock[0]))
        clock[0] += phase.planned_s
        return {"phase": phase.name, **phase.labels, "status": outcome(phase), "tgt_tok_per_s": 100.0}

    monkeypatch.setattr(device_check, "run_phase", run_phase)
    return clock, ran


def test_device_check_plan_fits_its_budget_most_valuable_first_and_skips_what_would_overrun(
        monkeypatch, tmp_path, capsys):
    args = device_check.parse_args([])
    plan = device_check.make_plan(args)
    todo = device_check.phases(plan, tmp_path)
    assert device_check.planned_total(plan, todo) <= plan.budget_s == device_check.BUDGET_S <= 480
    assert [p.title for p in todo[:4]] == ["prepare", "train transformer_big bf16 mt",
                                           "train transformer_big tf32 mt", "train transformer_big bf16 plain"]
    assert [p.name for p in todo[-5:]] == ["train", "decode", "decode", "tests_gpu", "compile"]

    clock, ran = _fake_phases(monkeypatch)
    args = device_check.parse_args(["--budget", "300"])
    records = device_check.run_all(device_check.make_plan(args), args, tmp_path, device_check.Reporter(None),
                                   clock=lambda: clock[0])
    assert [title for title, _, _ in ran] == [p.title for p in todo[:-2]]  # 232 s planned before tests_gpu
    assert all(limit <= left for _, limit, left in ran)  # a phase never runs past the budget
    skipped = [(r["phase"], r["error"]) for r in records if r.get("status") == "skipped"]
    assert skipped == [("tests_gpu", "68 s of the 300 s budget left, 110 s planned"),
                       ("compile", "68 s of the 300 s budget left, 120 s planned")]
    assert records[-1]["not_ok"] == ["tests_gpu", "compile transformer_big bf16 mt"]
    log = capsys.readouterr().err
    assert "=== tests_gpu: skipped, 68 s of the 300 s budget left, 110 s planned" in log
    assert "472 s                planned in all, of 300 s: 172 s over" in log


def test_device_check_without_prepared_data_still_runs_tests_gpu(monkeypatch, tmp_path):
    clock, ran = _fake_phases(monkeypatch, lambda phase: "failed" if phase.name == "prepare" else "ok")
    args = device_check.parse_args([])
    records = device_check.run_all(device_check.make_plan(args), args, tmp_path, device_check.Reporter(None),
                                   clock=lambda: clock[0])
    assert [title for title, _, _ in ran] == ["prepare", "tests_gpu"]
    assert {r["error"] for r in records if r.get("status") == "skipped"} == {
        "no prepared data: the prepare phase did not finish"}


def test_device_check_help_runs_without_torch_work():
    out = subprocess.run(["bash", str(SCRIPTS / "device_check.sh"), "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--smoke" in out.stdout


def test_synthetic_corpus_is_written_once_with_a_newstest_sized_test_split(tmp_path):
    from benchmarks import synthetic

    corpus = synthetic.synthetic_corpus(tmp_path, 200)
    assert len((corpus / "test.en").read_text().splitlines()) == 3003
    assert len((corpus / "train.de").read_text().splitlines()) == 200
    stamp = (corpus / "train.en").stat().st_mtime_ns
    assert synthetic.synthetic_corpus(tmp_path, 200) == corpus  # reused, not rewritten
    assert (corpus / "train.en").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    overrides = synthetic.overrides("transformer_big", corpus, tmp_path)
    assert overrides[0] == "experiment=wmt14_en_de_big" and "tokenizer.vocab_size=32000" in overrides
    with pytest.raises(ValueError, match="no WMT recipe"):
        synthetic.overrides("transformer_small", corpus, tmp_path)


def test_progress_counts_of_a_pytest_killed_midway():
    out = "..sF.s                                                    [ 45%]\n.E\nsome log line\n"
    assert device_check.progress_counts(out) == {"passed": 4, "failures": 1, "errors": 1, "skipped": 2}


def test_m30k_small_workload_composes_with_the_current_recipe(tmp_path):
    """The throughput workload starts from the Multi30k recipe and pins what it has moved on from; a
    recipe key that needs the budget (trainer.budget_dropout) must not break the step schedule."""
    import argparse

    from benchmarks.train import _config, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--data", str(tmp_path), "--cache-dir", str(tmp_path / "cache")])
    args.max_tokens = args.max_tokens or 4096
    cfg = _config(args, tmp_path / "run")
    assert cfg.trainer.budget_min == 0 and cfg.trainer.budget_dropout is None
    assert cfg.tokenizer.model_type == "unigram" and cfg.trainer.max_tokens == 4096
