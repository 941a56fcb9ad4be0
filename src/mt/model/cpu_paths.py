"""CPU training kernels: attention as plain products and cheaper dropout masks.

The Transformer runs PyTorch's fused attention (``F.scaled_dot_product_attention``) and ``nn.Dropout``
everywhere, except when it is built for training on a CPU (``Transformer(..., cpu_training=True)``,
which the trainer sets): then its attention and dropout modules are the ones below, chosen once, at
construction. On sentence-length inputs they cost less than the fused CPU kernels
(docs/benchmarks.md, "The CPU training paths"); inference keeps the fused kernel either way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EXPLICIT_ATTENTION_MAX = 128 * 128
"""Largest (query x key) length product that CPU training attends with ``explicit_attention``."""


def cpu_dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> Tensor:
    """Keep-mask for dropout with rate ``p`` (see ``CPUDropout``), scaled, in ``dtype``."""
    n, drop = math.prod(shape), round(p * 65536)
    if drop >= 65536:
        return torch.zeros(shape, dtype=dtype)
    # Full-range 64-bit draws (no modulo) give four 16-bit uniforms in [-2^15, 2^15) each.
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None)
    keep = bits.view(torch.int16)[:n].view(shape) >= drop - 32768
    return keep.to(dtype).mul_(65536 / (65536 - drop))


class CPUDropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask on CPU.

    PyTorch's CPU dropout draws one random number per element with ``bernoulli_``. Here each 64-bit
    draw gives four 16-bit uniforms, compared with the threshold ``round(p * 2^16)``, and the mask is
    made once, already scaled by ``1 / (1 - p')``, so that forward and backward are each one
    multiplication. ``p' = round(p * 2^16) / 2^16`` is the rate actually applied (0.100006 for 0.1),
    and the scale uses it, so the output's expectation is exactly the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * cpu_dropout_mask(x.shape, self.p, x.dtype)


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
                       dropout: float) -> Tensor:
    """``F.scaled_dot_product_attention`` (top-left causal mask, as ``is_causal``) as plain products.

    For CPU training on sentence-length inputs: there PyTorch's fused CPU kernel, forward plus
    backward, costs about twice these products (M30K-small: docs/benchmarks.md), and the (T, S)
    weights it would avoid storing are small."""
    scores = (q * q.size(-1) ** -0.5) @ k.transpose(-1, -2)  # (B, H, T, S)
    if causal:
        t, s = scores.shape[-2:]
        scores = scores.masked_fill(torch.ones(t, s, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout > 0.0:
        weights = weights * cpu_dropout_mask(weights.shape, dropout, weights.dtype)
    return weights @ v


def cpu_training_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
                           dropout: float) -> Tensor:
    """Explicit attention while training (gradients on) on sentence-length inputs, else the fused
    kernel (validation and decoding)."""
    if torch.is_grad_enabled() and q.size(2) * k.size(2) <= EXPLICIT_ATTENTION_MAX:
        return explicit_attention(q, k, v, mask, causal, dropout)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout)
