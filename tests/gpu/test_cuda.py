"""The GPU paths: fp16 with dynamic loss scaling, bf16, NCCL, the fused loss and the decoder on CUDA.

Skipped without a CUDA GPU (CI has none); on a GPU box run ``python -m pytest tests/gpu``.
"""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch

from mt.decode.search import beam_search
from mt.train.loss import label_smoothed_nll, projected_label_smoothed_nll
from tests.conftest import ROOT, TINY, run_cli
from tests.unit.test_search import IDS, random_model, random_source, tokens_of

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _losses(run_dir) -> list[float]:
    """The train/loss curve of a run, from its TensorBoard event files."""
    from tests.smoke.test_resume_and_ddp import _losses as losses  # imports tensorboard

    return losses(run_dir)


def _needs_tensorboard() -> None:
    """Only the tests that read loss curves need tensorboard; the others run on an image without it."""
    pytest.importorskip("tensorboard", reason="reads the loss curve from TensorBoard's event files")


def _train(run_dir, cache, *extra, launcher=()):
    args = [*launcher, "train.py", *TINY, f"hydra.run.dir={run_dir}", f"data.cache_dir={cache}",
            "trainer.device=cuda", "trainer.max_steps=60", "trainer.save_every=30", *extra]
    out = run_cli(args, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.parametrize("precision", ["fp16", "bf16", "fp32"])
def test_training_on_cuda_learns_and_resumes(tmp_path, tiny_cache, precision):
    _needs_tensorboard()
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("bf16 needs an Ampere or newer GPU")
    _train(tmp_path, tiny_cache, f"trainer.precision={precision}")
    losses = _losses(tmp_path)
    assert len(losses) == 60 and losses[-1] < 0.8 * losses[0]
    out = _train(tmp_path, tiny_cache, f"trainer.precision={precision}", "trainer.max_steps=70")
    assert "resumed from" in out.stderr
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["trainer"]["step"] == 70
    if precision == "fp16":  # the scaler's state travels with the checkpoint
        assert state["scaler"]["scale"] > 0


def test_fp16_overflow_skips_the_update(tmp_path, tiny_cache, compose_cfg):
    """A loss scale too large for fp16 overflows the gradients: the update is skipped, the scale
    halves, the weights and the step count stay as they were."""
    from mt.config import train_config
    from mt.train.trainer import Trainer

    cfg = train_config(compose_cfg([*TINY, f"data.cache_dir={tiny_cache}", "trainer.device=cuda",
                                    "trainer.precision=fp16"], tmp_path, ROOT))
    trainer = Trainer(cfg, tmp_path)
    trainer.scaler = torch.amp.GradScaler("cuda", init_scale=2.0 ** 60)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batch = next(trainer.batch_stream())
    stats = trainer.train_step([batch])
    assert not stats["applied"] and trainer.step == 0
    assert trainer.scaler.get_scale() == 2.0 ** 59
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    trainer.close()


@pytest.mark.parametrize("precision", ["fp16", "bf16", "fp32"])
def test_training_update_makes_no_host_sync_but_the_finite_check(tmp_path, tiny_cache, compose_cfg,
                                                                 monkeypatch, precision):
    """One update of ``Trainer.train_step`` (two micro-batches) and the meter's per-update sum, under
    PyTorch's detector of host syncs, ``torch.cuda.set_sync_debug_mode("error")``: any operation that
    makes the host wait for the device raises (``.item()``, ``.cpu()``, ``nonzero()``, boolean-mask
    indexing, a blocking copy), wherever it hides. The update's one intended read, whether the gradient
    is finite (``bool()`` in ``_optimizer_step``), is let through and counted; the log interval's read
    (``TrainMeter.flush``) comes after, outside the detector."""
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("bf16 needs an Ampere or newer GPU")
    from mt.config import train_config
    from mt.train.metrics import TrainMeter
    from mt.train.trainer import Trainer

    cfg = train_config(compose_cfg([*TINY, f"data.cache_dir={tiny_cache}", "trainer.device=cuda",
                                    f"trainer.precision={precision}", "trainer.update_freq=2",
                                    "trainer.prefetch_batches=0"], tmp_path, ROOT))
    trainer = Trainer(cfg, tmp_path)
    stream = trainer.batch_stream()
    trainer.train_step([next(stream), next(stream)])  # the first update creates the optimizer's state
    batches = [next(stream), next(stream)]  # collated and pinned before the detector is on
    meter = TrainMeter(trainer.device)
    reads: list[str] = []
    read_to_host = torch.Tensor.__bool__

    def intended_read(self):
        reads.append(sys._getframe(1).f_code.co_name)
        torch.cuda.set_sync_debug_mode(0)
        try:
            return read_to_host(self)
        finally:
            torch.cuda.set_sync_debug_mode("error")

    monkeypatch.setattr(torch.Tensor, "__bool__", intended_read)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        stats = trainer.train_step(batches)
        meter.add(stats["loss_sum"], stats["nll_sum"], stats["grad_norm"], tokens=stats["tokens"],
                  sentences=stats["sentences"], lr=stats["lr"])
    finally:
        torch.cuda.set_sync_debug_mode(0)
        monkeypatch.undo()
    logged = meter.flush()  # once per log interval: the loss and the norm reach the host here
    trainer.close()
    assert reads == ["_optimizer_step"], reads
    assert stats["applied"]
    assert math.isfinite(logged["loss"]) and logged["loss"] > 0 and math.isfinite(logged["grad_norm"])


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP on CUDA needs 2 GPUs (one process per GPU)")
def test_torchrun_on_two_gpus_matches_one_gpu(tmp_path, tiny_cache):
    """2 processes on 2 GPUs (DDP over NCCL, validation and test decoding split across ranks) follow
    the loss curve of 1 GPU with update_freq=2, as the gloo test does on CPU."""
    _needs_tensorboard()
    common = ("trainer.max_steps=20", "trainer.precision=fp32", "model.dropout=0.0")
    _train(tmp_path / "one", tiny_cache, *common, "trainer.update_freq=2")
    _train(tmp_path / "two", tiny_cache, *common, "trainer.valid_bleu=true", "trainer.test_at_end=true",
                 launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"))
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 20
    assert one == pytest.approx(two, rel=1e-3)  # TF32 may differ in rounding from local accumulation
    assert (tmp_path / "two" / "results.json").is_file()
    assert len((tmp_path / "two" / "test.hyp.txt").read_text().splitlines()) == 50


COLLECTIVES = """
import torch
import torch.distributed as td
from mt.utils.dist import backend_for
td.init_process_group(backend_for("cuda"), init_method="tcp://127.0.0.1:29533", rank=0, world_size=1)
cuda, cpu = torch.ones(2, device="cuda"), torch.ones(2)
td.all_reduce(cuda)  # gradients: NCCL
td.all_reduce(cpu)  # the trainer's scalars: gloo
box = [{"a": 1}]
td.broadcast_object_list(box)
out = [None]
td.all_gather_object(out, 3)
assert cuda.tolist() == cpu.tolist() == [1.0, 1.0] and box == [{"a": 1}] and out == [3]
print("backend", td.get_backend())
td.destroy_process_group()
"""


def test_process_group_takes_cuda_and_cpu_tensors(tmp_path):
    """On GPUs, gradients go through NCCL and the trainer's CPU scalars through gloo, in one group."""
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = run_cli([str(script)], cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "nccl" in out.stdout


def test_projected_loss_on_cuda_matches_reference():
    torch.manual_seed(0)
    hidden = torch.randn(64, 9, 32, device="cuda", requires_grad=True)
    weight = torch.randn(300, 32, device="cuda", requires_grad=True)
    target = torch.randint(0, 300, (64, 9), device="cuda")
    ref, _ = label_smoothed_nll(hidden @ weight.t(), target, epsilon=0.1, pad_id=0)
    ref_grads = torch.autograd.grad(ref, [hidden, weight])
    loss, _ = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0, chunk_elements=5000)
    grads = torch.autograd.grad(loss, [hidden, weight])
    torch.testing.assert_close(loss, ref, rtol=1e-4, atol=1e-3)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("seed", [1, 3])
def test_cached_beam_search_on_cuda_equals_uncached(seed):
    model = random_model(seed).cuda()
    src = random_source(seed, [7, 3, 9, 5, 2, 9]).cuda()
    common = dict(beam_size=4, nbest=1, max_len_a=1.0, max_len_b=4, **IDS)
    cached = beam_search([model], src, use_cache=True, **common)
    uncached = beam_search([model], src, use_cache=False, **common)
    assert tokens_of(cached) == tokens_of(uncached)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_keeps_attention_off_cudnn(precision):
    """cuDNN attention re-plans for every new shape (~20 ms a call on an H100); mt's batches change
    shape every step, so mixed precision on CUDA uses flash / memory-efficient attention."""
    from mt.utils.device import autocast

    before = torch.backends.cuda.cudnn_sdp_enabled()
    with autocast(torch.device("cuda"), precision):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() or torch.backends.cuda.mem_efficient_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
