"""Label-smoothed cross-entropy (Szegedy et al. 2016), summed over non-pad target tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def label_smoothed_nll(
    logits: Tensor,  # (B, T, V) or (N, V)
    target: Tensor,  # (B, T) or (N,)
    *,
    epsilon: float,
    pad_id: int,
) -> tuple[Tensor, Tensor]:
    """Return (smoothed loss, nll), each summed over non-pad tokens, in fp32.

    The smoothed loss is ``(1 - eps) * nll + eps * mean_v(-log p_v)``: the cross-entropy against a
    target distribution that puts ``1 - eps`` on the reference token and spreads ``eps`` uniformly
    over the vocabulary. The softmax runs in fp32 whatever the autocast dtype: bf16 log-probabilities
    lose the small differences that the loss is made of.
    """
    lprobs = F.log_softmax(logits.float(), dim=-1).view(-1, logits.size(-1))  # (N, V)
    target = target.reshape(-1)  # (N,)
    keep = target != pad_id
    nll = -lprobs.gather(1, target.unsqueeze(1)).squeeze(1)  # (N,)
    nll = nll.masked_fill(~keep, 0.0).sum()
    if epsilon == 0.0:
        return nll, nll.detach()
    smooth = -lprobs.mean(dim=-1).masked_fill(~keep, 0.0).sum()
    loss = (1.0 - epsilon) * nll + epsilon * smooth
    return loss, nll.detach()


def perplexity(nll_per_token: float) -> float:
    """exp(nll), capped so a diverged run logs a number instead of inf."""
    return float(torch.tensor(min(nll_per_token, 50.0)).exp())
