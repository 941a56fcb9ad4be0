"""Training batches across epochs, collated ahead of the trainer in a background thread; resumable.

The trainer should never wait for the host to pad a batch. ``BatchLoader`` walks the batch sampler
epoch after epoch, reads and collates each batch (and pins it on CUDA, so that the copy to the device
is truly asynchronous) in a background thread, and keeps up to ``prefetch`` batches ready. A thread
suffices: collation is numpy work on memory-mapped arrays, short next to a training step, and the
batch order stays exactly the sampler's (there is one producer).

Because the thread runs ahead, the sampler's own position is ahead of the trainer. The loader records,
with every batch, the sampler position just after it and hands out the position of the batch the
trainer took last: ``state_dict`` is the exact resume point, as if there were no prefetching.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np

from mt.data.batching import EpochBatchSampler
from mt.data.collate import Batch, collate
from mt.data.dataset import TokenPairDataset
from mt.utils.cpu import usable_cores

_DONE = object()
AUTO_PREFETCH = 4
"""Batches collated ahead when the loader thread has a device or a spare core to work beside."""


def default_prefetch(on_cuda: bool, torch_threads: int, cores: int | None = None) -> int:
    """How many batches to collate ahead when the config says auto.

    On CUDA the host is otherwise idle while the GPU computes, so a thread always pays. On a CPU it
    pays only with a core to spare: where torch's intra-op threads already use every core, the loader
    thread preempts one of them in the middle of a GEMM, and the step waits for it (about 8% slower
    on 2 cores; docs/benchmarks.md), so collating on demand between steps is faster.
    """
    cores = usable_cores() if cores is None else cores
    return AUTO_PREFETCH if on_cuda or cores > torch_threads else 0


class BatchLoader:
    """Endless iterator of collated training batches from ``sampler`` (advancing its epochs)."""

    def __init__(self, dataset: TokenPairDataset, sampler: EpochBatchSampler, *, pad_id: int, bos_id: int,
                 eos_id: int, pad_to_multiple: int = 1, prefetch: int = 4, pin_memory: bool = False):
        """``prefetch`` batches are collated ahead in a thread (0: on the caller's thread, on demand);
        ``pin_memory`` puts them in page-locked memory (CUDA only); ``pad_to_multiple`` as in ``collate``."""
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.dataset, self.sampler = dataset, sampler
        self.ids = {"pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id}
        self.pad_to_multiple, self.prefetch, self.pin_memory = pad_to_multiple, prefetch, pin_memory
        self._taken = sampler.state_dict()  # resume point: just after the batch the trainer took last
        self._epoch_len = len(sampler)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._iterator: Iterator | None = None

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._iterator is None:
            self._iterator = self._start()
        batch, self._taken, self._epoch_len = next(self._iterator)
        return batch

    def _produce(self) -> Iterator[tuple[Batch, dict, int]]:
        """(batch, sampler position after it, batches in its epoch), forever."""
        while True:
            for indices in self.sampler:
                yield self._collate(indices), self.sampler.state_dict(), len(self.sampler)
            self.sampler.set_epoch(self.sampler.epoch + 1)

    def _collate(self, indices: np.ndarray) -> Batch:
        batch = collate([self.dataset[int(i)] for i in indices], indices, **self.ids,
                        pad_to_multiple=self.pad_to_multiple)
        return batch.pin_memory() if self.pin_memory else batch

    def _start(self) -> Iterator[tuple[Batch, dict, int]]:
        if self.prefetch == 0:
            return self._produce()
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        self._thread = threading.Thread(target=self._fill, args=(ready,), name="mt-batch-loader", daemon=True)
        self._thread.start()
        return self._drain(ready)

    def _fill(self, ready: queue.Queue) -> None:
        try:
            for item in self._produce():
                if not self._put(ready, item):
                    return
        except BaseException as e:  # handed to the trainer's thread, which re-raises it
            self._put(ready, (_DONE, e))

    def _put(self, ready: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    @staticmethod
    def _drain(ready: queue.Queue) -> Iterator[tuple[Batch, dict, int]]:
        while True:
            item = ready.get()
            if item[0] is _DONE:
                raise item[1]  # the loader thread's error, with its own type and message
            yield item

    def close(self) -> None:
        """Stop the background thread (the loader cannot be iterated afterwards)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ------------------------------------------------------------------ position
    @property
    def epoch(self) -> int:
        """The epoch of the batch the trainer took last (or resumes in)."""
        return self._taken["epoch"]

    @property
    def epoch_done(self) -> bool:
        """True when the batch taken last was the final one of its epoch."""
        return self._taken["position"] >= self._epoch_len

    def __len__(self) -> int:
        """Batches per epoch on this rank (of the current epoch: fresh batches may differ in number)."""
        return self._epoch_len

    def state_dict(self) -> dict:
        """The resume point, ``{"epoch", "position"}``, counting the batches the trainer has taken."""
        return dict(self._taken)

    def load_state_dict(self, state: dict) -> None:
        """Resume from ``state_dict()``; only before the first batch is taken."""
        if self._iterator is not None:
            raise RuntimeError("BatchLoader.load_state_dict must be called before iterating")
        self.sampler.load_state_dict(state)
        self._taken, self._epoch_len = self.sampler.state_dict(), len(self.sampler)
