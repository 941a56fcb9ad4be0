"""Token-budget batching and the resumable, shardable epoch sampler."""

from __future__ import annotations

import numpy as np
import pytest

from mt.data.batching import (
    EpochBatchSampler,
    batch_by_tokens,
    greedy_batch_ends,
    real_token_fraction,
)

# Five sentences; the model sees len + 1 per side, and a sentence is charged its longer side:
#   index:      0  1  2  3  4
#   src_len:    3  1  4  1  0
#   tgt_len:    2  1  3  0  5
#   charged:    4  2  5  2  6
SRC = np.array([3, 1, 4, 1, 0], dtype=np.int32)
TGT = np.array([2, 1, 3, 0, 5], dtype=np.int32)


def as_lists(batches: list[np.ndarray]) -> list[list[int]]:
    return [b.tolist() for b in batches]


def test_greedy_batch_ends_hand_example():
    # [2, 2] costs 2*2=4; adding 3 costs 3*3=9 > 6. [3] + 5 costs 10 > 6. [5] alone.
    assert greedy_batch_ends(np.array([2, 2, 3, 5]), 6, 100).tolist() == [2, 3, 4]
    # The running max matters, not the last length: [5, 1] costs 2*5 = 10.
    assert greedy_batch_ends(np.array([5, 1, 1]), 10, 100).tolist() == [2, 3]
    assert greedy_batch_ends(np.array([1, 1, 1, 1, 1]), 100, 2).tolist() == [2, 4, 5]
    assert greedy_batch_ends(np.array([], dtype=np.int64), 10, 10).tolist() == []


def test_batch_by_tokens_hand_example_tgt_src_order():
    # Sorted by (tgt, src): 3 (0,1), 1 (1,1), 0 (2,3), 2 (3,4), 4 (5,0); charged 2 2 4 5 6.
    # max_tokens=10: [2,2] ok, +4 -> 3*4=12; [4,5] -> 2*5=10 ok, +6 -> 18; [6].
    assert as_lists(batch_by_tokens(SRC, TGT, 10)) == [[3, 1], [0, 2], [4]]
    # max_tokens=8: [2,2]; [4] (+5 -> 10); [5] (+6 -> 12); [6].
    assert as_lists(batch_by_tokens(SRC, TGT, 8)) == [[3, 1], [0], [2], [4]]
    assert as_lists(batch_by_tokens(SRC, TGT, 100, max_sentences=2)) == [[3, 1], [0, 2], [4]]


def test_batch_by_tokens_other_orders():
    # Sorted by (src, tgt): 4 (0,5), 3 (1,0), 1 (1,1), 0 (3,2), 2 (4,3); charged 6 2 2 4 5.
    assert as_lists(batch_by_tokens(SRC, TGT, 10, bucket_order="src_tgt")) == [[4], [3, 1], [0, 2]]
    # Dataset order, charged 4 2 5 2 6: [4,2] (8), +5 -> 15; [5,2] (10), +6 -> 18; [6].
    assert as_lists(batch_by_tokens(SRC, TGT, 10, bucket_order="none")) == [[0, 1], [2, 3], [4]]
    # By (longer side, tgt, src): 3 (1,0,1), 1 (1,1,1), 0 (3,..), 2 (4,..), 4 (5,..).
    assert as_lists(batch_by_tokens(SRC, TGT, 10, bucket_order="max")) == [[3, 1], [0, 2], [4]]


def test_equal_lengths_keep_dataset_order():
    lens = np.array([2, 2, 2, 2], dtype=np.int32)
    assert as_lists(batch_by_tokens(lens, lens, 6)) == [[0, 1], [2, 3]]


def test_pad_to_multiple_is_charged():
    # Charged lengths 4 2 5 2 6 round up to 8 each, so only one sentence fits into 8 tokens,
    # and two into 16.
    assert as_lists(batch_by_tokens(SRC, TGT, 8, pad_to_multiple=8)) == [[3], [1], [0], [2], [4]]
    assert as_lists(batch_by_tokens(SRC, TGT, 16, pad_to_multiple=8)) == [[3, 1], [0, 2], [4]]


@pytest.mark.parametrize("bucket_order", ["tgt_src", "src_tgt", "max", "none"])
@pytest.mark.parametrize("pad_to_multiple", [1, 8])
def test_random_lengths_respect_budget_and_cover_every_sentence(bucket_order, pad_to_multiple):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 120, size=3000).astype(np.int32)
    tgt = rng.integers(0, 120, size=3000).astype(np.int32)
    max_tokens, max_sentences = 1000, 40
    batches = batch_by_tokens(
        src,
        tgt,
        max_tokens,
        max_sentences=max_sentences,
        bucket_order=bucket_order,
        pad_to_multiple=pad_to_multiple,
    )
    charged = (np.maximum(src, tgt) + 1 + pad_to_multiple - 1) // pad_to_multiple * pad_to_multiple
    for batch in batches:
        assert 1 <= len(batch) <= max_sentences
        assert len(batch) * charged[batch].max() <= max_tokens
    order = np.concatenate(batches)
    assert np.array_equal(np.sort(order), np.arange(3000))
    # Greedy: no batch could have taken the first sentence of the next one.
    for batch, following in zip(batches, batches[1:], strict=False):
        grown = np.append(batch, following[0])
        assert len(grown) > max_sentences or len(grown) * charged[grown].max() > max_tokens


def test_sentence_longer_than_budget_names_index_length_and_budget():
    src = np.array([5, 40, 3], dtype=np.int32)
    tgt = np.array([5, 10, 3], dtype=np.int32)
    with pytest.raises(ValueError, match=r"sentence 1 needs 41 tokens.*max_tokens=32"):
        batch_by_tokens(src, tgt, 32)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="bucket_order"):
        batch_by_tokens(SRC, TGT, 10, bucket_order="random")
    with pytest.raises(ValueError, match="same length"):
        batch_by_tokens(SRC, TGT[:3], 10)
    with pytest.raises(ValueError, match="max_tokens"):
        batch_by_tokens(SRC, TGT, 0)
    assert batch_by_tokens(np.zeros(0, np.int32), np.zeros(0, np.int32), 10) == []


def test_real_token_fraction_hand_example():
    src = np.array([1, 3])  # seen as 2 and 4: 6 real tokens in 2 * 4 = 8 slots
    tgt = np.array([2, 2])  # seen as 3 and 3: 6 real tokens in 2 * 3 = 6 slots
    batches = [np.array([0, 1])]
    assert real_token_fraction(batches, src, tgt) == pytest.approx(12 / 14)
    # Padded to multiples of 4: source slots 2 * 4 = 8, target slots 2 * 4 = 8.
    assert real_token_fraction(batches, src, tgt, pad_to_multiple=4) == pytest.approx(12 / 16)
    # One sentence per batch: no padding at all.
    assert real_token_fraction([np.array([0]), np.array([1])], src, tgt) == 1.0


def numbered_batches(n: int) -> list[np.ndarray]:
    """Batch i holds the single index i, so yielded batches are easy to identify."""
    return [np.array([i]) for i in range(n)]


def epoch_ids(sampler: EpochBatchSampler) -> list[int]:
    return [int(batch[0]) for batch in sampler]


def test_shuffle_is_deterministic_per_seed_and_epoch():
    first, second = (
        EpochBatchSampler(numbered_batches(20), seed=3),
        EpochBatchSampler(numbered_batches(20), seed=3),
    )
    first.set_epoch(1)
    second.set_epoch(1)
    epoch1 = epoch_ids(first)
    assert epoch1 == epoch_ids(second)
    assert epoch1 == np.random.default_rng((3, 1)).permutation(20).tolist()
    assert sorted(epoch1) == list(range(20))
    first.set_epoch(2)
    assert epoch_ids(first) != epoch1
    other_seed = EpochBatchSampler(numbered_batches(20), seed=4)
    other_seed.set_epoch(1)
    assert epoch_ids(other_seed) != epoch1


def test_no_shuffle_keeps_batch_order():
    sampler = EpochBatchSampler(numbered_batches(5), seed=0, shuffle=False)
    sampler.set_epoch(7)
    assert epoch_ids(sampler) == [0, 1, 2, 3, 4]
    assert len(sampler) == 5


def test_ddp_ranks_get_disjoint_equal_shares():
    ranks = [
        EpochBatchSampler(numbered_batches(7), seed=0, rank=r, world_size=2, shuffle=False) for r in (0, 1)
    ]
    # 7 batches on 2 ranks: the first 6 are dealt round-robin, the 7th is dropped.
    assert [epoch_ids(s) for s in ranks] == [[0, 2, 4], [1, 3, 5]]
    assert [len(s) for s in ranks] == [3, 3]

    dropped = set()
    for epoch in range(1, 6):
        shares = []
        for r in (0, 1):
            sampler = EpochBatchSampler(numbered_batches(7), seed=0, rank=r, world_size=2)
            sampler.set_epoch(epoch)
            shares.append(epoch_ids(sampler))
        assert len(shares[0]) == len(shares[1]) == 3
        assert not set(shares[0]) & set(shares[1])
        dropped |= set(range(7)) - set(shares[0]) - set(shares[1])
    assert len(dropped) > 1  # with shuffling, a different batch is left out in different epochs


def test_too_few_batches_for_ranks():
    with pytest.raises(ValueError, match="2 batches for 4 ranks"):
        EpochBatchSampler(numbered_batches(2), seed=0, rank=0, world_size=4)
    with pytest.raises(ValueError, match="rank"):
        EpochBatchSampler(numbered_batches(4), seed=0, rank=2, world_size=2)


@pytest.mark.parametrize("consumed", [0, 1, 4, 9, 10])
def test_resume_yields_exactly_the_remaining_batches(consumed):
    sampler = EpochBatchSampler(numbered_batches(21), seed=5, rank=1, world_size=2)
    sampler.set_epoch(3)
    reference = EpochBatchSampler(numbered_batches(21), seed=5, rank=1, world_size=2)
    reference.set_epoch(3)
    full_epoch = epoch_ids(reference)
    iterator = iter(sampler)
    seen = [int(next(iterator)[0]) for _ in range(consumed)]
    state = sampler.state_dict()
    assert state == {"epoch": 3, "position": consumed}
    assert all(type(value) is int for value in state.values())

    resumed = EpochBatchSampler(numbered_batches(21), seed=5, rank=1, world_size=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(3)  # re-entering the saved epoch keeps the position
    rest = epoch_ids(resumed)
    assert seen + rest == full_epoch
    assert resumed.state_dict() == {"epoch": 3, "position": 10}
    assert epoch_ids(resumed) == []  # the end of an epoch does not start the next one
    resumed.set_epoch(4)
    assert resumed.state_dict() == {"epoch": 4, "position": 0}
    assert len(epoch_ids(resumed)) == 10


def test_load_state_dict_rejects_state_that_does_not_fit():
    sampler = EpochBatchSampler(numbered_batches(4), seed=0)
    with pytest.raises(ValueError, match="missing position"):
        sampler.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match="position=9"):
        sampler.load_state_dict({"epoch": 1, "position": 9})


def test_shuffle_ties_breaks_ties_at_random_from_the_seed():
    """Eight sentences of one length in budget-2 batches: a stable sort pairs them in dataset
    order; with shuffle_ties the pairing follows the seeded permutation, still sorted by length."""
    lens = np.array([3] * 8 + [1, 1])
    stable = batch_by_tokens(lens, lens, max_tokens=8)
    assert [b.tolist() for b in stable] == [[8, 9], [0, 1], [2, 3], [4, 5], [6, 7]]
    shuffled = batch_by_tokens(lens, lens, max_tokens=8, shuffle_ties=(1, 2))
    perm = np.random.default_rng((1, 2)).permutation(10)
    ties = [int(i) for i in perm if i < 8]  # the permutation's order among the equal lengths
    assert sorted(shuffled[0].tolist()) == [8, 9]
    assert [i for b in shuffled[1:] for i in b.tolist()] == ties
    assert [b.tolist() for b in batch_by_tokens(lens, lens, 8, shuffle_ties=(1, 2))] == \
        [b.tolist() for b in shuffled]
    assert [b.tolist() for b in batch_by_tokens(lens, lens, 8, shuffle_ties=(1, 3))] != \
        [b.tolist() for b in shuffled]


def _epoch_sampler(seed: int = 7, rank: int = 0, world_size: int = 1) -> EpochBatchSampler:
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 6, 300), rng.integers(1, 6, 300)
    return EpochBatchSampler(lambda epoch: batch_by_tokens(src, tgt, 40, shuffle_ties=(seed, epoch)),
                             seed=seed, rank=rank, world_size=world_size)


def _epoch_batches(sampler: EpochBatchSampler) -> list[list[int]]:
    return [b.tolist() for b in sampler]


def test_fresh_batches_every_epoch_from_the_seed():
    sampler, again = _epoch_sampler(), _epoch_sampler()
    sampler.set_epoch(1)
    again.set_epoch(1)
    first = _epoch_batches(sampler)
    assert first == _epoch_batches(again)
    assert sorted(i for b in first for i in b) == list(range(300))
    sampler.set_epoch(2)
    second = _epoch_batches(sampler)
    assert sorted(i for b in second for i in b) == list(range(300))
    assert {tuple(sorted(b)) for b in first} != {tuple(sorted(b)) for b in second}  # new contents
    other = _epoch_sampler(seed=8)
    other.set_epoch(1)
    assert _epoch_batches(other) != first


@pytest.mark.parametrize("consumed", [0, 3, 17])
def test_fresh_batches_resume_mid_epoch_exactly(consumed):
    reference = _epoch_sampler(rank=1, world_size=2)
    reference.set_epoch(4)
    full = _epoch_batches(reference)
    sampler = _epoch_sampler(rank=1, world_size=2)
    sampler.set_epoch(4)
    iterator = iter(sampler)
    seen = [next(iterator).tolist() for _ in range(consumed)]
    resumed = _epoch_sampler(rank=1, world_size=2)  # a new process: starts at epoch 0
    resumed.load_state_dict(sampler.state_dict())
    resumed.set_epoch(4)
    assert seen + _epoch_batches(resumed) == full
