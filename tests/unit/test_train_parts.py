"""Loss, learning-rate schedule and checkpoint helpers, against hand-derived values."""

import math

import pytest
import torch

from mt import checkpoint as ckpt
from mt.config import OptimConfig
from mt.train.loss import label_smoothed_nll, projected_label_smoothed_nll
from mt.train.optim import lr_at


def test_label_smoothing_hand_example():
    # Uniform logits over 4 classes: -log p = log 4 for every class.
    logits = torch.zeros(1, 2, 4)
    target = torch.tensor([[1, 0]])  # second token is padding
    loss, nll = label_smoothed_nll(logits, target, epsilon=0.1, pad_id=0)
    assert nll.item() == pytest.approx(math.log(4))
    assert loss.item() == pytest.approx(math.log(4))  # smoothing of a uniform distribution changes nothing


def test_label_smoothing_mixes_nll_and_uniform():
    logits = torch.tensor([[[2.0, 0.0, 0.0]]])
    target = torch.tensor([[0]])
    lp = torch.log_softmax(logits[0, 0], -1)
    loss, nll = label_smoothed_nll(logits, target, epsilon=0.2, pad_id=2)
    assert nll.item() == pytest.approx(-lp[0].item())
    assert loss.item() == pytest.approx(0.8 * -lp[0].item() + 0.2 * -lp.mean().item(), rel=1e-6)


def test_inverse_sqrt_schedule():
    cfg = OptimConfig(lr=1e-3, warmup_steps=100, warmup_init_lr=0.0)
    assert lr_at(50, cfg, 1000) == pytest.approx(5e-4)
    assert lr_at(100, cfg, 1000) == pytest.approx(1e-3)
    assert lr_at(400, cfg, 1000) == pytest.approx(5e-4)  # 1e-3 * sqrt(100/400)


def test_cosine_schedule():
    cfg = OptimConfig(lr=1e-3, warmup_steps=10, warmup_init_lr=0.0, schedule="cosine", min_lr=1e-4)
    assert lr_at(10, cfg, 110) == pytest.approx(1e-3)
    assert lr_at(60, cfg, 110) == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert lr_at(110, cfg, 110) == pytest.approx(1e-4)


def _state(value: float) -> dict:
    return {"model": {"w": torch.full((2,), value)}, "model_config": {}, "optimizer": {"x": 1}}


def test_checkpoint_roundtrip_average_and_prune(tmp_path):
    for step, value in [(1, 1.0), (2, 2.0), (3, 6.0)]:
        ckpt.save_checkpoint(_state(value), ckpt.step_path(tmp_path, step))
    paths = ckpt.list_step_checkpoints(tmp_path)
    assert [p.name for p in paths] == ["step_00000001.pt", "step_00000002.pt", "step_00000003.pt"]
    avg = ckpt.average_checkpoints(paths)
    assert torch.allclose(avg["model"]["w"], torch.full((2,), 3.0))
    assert "optimizer" not in avg
    ckpt.prune_step_checkpoints(tmp_path, keep=1)
    assert [p.name for p in ckpt.list_step_checkpoints(tmp_path)] == ["step_00000003.pt"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="not a readable"):
        ckpt.load_checkpoint(bad)


def test_checkpoint_refuses_pickled_objects(tmp_path):
    """weights_only loading: a checkpoint holding an arbitrary Python object is rejected."""
    path = tmp_path / "pickled.pt"
    torch.save({"model": {}, "model_config": {}, "obj": OptimConfig()}, path)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_checkpoint(path)


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(_state(1.0), path)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError):
        ckpt.save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path)["model"]["w"][0].item() == 1.0
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_projected_loss_matches_reference(epsilon):
    """The fused projection + loss gives the reference's loss, nll and gradients; pad rows are ignored
    and chunking changes nothing."""
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    target = torch.randint(1, 50, (3, 7))
    target[0, 4:] = 0
    target[2, 1:] = 0
    ref_loss, ref_nll = label_smoothed_nll(hidden @ weight.t(), target, epsilon=epsilon, pad_id=0)
    ref_grads = torch.autograd.grad(ref_loss * 0.5, [hidden, weight])
    for chunk in (50, 150, 10_000):
        loss, nll = projected_label_smoothed_nll(hidden, weight, target, epsilon=epsilon, pad_id=0,
                                                 chunk_elements=chunk)
        torch.testing.assert_close(loss, ref_loss)
        torch.testing.assert_close(nll, ref_nll)
        grads = torch.autograd.grad(loss * 0.5, [hidden, weight])
        for got, want in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(got, want)
        assert not grads[0][0, 4:].any() and not grads[0][2, 1:].any()  # pad rows get no gradient


def test_projected_loss_under_bf16_autocast():
    torch.manual_seed(0)
    hidden, weight = torch.randn(20, 16), torch.randn(40, 16)
    target = torch.randint(1, 40, (20,))
    ref, _ = label_smoothed_nll(hidden @ weight.t(), target, epsilon=0.1, pad_id=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=2e-2, atol=0)


def test_projected_loss_outside_grad_mode_computes_no_gradients():
    """Validation runs under no_grad: the fused loss must do the logits' matmul only (2 N V D FLOPs),
    not the two gradient matmuls as well, although the weight requires grad."""
    from torch.utils.flop_counter import FlopCounterMode

    n, vocab, dim = 6, 50, 16
    hidden = torch.randn(n, dim, requires_grad=True)
    weight = torch.randn(vocab, dim, requires_grad=True)
    target = torch.randint(1, vocab, (n,))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        loss, _ = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0)
    assert counter.get_total_flops() == 2 * n * vocab * dim
    with FlopCounterMode(display=False) as counter:
        training_loss, _ = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0)
    assert counter.get_total_flops() == 3 * 2 * n * vocab * dim  # forward + both gradients
    torch.testing.assert_close(loss, training_loss.detach())


def test_projected_loss_takes_the_real_rows_from_collate():
    torch.manual_seed(0)
    hidden, weight = torch.randn(2, 4, 8), torch.randn(30, 8)
    target = torch.tensor([[5, 6, 3, 0], [7, 3, 0, 0]])
    rows = torch.tensor([0, 1, 2, 4, 5])  # Batch.tgt_rows of this target
    with_rows = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0, rows=rows)
    found = projected_label_smoothed_nll(hidden, weight, target, epsilon=0.1, pad_id=0)
    for a, b in zip(with_rows, found, strict=True):
        torch.testing.assert_close(a, b)
