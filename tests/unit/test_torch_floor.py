"""The declared torch floor (pyproject.toml) holds for the training step: the APIs that the step once
used and that appeared after the floor are hidden, and one update still runs (and one that runs out
of memory is still reported). CI runs a newer torch,
so this is the check that a call added after the floor fails here rather than on a user's older
image. Add an API to NEWER_THAN_FLOOR when the code starts to avoid it for the floor's sake."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import torch

from mt.config import train_config
from mt.train.optim import total_norm
from mt.train.trainer import Trainer
from mt.utils.errors import MTError
from tests.conftest import ROOT, TINY

CUDA_OOM = torch.cuda.OutOfMemoryError  # a CUDA out-of-memory error at every torch since 1.13

NEWER_THAN_FLOOR = {  # (module, attribute): the torch release that added it
    (torch.nn.utils, "get_total_norm"): (2, 6),
    (torch.nn.utils, "clip_grads_with_norm_"): (2, 6),
    (torch, "OutOfMemoryError"): (2, 5),  # torch.cuda.OutOfMemoryError is older (and the same class since)
}


def _declared_floor() -> tuple[int, int]:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"torch>=(\d+)\.(\d+)', text)
    assert match, "pyproject.toml declares no torch floor"
    return int(match[1]), int(match[2])


def test_the_hidden_apis_are_newer_than_the_declared_floor():
    floor = _declared_floor()
    assert all(added > floor for added in NEWER_THAN_FLOOR.values()), floor


@pytest.fixture
def floor_trainer(tmp_path, tiny_cache, compose_cfg, monkeypatch) -> Iterator[Trainer]:
    """A tiny CPU trainer with the APIs newer than the floor hidden."""
    for (module, name), _added in NEWER_THAN_FLOOR.items():
        monkeypatch.delattr(module, name, raising=False)
    cfg = train_config(compose_cfg([*TINY, f"data.cache_dir={tiny_cache}", "trainer.device=cpu",
                                    "trainer.prefetch_batches=0"], tmp_path / "run", ROOT))
    trainer = Trainer(cfg, tmp_path / "run")
    try:
        yield trainer
    finally:
        trainer.close()


def test_one_update_runs_without_apis_newer_than_the_floor(floor_trainer):
    stats = floor_trainer.train_step([next(floor_trainer.batch_stream())])
    assert stats["applied"] and floor_trainer.step == 1 and float(stats["grad_norm"]) > 0


def test_out_of_memory_is_reported_without_apis_newer_than_the_floor(floor_trainer, monkeypatch):
    """The ``except`` clause names its exception only when one is raised: a name the floor lacks
    would turn the out-of-memory advice into an AttributeError."""
    def out_of_memory(batch, sync):
        raise CUDA_OOM("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(floor_trainer, "forward_backward", out_of_memory)
    with pytest.raises(MTError, match="out of memory at step 1 .* lower trainer.max_tokens"):
        floor_trainer.train_step([next(floor_trainer.batch_stream())])


@pytest.mark.parametrize("dtypes", [(torch.float32,), (torch.float32, torch.bfloat16)])
def test_total_norm_is_the_norm_of_all_tensors_together(dtypes):
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(shape, generator=gen).to(dtypes[i % len(dtypes)])
               for i, shape in enumerate([(3, 4), (7,), (2, 2, 5)])]
    expected = torch.cat([t.float().flatten() for t in tensors]).norm()
    assert total_norm(tensors).item() == pytest.approx(expected.item(), rel=1e-3 if len(dtypes) > 1 else 1e-6)
    assert total_norm([]).item() == 0.0
