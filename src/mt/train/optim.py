"""AdamW and the learning-rate schedules: inverse square root (Vaswani et al. 2017) and cosine.

A schedule is warm-up (in updates) followed by a decay. The cosine decay is a function of a
*progress* fraction that goes from 0 at the end of warm-up to 1 at the end of the run; the run's
end is counted in updates (``trainer.max_steps``), on the clock (``trainer.budget_min``), or both,
and ``Schedule`` (schedule.py) turns either into that fraction.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mt.config import OptimConfig


def warmup_lr(step: int, cfg: OptimConfig) -> float | None:
    """The warm-up learning rate of update ``step`` (1-based), or None once warm-up is over."""
    warmup = max(cfg.warmup_steps, 0)
    if warmup and step <= warmup:
        return cfg.warmup_init_lr + (cfg.lr - cfg.warmup_init_lr) * step / warmup
    return None


def decay_lr(step: int, cfg: OptimConfig, progress: float) -> float:
    """The learning rate after warm-up: ``lr * sqrt(warmup_steps / step)`` (inverse_sqrt, which has
    no end and ignores ``progress``), or the cosine from ``lr`` at ``progress`` 0 to ``min_lr`` at 1."""
    if cfg.schedule == "inverse_sqrt":
        return cfg.lr * math.sqrt(max(cfg.warmup_steps, 1) / step)
    progress = min(1.0, max(0.0, progress))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def step_progress(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Decay progress counted in updates: 0 at the end of warm-up, 1 at ``max_steps`` (clamped)."""
    warmup = max(cfg.warmup_steps, 0)
    return min(1.0, max(0.0, (step - warmup) / max(1, max_steps - warmup)))


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (1-based: the first update uses ``lr_at(1)``) of a
    schedule counted in updates.

    Linear warmup from ``warmup_init_lr`` to ``lr`` over ``warmup_steps``; then either
    ``lr * sqrt(warmup_steps / step)`` (inverse_sqrt) or a cosine decay to ``min_lr`` at ``max_steps``.
    """
    lr = warmup_lr(step, cfg)
    return lr if lr is not None else decay_lr(step, cfg, step_progress(step, cfg, max_steps))


def build_optimizer(model: nn.Module, cfg: OptimConfig, device_type: str) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (not on biases, layer norms); fused kernel where available."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = cfg.fused and device_type in ("cuda", "cpu")  # fused CPU kernels exist since torch 2.4
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused or None)


def total_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all ``tensors`` together, as a device tensor (no host sync): one multi-tensor
    kernel per device and dtype, as ``clip_grad_norm_`` computes it. (``torch.nn.utils.get_total_norm``
    does the same from torch 2.6; this keeps the declared floor, 2.4.)"""
    if not tensors:
        return torch.zeros(())
    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    device = tensors[0].device
    norms = [n.to(device=device, dtype=torch.float32) for group in groups.values()
             for n in torch._foreach_norm(group)]
    return torch.linalg.vector_norm(torch.stack(norms))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
