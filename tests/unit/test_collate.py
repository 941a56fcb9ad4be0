"""Padding and shifting of training batches and decoding sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt.data.collate import Batch, collate, collate_source

PAD, UNK, BOS, EOS = 0, 1, 2, 3
IDS = {"pad_id": PAD, "bos_id": BOS, "eos_id": EOS}


def pair(src: list[int], tgt: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(src, dtype=np.int64), np.array(tgt, dtype=np.int64)


def test_collate_hand_example():
    samples = [pair([5, 6, 7], [8, 9]), pair([10], [11, 12, 13])]
    batch = collate(samples, [4, 9], **IDS)

    assert batch.src_tokens.tolist() == [[5, 6, 7, EOS], [10, EOS, PAD, PAD]]
    assert batch.tgt_in.tolist() == [[BOS, 8, 9, PAD], [BOS, 11, 12, 13]]
    assert batch.tgt_out.tolist() == [[8, 9, EOS, PAD], [11, 12, 13, EOS]]
    assert batch.ids.tolist() == [4, 9]
    assert batch.num_src_tokens == 6  # 3 + 1 words, plus one EOS each
    assert batch.num_tgt_tokens == 7  # 2 + 3 words, plus one EOS each
    assert batch.num_tgt_tokens == int((batch.tgt_out != PAD).sum())
    assert batch.tgt_rows.tolist() == [0, 1, 2, 4, 5, 6, 7]  # non-pad positions of tgt_out.view(-1)
    assert len(batch) == 2
    for tensor in (batch.src_tokens, batch.tgt_in, batch.tgt_out, batch.ids, batch.tgt_rows):
        assert tensor.dtype == torch.int64


def test_collate_uses_the_given_special_ids():
    batch = collate([pair([5], [6, 7])], [0], pad_id=9, bos_id=8, eos_id=7, pad_to_multiple=4)
    assert batch.src_tokens.tolist() == [[5, 7, 9, 9]]
    assert batch.tgt_in.tolist() == [[8, 6, 7, 9]]
    assert batch.tgt_out.tolist() == [[6, 7, 7, 9]]


def test_collate_pads_to_multiple():
    samples = [pair([5, 6, 7], [8, 9]), pair([10], [11, 12, 13])]
    batch = collate(samples, [0, 1], **IDS, pad_to_multiple=8)
    assert batch.src_tokens.shape == (2, 8)
    assert batch.tgt_in.shape == batch.tgt_out.shape == (2, 8)
    assert batch.src_tokens[0].tolist() == [5, 6, 7, EOS, PAD, PAD, PAD, PAD]
    assert batch.tgt_out[1].tolist() == [11, 12, 13, EOS, PAD, PAD, PAD, PAD]
    # Padding to a multiple adds no real tokens.
    assert (batch.num_src_tokens, batch.num_tgt_tokens) == (6, 7)
    assert batch.tgt_rows.tolist() == [0, 1, 2, 8, 9, 10, 11]


def test_collate_empty_sentences():
    batch = collate([pair([], []), pair([5], [])], [0, 1], **IDS)
    assert batch.src_tokens.tolist() == [[EOS, PAD], [5, EOS]]
    assert batch.tgt_in.tolist() == [[BOS], [BOS]]
    assert batch.tgt_out.tolist() == [[EOS], [EOS]]
    assert (batch.num_src_tokens, batch.num_tgt_tokens) == (3, 2)


def test_collate_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        collate([], [], **IDS)
    with pytest.raises(ValueError, match="2 samples but 1 ids"):
        collate([pair([5], [6]), pair([7], [8])], [0], **IDS)
    with pytest.raises(ValueError, match="pad_to_multiple"):
        collate([pair([5], [6])], [0], **IDS, pad_to_multiple=0)


def test_batch_to_moves_every_tensor_and_keeps_counts():
    batch = collate([pair([5, 6], [7])], [3], **IDS)
    moved = batch.to("cpu")
    assert isinstance(moved, Batch)
    assert torch.equal(moved.src_tokens, batch.src_tokens)
    assert torch.equal(moved.tgt_out, batch.tgt_out)
    assert (moved.num_src_tokens, moved.num_tgt_tokens) == (3, 2)
    on_meta = batch.to(torch.device("meta"))
    assert all(
        t.device.type == "meta" for t in (on_meta.src_tokens, on_meta.tgt_in, on_meta.tgt_out, on_meta.ids)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs CUDA")
def test_batch_pin_memory():
    pinned = collate([pair([5, 6], [7])], [3], **IDS).pin_memory()
    assert pinned.src_tokens.is_pinned() and pinned.ids.is_pinned()
    assert pinned.src_tokens.tolist() == [[5, 6, EOS]]


def test_collate_source_hand_example():
    tokens = collate_source([[5, 6, 7], np.array([10]), []], pad_id=PAD, eos_id=EOS)
    assert tokens.dtype == torch.int64
    assert tokens.tolist() == [[5, 6, 7, EOS], [10, EOS, PAD, PAD], [EOS, PAD, PAD, PAD]]
    padded = collate_source([[5, 6, 7]], pad_id=PAD, eos_id=EOS, pad_to_multiple=3)
    assert padded.tolist() == [[5, 6, 7, EOS, PAD, PAD]]


def test_collate_source_matches_training_layout():
    samples = [pair([5, 6, 7], [8]), pair([10], [11])]
    batch = collate(samples, [0, 1], **IDS, pad_to_multiple=8)
    tokens = collate_source([src for src, _ in samples], pad_id=PAD, eos_id=EOS, pad_to_multiple=8)
    assert torch.equal(tokens, batch.src_tokens)
    with pytest.raises(ValueError, match="empty"):
        collate_source([], pad_id=PAD, eos_id=EOS)
