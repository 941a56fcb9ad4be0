"""The prefetching batch loader: same batches in the same order as collating on demand, collated off
the training thread, and an exact resume point however far it has read ahead."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mt.config import ConfigError, TrainConfig, TrainerConfig, validate
from mt.data.batching import EpochBatchSampler, batch_by_tokens
from mt.data.collate import Batch
from mt.data.loader import BatchLoader, default_prefetch

IDS = {"pad_id": 0, "bos_id": 2, "eos_id": 3}


class Pairs:
    """A dataset of 40 pairs; pair i is (i+4, ...) repeated (i % 5 + 1) times on each side."""

    def __init__(self, n: int = 40):
        self.lengths = np.array([i % 5 + 1 for i in range(n)])

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int):
        row = np.full(self.lengths[i], i + 4, dtype=np.int64)
        return row, row[:-1] if len(row) > 1 else row


def make_loader(prefetch: int, pad_to_multiple: int = 1, dataset=None) -> BatchLoader:
    data = dataset or Pairs()
    lens = data.lengths
    sampler = EpochBatchSampler(lambda e: batch_by_tokens(lens, lens, 12, pad_to_multiple=pad_to_multiple,
                                                          shuffle_ties=(3, e)), seed=3)
    sampler.set_epoch(1)
    return BatchLoader(data, sampler, **IDS, pad_to_multiple=pad_to_multiple, prefetch=prefetch)


def take(loader: BatchLoader, n: int) -> list[list[int]]:
    return [next(loader).ids.tolist() for _ in range(n)]


def test_prefetching_gives_the_batches_of_collating_on_demand_across_epochs():
    on_demand, prefetched = make_loader(prefetch=0), make_loader(prefetch=3)
    per_epoch = len(on_demand)
    expected = take(on_demand, 3 * per_epoch)
    assert take(prefetched, 3 * per_epoch) == expected
    assert sorted(i for ids in expected[:per_epoch] for i in ids) == list(range(40))  # one epoch = all
    assert expected[:per_epoch] != expected[per_epoch: 2 * per_epoch]  # fresh batches next epoch
    assert prefetched.epoch == 3 and prefetched.epoch_done
    prefetched.close()


@pytest.mark.parametrize("taken", [0, 1, 5, "epoch_end", "next_epoch"])
def test_resume_point_counts_what_the_trainer_took_not_what_was_prefetched(taken):
    reference = make_loader(prefetch=0)
    per_epoch = len(reference)
    taken, position = {"epoch_end": (per_epoch, (1, per_epoch)),
                       "next_epoch": (per_epoch + 2, (2, 2))}.get(taken, (taken, (1, taken)))
    expected = take(reference, taken + 2 * per_epoch)
    loader = make_loader(prefetch=4)
    seen = take(loader, taken)
    state = loader.state_dict()
    assert state == {"epoch": position[0], "position": position[1]}
    loader.close()
    resumed = make_loader(prefetch=4)
    resumed.load_state_dict(state)
    assert seen + take(resumed, 2 * per_epoch) == expected
    resumed.close()


def test_collation_and_pinning_run_off_the_training_thread(monkeypatch):
    threads = []
    monkeypatch.setattr(Batch, "pin_memory", lambda self: threads.append(threading.current_thread()) or self)
    loader = make_loader(prefetch=2)
    loader.pin_memory = True
    take(loader, 3)
    loader.close()
    assert len(threads) >= 3 and threading.main_thread() not in threads


def test_pad_to_multiple_pads_every_batch():
    loader = make_loader(prefetch=2, pad_to_multiple=8)
    for _ in range(len(loader)):
        batch = next(loader)
        assert batch.src_tokens.size(1) % 8 == 0 and batch.tgt_out.size(1) % 8 == 0
        assert max(batch.src_tokens.numel(), batch.tgt_out.numel()) <= 12  # the budget counts padding
    loader.close()


def test_a_failure_in_the_loader_thread_reaches_the_trainer():
    class Broken(Pairs):
        def __getitem__(self, i):
            raise OSError(f"cannot read pair {i}")

    loader = make_loader(prefetch=2, dataset=Broken())
    with pytest.raises(OSError, match="cannot read pair"):
        next(loader)
    loader.close()


def test_load_state_dict_after_iterating_is_refused():
    loader = make_loader(prefetch=0)
    next(loader)
    with pytest.raises(RuntimeError, match="before iterating"):
        loader.load_state_dict({"epoch": 1, "position": 0})


@pytest.mark.parametrize("on_cuda, threads, cores, expected", [
    (True, 2, 2, 4),   # the GPU computes while the host collates
    (False, 2, 2, 0),  # every core runs a torch thread: collate between steps
    (False, 2, 4, 4),  # a spare core for the loader thread
    (False, 1, 2, 4),
])
def test_auto_prefetch_uses_a_thread_only_beside_a_device_or_a_spare_core(on_cuda, threads, cores, expected):
    assert default_prefetch(on_cuda, threads, cores) == expected


@pytest.mark.parametrize("value, ok", [(-1, True), (0, True), (8, True), (-2, False)])
def test_prefetch_batches_is_a_count_or_minus_one_for_auto(value, ok):
    cfg = TrainConfig(trainer=TrainerConfig(prefetch_batches=value))
    if ok:
        validate(cfg)
    else:
        with pytest.raises(ConfigError, match="trainer.prefetch_batches=-2 must be >= 0, or -1 for auto"):
            validate(cfg)
