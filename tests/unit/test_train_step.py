"""The training step: no host sync per micro-batch, exact token normalisation under accumulation,
and non-finite gradients that never reach the weights nor advance the step or the LR schedule."""

from __future__ import annotations

import pytest
import torch

from mt.config import train_config
from mt.train.loss import label_smoothed_nll
from mt.train.optim import lr_at
from mt.train.trainer import Trainer
from tests.conftest import ROOT, TINY

HOST_READS = ("item", "tolist", "nonzero", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
"""Tensor methods that bring values to the host (on a GPU: wait for every queued kernel)."""


@pytest.fixture
def make_trainer(tmp_path, tiny_cache, compose_cfg):
    made = []

    def make(*overrides: str) -> Trainer:
        run_dir = tmp_path / f"run{len(made)}"
        cfg = train_config(compose_cfg([*TINY, f"data.cache_dir={tiny_cache}", "trainer.device=cpu",
                                        "model.dropout=0.0", *overrides], run_dir, ROOT))
        made.append(Trainer(cfg, run_dir))
        return made[-1]

    yield make
    for trainer in made:
        trainer.close()


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_step_calls_no_host_reading_tensor_method_but_the_finite_check(make_trainer, monkeypatch):
    """Counts the calls of the Tensor methods in HOST_READS during train_step with 4 micro-batches:
    only the update's finite check may call one. It sees method calls only, not the syncs hidden in
    operators (``x[mask]``, ``torch.nonzero(x)``, a blocking copy); tests/gpu's
    ``test_training_update_makes_no_host_sync_but_the_finite_check`` catches those with CUDA's detector."""
    trainer = make_trainer("trainer.update_freq=4", "trainer.prefetch_batches=0")
    batches = [next(trainer.batch_stream()) for _ in range(4)]
    calls: list[str] = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    stats = trainer.train_step(batches)
    monkeypatch.undo()
    assert stats["applied"] and trainer.step == 1
    assert calls == ["__bool__"], calls


def test_accumulated_gradient_is_the_gradient_per_target_token_of_the_update(make_trainer, monkeypatch):
    """update_freq=3: the gradient the optimizer sees equals autograd's gradient of the summed loss of
    the three batches divided by their total target tokens, computed by hand with the reference loss."""
    trainer = make_trainer("trainer.update_freq=3", "optim.clip_norm=0", "trainer.prefetch_batches=0")
    stream = trainer.batch_stream()
    batches = [next(stream) for _ in range(3)]
    model, eps, pad = trainer.model, trainer.cfg.optim.label_smoothing, trainer.tokenizer.pad_id
    total = sum(b.num_tgt_tokens for b in batches)
    model.train()
    loss = sum(label_smoothed_nll(model(b.src_tokens, b.tgt_in), b.tgt_out, epsilon=eps, pad_id=pad)[0]
               for b in batches) / total
    expected = torch.autograd.grad(loss, list(model.parameters()))

    seen = {}
    monkeypatch.setattr(trainer.optimizer, "step", lambda: seen.update(
        grads=[p.grad.clone() for p in model.parameters()]))
    trainer.train_step(batches)
    for got, want in zip(seen["grads"], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)


def _poison_gradients(trainer: Trainer) -> None:
    """A NaN in one gradient while the loss stays finite (e.g. an fp overflow inside backward)."""
    weight = trainer.model.output_weight
    weight.register_hook(lambda grad: grad * float("nan"))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_nan_gradient_with_finite_loss_never_reaches_the_weights(make_trainer, precision):
    trainer = make_trainer(f"trainer.precision={precision}", "trainer.prefetch_batches=0")
    stream = trainer.batch_stream()
    before = _weights(trainer)
    _poison_gradients(trainer)
    stats = trainer.train_step([next(stream)])
    assert torch.isfinite(stats["loss_sum"]) and not torch.isfinite(stats["grad_norm"])
    assert not stats["applied"]
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not any(trainer.optimizer.state.values())  # AdamW's moments untouched too


def test_skipped_update_advances_neither_step_nor_lr_schedule(make_trainer, monkeypatch):
    """Two updates with a NaN loss, then a good one: the good one is step 1 with lr_at(1)."""
    trainer = make_trainer("trainer.prefetch_batches=0")
    stream = trainer.batch_stream()
    import mt.train.trainer as trainer_module

    real_loss = trainer_module.projected_label_smoothed_nll

    def nan_loss(*args, **kwargs):
        loss, nll = real_loss(*args, **kwargs)
        return loss * float("nan"), nll

    monkeypatch.setattr(trainer_module, "projected_label_smoothed_nll", nan_loss)
    for _ in range(2):
        assert not trainer.train_step([next(stream)])["applied"]
    assert trainer.step == 0 and trainer.bad_steps.in_a_row == 2
    monkeypatch.undo()
    stats = trainer.train_step([next(stream)])
    assert stats["applied"] and trainer.step == 1 and trainer.bad_steps.in_a_row == 0
    assert stats["lr"] == lr_at(1, trainer.cfg.optim, trainer.tc.max_steps)
    assert trainer.optimizer.param_groups[0]["lr"] == stats["lr"]


def test_pad_to_multiple_reaches_the_training_batches(make_trainer):
    assert make_trainer().pad_to_multiple == 1  # the CPU default: no extra padding
    trainer = make_trainer("trainer.pad_to_multiple=8")
    stream = trainer.batch_stream()
    for _ in range(5):
        batch = next(stream)
        assert batch.src_tokens.size(1) % 8 == 0 and batch.tgt_out.size(1) % 8 == 0
        assert max(batch.src_tokens.numel(), batch.tgt_out.numel()) <= trainer.tc.max_tokens
    assert trainer.train_step([batch])["applied"]
