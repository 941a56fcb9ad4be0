"""Turn a list of (source, target) id arrays into padded model tensors.

The layout is the usual one for teacher forcing::

    src_tokens:  x1 x2 x3 EOS PAD        (source, EOS appended)
    tgt_in:      BOS y1 y2 PAD PAD        (decoder input, shifted right)
    tgt_out:     y1 y2 EOS PAD PAD        (what the decoder must predict at each position)

Everything is right-padded with PAD. Each tensor is built in one preallocated numpy array and
handed to torch without a copy, since this runs for every training batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch


@dataclass
class Batch:
    """One padded training batch; see the module docstring for the layout."""

    src_tokens: torch.Tensor
    """(batch, src_len) int64: source ids, EOS appended, right-padded with PAD."""
    tgt_in: torch.Tensor
    """(batch, tgt_len) int64: BOS + target ids, right-padded."""
    tgt_out: torch.Tensor
    """(batch, tgt_len) int64: target ids + EOS, right-padded."""
    ids: torch.Tensor
    """(batch,) int64: index of each sentence pair in the dataset."""
    tgt_rows: torch.Tensor
    """(num_tgt_tokens,) int64: positions of the non-pad tokens in ``tgt_out.view(-1)``, known here
    from the lengths, so the loss need not find them with ``nonzero()`` (a host sync on GPUs)."""
    num_src_tokens: int
    """Non-pad source tokens (EOS included)."""
    num_tgt_tokens: int
    """Non-pad target tokens (EOS included): the number of tokens the loss is computed over."""

    def _map_tensors(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """A new batch with ``fn`` applied to every tensor field; the counts are copied."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = fn(value) if isinstance(value, torch.Tensor) else value
        return Batch(**values)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Return this batch with every tensor on ``device`` (pin memory first for non_blocking)."""
        return self._map_tensors(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """Return this batch in page-locked host memory (called by ``DataLoader(pin_memory=True)``)."""
        return self._map_tensors(lambda t: t.pin_memory())

    def __len__(self) -> int:
        """Number of sentence pairs in the batch."""
        return int(self.src_tokens.shape[0])


def _padded_width(longest: int, pad_to_multiple: int) -> int:
    """``longest`` rounded up to a multiple of ``pad_to_multiple``."""
    if pad_to_multiple < 1:
        raise ValueError(f"pad_to_multiple must be >= 1, got {pad_to_multiple}")
    return -(-longest // pad_to_multiple) * pad_to_multiple


def collate(
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    ids: Sequence[int],
    *,
    pad_id: int,
    bos_id: int,
    eos_id: int,
    pad_to_multiple: int = 1,
) -> Batch:
    """Pad a list of ``(src, tgt)`` id arrays (no special tokens) into a ``Batch``.

    ``ids`` are the dataset indices of the samples, kept so that outputs can be traced back.
    Sequence lengths are padded up to a multiple of ``pad_to_multiple`` (8 helps tensor cores).
    """
    if len(samples) == 0:
        raise ValueError("cannot collate an empty batch")
    if len(ids) != len(samples):
        raise ValueError(f"collate got {len(samples)} samples but {len(ids)} ids")
    src_lens = [len(src) for src, _ in samples]
    tgt_lens = [len(tgt) for _, tgt in samples]
    n = len(samples)
    src_width = _padded_width(max(src_lens) + 1, pad_to_multiple)
    tgt_width = _padded_width(max(tgt_lens) + 1, pad_to_multiple)

    src_tokens = np.full((n, src_width), pad_id, dtype=np.int64)  # (batch, src_len)
    tgt_in = np.full((n, tgt_width), pad_id, dtype=np.int64)  # (batch, tgt_len)
    tgt_out = np.full((n, tgt_width), pad_id, dtype=np.int64)  # (batch, tgt_len)
    for row, ((src, tgt), src_len, tgt_len) in enumerate(zip(samples, src_lens, tgt_lens, strict=True)):
        src_tokens[row, :src_len] = src
        tgt_in[row, 1 : tgt_len + 1] = tgt
        tgt_out[row, :tgt_len] = tgt
    rows = np.arange(n)
    src_tokens[rows, src_lens] = eos_id
    tgt_in[:, 0] = bos_id
    tgt_out[rows, tgt_lens] = eos_id
    tgt_rows = np.flatnonzero(np.arange(tgt_width) <= np.asarray(tgt_lens)[:, None])  # EOS included

    return Batch(
        src_tokens=torch.from_numpy(src_tokens),
        tgt_in=torch.from_numpy(tgt_in),
        tgt_out=torch.from_numpy(tgt_out),
        ids=torch.as_tensor(np.asarray(ids, dtype=np.int64)),
        tgt_rows=torch.from_numpy(tgt_rows),
        num_src_tokens=sum(src_lens) + n,
        num_tgt_tokens=sum(tgt_lens) + n,
    )


def collate_source(
    src_samples: Sequence[np.ndarray | list[int]],
    *,
    pad_id: int,
    eos_id: int,
    pad_to_multiple: int = 1,
) -> torch.Tensor:
    """Pad source id sequences (no special tokens) for decoding: EOS appended, right-padded.

    Returns a ``(batch, src_len)`` int64 tensor laid out exactly like ``Batch.src_tokens``.
    """
    if len(src_samples) == 0:
        raise ValueError("cannot collate an empty batch of sources")
    src_lens = [len(src) for src in src_samples]
    n = len(src_samples)
    width = _padded_width(max(src_lens) + 1, pad_to_multiple)
    src_tokens = np.full((n, width), pad_id, dtype=np.int64)  # (batch, src_len)
    for row, (src, src_len) in enumerate(zip(src_samples, src_lens, strict=True)):
        src_tokens[row, :src_len] = src
    src_tokens[np.arange(n), src_lens] = eos_id
    return torch.from_numpy(src_tokens)
