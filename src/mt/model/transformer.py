"""The encoder-decoder Transformer (Vaswani et al. 2017), in one file, with its incremental KV cache.

Shape legend used in comments:
    B  batch (sentences, or sentences x beams while decoding)
    S  source length            T  target length (or new target steps when decoding with a cache)
    D  d_model   H  heads   Dh  head dim (D / H)   V  vocabulary size   L  cached target steps

The model is pure: it knows the vocabulary size and the pad id as integers, nothing of tokenizers,
devices, DDP, autocast or torch.compile; those wrap it from outside. Token conventions (set by the data
pipeline): the source ends with EOS; the decoder input starts with BOS; everything is right-padded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mt.config import ModelConfig
from mt.model.cpu_paths import CPUDropout, cpu_training_attention


@dataclass
class EncoderOut:
    """What the decoder needs from the encoder."""

    out: Tensor  # (B, S, D)
    src_mask: Tensor  # (B, 1, 1, S) bool, True where the source token is real (attend), False on padding


class KVCache:
    """Per-layer attention keys and values for incremental decoding.

    Cross-attention keys/values are projected once per source; self-attention keys/values grow by one
    step per decoded token. ``reorder`` follows the beam search's choice of surviving hypotheses.
    """

    def __init__(self, cross_kv: list[tuple[Tensor, Tensor]], src_mask: Tensor):
        self.cross_kv = cross_kv  # per layer: 2 x (B, H, S, Dh)
        self.self_kv: list[tuple[Tensor, Tensor] | None] = [None] * len(cross_kv)  # 2 x (B, H, L, Dh)
        self.src_mask = src_mask  # (B, 1, 1, S)
        self.length = 0

    def reorder(self, index: Tensor, *, source_too: bool = False) -> None:
        """Keep rows ``index`` (B',) of every cached tensor: beam reordering, or dropping finished
        sentences when ``source_too`` (cross keys/values and mask are then selected as well)."""
        self.self_kv = [
            None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index))
            for kv in self.self_kv
        ]
        if source_too:
            self.cross_kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.cross_kv]
            self.src_mask = self.src_mask.index_select(0, index)


ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "swish": F.silu}
"""``model.activation`` -> the feed-forward activation (swish, x * sigmoid(x), is OPUS-MT's)."""


def sinusoidal_positions(max_positions: int, dim: int) -> Tensor:
    """The fixed sin/cos position table of Vaswani et al. (2017), section 3.5."""
    position = torch.arange(max_positions, dtype=torch.float32).unsqueeze(1)  # (P, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_positions, dim)  # (P, D)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


AttentionFn = Callable[[Tensor, Tensor, Tensor, "Tensor | None", bool, float], Tensor]
"""(q, k, v, mask, causal, dropout) -> attention output; 2 x (B, H, T, Dh) in, (B, H, T, Dh) out."""


def fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, dropout: float) -> Tensor:
    """PyTorch's fused attention (flash / memory-efficient kernels where the backend has them)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout)


@dataclass(frozen=True)
class Kernels:
    """The attention and dropout a model runs, chosen once, when it is built."""

    attention: AttentionFn = fused_attention
    dropout: type[nn.Dropout] = nn.Dropout


CPU_TRAINING = Kernels(attention=cpu_training_attention, dropout=CPUDropout)
"""For a model trained on a CPU (see ``mt.model.cpu_paths``)."""


class Attention(nn.Module):
    """Multi-head attention (``attend``: fused by default, see ``Kernels``). Self-attention projects Q,
    K, V with one fused matmul; cross-attention projects K, V of the encoder output with one fused
    matmul, once per source when decoding."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, *, cross: bool,
                 attend: AttentionFn = fused_attention):
        super().__init__()
        self.n_heads, self.head_dim, self.dropout, self.cross = n_heads, d_model // n_heads, dropout, cross
        self.attend = attend
        if cross:
            self.q_proj = nn.Linear(d_model, d_model)
            self.kv_proj = nn.Linear(d_model, 2 * d_model)
        else:
            self.qkv_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)

    def project_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of the encoder output for cross-attention: 2 x (B, H, S, Dh)."""
        k, v = self.kv_proj(memory).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def forward(
        self,
        x: Tensor,  # (B, T, D)
        *,
        mask: Tensor | None = None,  # bool, broadcastable to (B, H, T, S), True = attend
        causal: bool = False,
        kv: tuple[Tensor, Tensor] | None = None,  # precomputed cross K/V, or self K/V of earlier steps
        memory: Tensor | None = None,  # (B, S, D) encoder output, cross-attention without a cache
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend; returns the output (B, T, D) and the keys/values used (to be cached by the caller)."""
        if self.cross:
            q = self._heads(self.q_proj(x))
            k, v = kv if kv is not None else self.project_kv(memory)
        else:
            q, k, v = (self._heads(t) for t in self.qkv_proj(x).chunk(3, dim=-1))
            if kv is not None:  # incremental decoding: prepend the cached steps
                k, v = torch.cat([kv[0], k], dim=2), torch.cat([kv[1], v], dim=2)
        out = self.attend(q, k, v, mask, causal, self.dropout if self.training else 0.0)
        b, _, t, _ = out.shape  # (B, H, T, Dh)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1)), (k, v)


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ffn_dim: int, activation: str, activation_dropout: float,
                 dropout: type[nn.Dropout] = nn.Dropout):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_model, ffn_dim), nn.Linear(ffn_dim, d_model)
        self.activation = ACTIVATIONS[activation]
        self.activation_dropout = dropout(activation_dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.activation_dropout(self.activation(self.fc1(x))))


class Sublayer(nn.Module):
    """Residual connection + dropout + layer norm around one sublayer, pre-norm or post-norm."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool, dropout_cls: type[nn.Dropout] = nn.Dropout):
        super().__init__()
        self.norm, self.dropout, self.pre_norm = nn.LayerNorm(d_model), dropout_cls(dropout), pre_norm

    def forward(self, x: Tensor, fn) -> tuple[Tensor, object]:
        out = fn(self.norm(x) if self.pre_norm else x)
        out, extra = out if isinstance(out, tuple) else (out, None)
        x = x + self.dropout(out)
        return (x if self.pre_norm else self.norm(x)), extra


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels):
        super().__init__()
        self.self_attn = Attention(cfg.d_model, cfg.n_heads, cfg.attention_dropout, cross=False,
                                   attend=kernels.attention)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.activation, cfg.activation_dropout, kernels.dropout)
        self.attn_block = Sublayer(cfg.d_model, cfg.dropout, cfg.pre_norm, kernels.dropout)
        self.ffn_block = Sublayer(cfg.d_model, cfg.dropout, cfg.pre_norm, kernels.dropout)

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        x, _ = self.attn_block(x, lambda h: self.self_attn(h, mask=src_mask))
        x, _ = self.ffn_block(x, self.ffn)
        return x


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels):
        super().__init__()
        attend = kernels.attention
        self.self_attn = Attention(cfg.d_model, cfg.n_heads, cfg.attention_dropout, cross=False, attend=attend)
        self.cross_attn = Attention(cfg.d_model, cfg.n_heads, cfg.attention_dropout, cross=True, attend=attend)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.activation, cfg.activation_dropout, kernels.dropout)
        self.self_block, self.cross_block, self.ffn_block = (
            Sublayer(cfg.d_model, cfg.dropout, cfg.pre_norm, kernels.dropout) for _ in range(3))

    def forward(
        self, x: Tensor, enc: EncoderOut, cache: KVCache | None, layer: int
    ) -> Tensor:
        if cache is None:
            # Right padding makes the causal mask sufficient: a real target position never sees a
            # later (pad) position, and the outputs at pad positions are ignored by the loss.
            x, _ = self.self_block(x, lambda h: self.self_attn(h, causal=True))
            x, _ = self.cross_block(x, lambda h: self.cross_attn(h, mask=enc.src_mask, memory=enc.out))
        else:
            # Incremental: x holds only new steps, which may attend to every cached step.
            x, kv = self.self_block(x, lambda h: self.self_attn(h, kv=cache.self_kv[layer],
                                                                causal=cache.length == 0))
            cache.self_kv[layer] = kv
            x, _ = self.cross_block(x, lambda h: self.cross_attn(h, mask=cache.src_mask,
                                                                 kv=cache.cross_kv[layer]))
        x, _ = self.ffn_block(x, self.ffn)
        return x


class Transformer(nn.Module):
    """Encoder-decoder Transformer with shared (tied) embeddings and sinusoidal positions."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, pad_id: int, *, src_vocab_size: int | None = None,
                 cpu_training: bool = False):
        """``vocab_size``: the target (output) vocabulary; ``src_vocab_size``: the source vocabulary when
        it is one of its own (None: the joint vocabulary, whose embedding ``model.tie_embeddings``
        shares between source, target and output; with two vocabularies it ties target and output
        only). ``cpu_training``: the model will be trained on a CPU, and runs ``CPU_TRAINING``'s kernels."""
        super().__init__()
        kernels = CPU_TRAINING if cpu_training else Kernels()
        self.cfg, self.vocab_size, self.pad_id = cfg, vocab_size, pad_id
        self.src_vocab_size = vocab_size if src_vocab_size is None else src_vocab_size
        self.embed_scale = math.sqrt(cfg.d_model)
        self.src_embed = nn.Embedding(self.src_vocab_size, cfg.d_model, padding_idx=pad_id)
        joint_tied = cfg.tie_embeddings and src_vocab_size is None
        self.tgt_embed = self.src_embed if joint_tied else nn.Embedding(vocab_size, cfg.d_model, padding_idx=pad_id)
        self.register_buffer("positions", sinusoidal_positions(cfg.max_positions, cfg.d_model),
                             persistent=False)
        self.dropout = kernels.dropout(cfg.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(cfg, kernels) for _ in range(cfg.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(cfg, kernels) for _ in range(cfg.decoder_layers))
        # Pre-norm stacks end with a layer norm; post-norm layers already normalise their output.
        self.encoder_norm = nn.LayerNorm(cfg.d_model) if cfg.pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(cfg.d_model) if cfg.pre_norm else nn.Identity()
        self.output_proj = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, vocab_size, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size)) if cfg.output_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections, N(0, D^-1/2) embeddings with a zero pad row (as in fairseq)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for emb in {self.src_embed, self.tgt_embed}:
            nn.init.normal_(emb.weight, mean=0.0, std=self.cfg.d_model ** -0.5)
            nn.init.zeros_(emb.weight[self.pad_id])
        if self.output_proj is not None:
            nn.init.normal_(self.output_proj.weight, mean=0.0, std=self.cfg.d_model ** -0.5)
        if self.output_bias is not None:
            nn.init.zeros_(self.output_bias)

    def set_dropout(self, p: float) -> None:
        """Set the residual and embedding dropout (``model.dropout``; attention and activation dropout
        keep theirs): training may choose the rate during a run (``trainer.budget_dropout``)."""
        for module in self.modules():
            if isinstance(module, Sublayer):
                module.dropout.p = p
        self.dropout.p = p

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        length = tokens.size(1)
        if offset + length > self.cfg.max_positions:
            raise ValueError(f"sequence of {offset + length} tokens exceeds model.max_positions="
                             f"{self.cfg.max_positions}")
        x = embedding(tokens) * self.embed_scale + self.positions[offset:offset + length]  # (B, T, D)
        return self.dropout(x)

    def encode(self, src_tokens: Tensor) -> EncoderOut:
        """Encode (B, S) source ids."""
        src_mask = (src_tokens != self.pad_id)[:, None, None, :]  # (B, 1, 1, S)
        x = self._embed(self.src_embed, src_tokens)
        for layer in self.encoder_layers:
            x = layer(x, src_mask)
        return EncoderOut(self.encoder_norm(x), src_mask)

    def new_cache(self, enc: EncoderOut) -> KVCache:
        """An empty decoder cache with the cross-attention keys/values of ``enc`` projected once."""
        return KVCache([layer.cross_attn.project_kv(enc.out) for layer in self.decoder_layers], enc.src_mask)

    def decode(self, tgt_in: Tensor, enc: EncoderOut, cache: KVCache | None = None, *,
               features_only: bool = False) -> Tensor:
        """Logits (B, T, V) for decoder input ``tgt_in`` (B, T); with ``features_only``, the decoder
        states (B, T, D) before the output projection (``output_weight``).

        Without a cache, ``tgt_in`` is the whole prefix (teacher forcing). With a cache, ``tgt_in``
        holds only the steps after the ``cache.length`` already cached ones, and the cache is extended.
        """
        offset = 0 if cache is None else cache.length
        x = self._embed(self.tgt_embed, tgt_in, offset)
        for i, layer in enumerate(self.decoder_layers):
            x = layer(x, enc, cache, i)
        if cache is not None:
            cache.length += tgt_in.size(1)
        x = self.decoder_norm(x)
        return x if features_only else self.project(x)

    @property
    def output_weight(self) -> Tensor:
        """The output projection's weight (V, D): the target embedding when tied."""
        return self.tgt_embed.weight if self.output_proj is None else self.output_proj.weight

    def project(self, hidden: Tensor) -> Tensor:
        """Output logits (..., V) from decoder states (..., D)."""
        return F.linear(hidden, self.output_weight, self.output_bias)

    def forward(self, src_tokens: Tensor, tgt_in: Tensor, *, features_only: bool = False) -> Tensor:
        """Teacher-forced logits (B, T, V), or decoder states (B, T, D) with ``features_only`` (for a
        loss that fuses the output projection, as the trainer's does)."""
        return self.decode(tgt_in, self.encode(src_tokens), features_only=features_only)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
