"""The yardstick of ``benchmark.py train --loop plain``: a textbook PyTorch training step that differs
from mt's only in the loop, so that the speed ratio measures mt's step and nothing else.

The same as mt (read from the same config and objects):

- the batches: the trainer's own stream, so the same sentences, padding and shapes in the same order,
  moved to the device with ``non_blocking=True`` as mt moves them;
- the model's shape: layers, d_model, heads, FFN size, activation, pre/post-norm, tied embeddings
  scaled by sqrt(d_model), sinusoidal positions, no final layer norm after post-norm stacks;
- dropout placement and rates: ``model.dropout`` on the embeddings and on every residual branch,
  ``model.attention_dropout`` on the attention weights, ``model.activation_dropout`` on the FFN hidden
  layer (``nn.Transformer`` uses one rate for all four places; the two inner ones are set after
  construction, so at mt's default of 0 PyTorch may pick its fused attention kernels as mt does);
- the loss: label smoothing ``optim.label_smoothing``, summed over real tokens and divided by the
  update's target tokens; the optimizer: mt's ``build_optimizer`` (AdamW, the same parameter groups
  and weight decay, the same ``fused`` flag); clipping at ``optim.clip_norm``; gradient accumulation
  over ``update_freq`` batches;
- precision: the trainer's autocast context (including its choice of attention kernels on CUDA),
  fp32 master weights, and a ``GradScaler`` for fp16.

What still differs, by design (each is part of what mt's loop is):

- the model is ``nn.Transformer`` around ``nn.MultiheadAttention`` (packed QKV projection, a float
  mask built from the padding mask) instead of mt's Transformer (its own attention: SDPA with a boolean
  mask and ``is_causal``, or, when training on CPU, the same products written out, which are cheaper
  than PyTorch's fused CPU kernel at sentence lengths);
- the loss materialises the (tokens x vocabulary) logits, pad rows included, and runs
  ``F.cross_entropy`` on them in fp32, where mt fuses the output projection with the loss;
- dropout masks come from PyTorch's ``nn.Dropout``; on CPU mt draws four 16-bit uniforms from each
  random 64-bit integer (cheaper; its rate is p rounded to a multiple of 2^-16);
- the learning rate stays at ``optim.lr`` (mt sets its schedule's value each update: no speed effect);
- the loss is read back with ``.item()`` after every update, as a textbook loop logs it; and the
  step has no finite check (mt skips non-finite updates), no DDP and no ``torch.compile``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mt.data.collate import Batch
from mt.model.transformer import sinusoidal_positions
from mt.train.optim import build_optimizer


class PlainSeq2Seq(nn.Module):
    """Tied embeddings + ``nn.Transformer`` with mt's dropout placement; returns logits (B, T, V)."""

    def __init__(self, cfg, vocab_size: int, pad_id: int):
        super().__init__()
        self.pad_id, self.scale = pad_id, math.sqrt(cfg.d_model)
        self.embed = nn.Embedding(vocab_size, cfg.d_model, padding_idx=pad_id)
        nn.init.normal_(self.embed.weight, mean=0.0, std=cfg.d_model ** -0.5)
        with torch.no_grad():
            self.embed.weight[pad_id].zero_()
        self.register_buffer("positions", sinusoidal_positions(cfg.max_positions, cfg.d_model), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.core = nn.Transformer(cfg.d_model, cfg.n_heads, cfg.encoder_layers, cfg.decoder_layers, cfg.ffn_dim,
                                   cfg.dropout, activation=cfg.activation, batch_first=True, norm_first=cfg.pre_norm)
        set_inner_dropout(self.core, attention=cfg.attention_dropout, activation=cfg.activation_dropout)
        if not cfg.pre_norm:  # nn.Transformer always ends its stacks with a LayerNorm; post-norm mt does not
            self.core.encoder.norm = None
            self.core.decoder.norm = None

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.embed(tokens) * self.scale + self.positions[: tokens.size(1)])  # (B, T, D)

    def forward(self, src_tokens: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        pad = src_tokens == self.pad_id  # (B, S) True on padding
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1), device=tgt_in.device)
        hidden = self.core(self._embed(src_tokens), self._embed(tgt_in), tgt_mask=causal, tgt_is_causal=True,
                           src_key_padding_mask=pad, memory_key_padding_mask=pad)  # (B, T, D)
        return F.linear(hidden, self.embed.weight)  # (B, T, V)


def set_inner_dropout(core: nn.Transformer, *, attention: float, activation: float) -> None:
    """Give ``core``'s attention weights and FFN hidden layers their own dropout rates (it has one for all)."""
    for layer in [*core.encoder.layers, *core.decoder.layers]:
        for attn in (getattr(layer, "self_attn", None), getattr(layer, "multihead_attn", None)):
            if attn is not None:
                attn.dropout = attention  # nn.MultiheadAttention keeps its rate as a float
        layer.dropout.p = activation  # the dropout between linear1 and linear2


def plain_loop(trainer) -> Callable[[list[Batch]], None]:
    """A step function ``step(batches)`` doing one textbook update over ``batches`` on ``trainer``'s
    device and precision, with a model, loss and optimizer set up as described in the module docstring."""
    cfg, tok, device = trainer.cfg, trainer.tokenizer, trainer.device
    model = PlainSeq2Seq(cfg.model, tok.vocab_size, tok.pad_id).to(device)
    optimizer = build_optimizer(model, cfg.optim, device.type)
    scaler = torch.amp.GradScaler(device.type, enabled=trainer.precision == "fp16")
    max_norm = cfg.optim.clip_norm if cfg.optim.clip_norm > 0 else float("inf")
    model.train()

    def step(batches: list[Batch]) -> None:
        total_tokens = sum(b.num_tgt_tokens for b in batches)
        loss_sum = 0.0
        for batch in batches:
            batch = batch.to(device, non_blocking=True)
            with trainer.autocast():
                logits = model(batch.src_tokens, batch.tgt_in)
            loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=tok.pad_id,
                                   label_smoothing=cfg.optim.label_smoothing, reduction="sum")
            scaler.scale(loss / total_tokens).backward()
            loss_sum = loss_sum + loss.detach()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        float(loss_sum)  # the textbook loop logs its loss every update: one host sync

    return step
