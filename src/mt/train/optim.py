"""AdamW and the learning-rate schedules: inverse square root (Vaswani et al. 2017) and cosine."""

from __future__ import annotations

import math

import torch
from torch import nn

from mt.config import OptimConfig


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (1-based: the first update uses ``lr_at(1)``).

    Linear warmup from ``warmup_init_lr`` to ``lr`` over ``warmup_steps``; then either
    ``lr * sqrt(warmup_steps / step)`` (inverse_sqrt) or a cosine decay to ``min_lr`` at ``max_steps``.
    """
    warmup = max(cfg.warmup_steps, 0)
    if warmup and step <= warmup:
        return cfg.warmup_init_lr + (cfg.lr - cfg.warmup_init_lr) * step / warmup
    if cfg.schedule == "inverse_sqrt":
        return cfg.lr * math.sqrt(max(warmup, 1) / step)
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


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


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
