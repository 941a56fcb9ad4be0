"""Token-budget batching and the resumable, shardable epoch iterator over those batches.

Sentences are sorted by length so that a batch holds sentences of similar length (little
padding), then cut greedily so that ``num_sentences * longest sequence`` stays within
``max_tokens``. Padding is part of the budget, so the budget bounds the memory of a step, not just
its useful work. For training, ties among equal lengths are broken at random and the batches are
cut afresh every epoch (``shuffle_ties``, ``EpochBatchSampler(make_batches)``), both from the seed:
on WMT, where thousands of sentences share a length, a stable sort would fill each batch from one
sub-corpus, and the same batches would come back every epoch (fairseq permutes before its stable
sort for the same reason).

Lengths here are the lengths the model sees: the source gets EOS appended and the target gets
BOS prepended (decoder input) or EOS appended (decoder output), so both are ``len + 1``.

Each epoch the *order of the batches* is shuffled too, the list is dealt out
round-robin to the data-parallel ranks, and the iterator remembers how many batches it has
handed out so that training can resume mid-epoch without replaying or skipping data.

Pure numpy; no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

BUCKET_ORDERS = ("tgt_src", "src_tgt", "max", "none")
"""Sentence orders ``batch_by_tokens`` can batch in (see its docstring)."""


def _round_up(values: np.ndarray, multiple: int) -> np.ndarray:
    """Round every value up to a multiple of ``multiple`` (the padded length collate produces)."""
    return (values + multiple - 1) // multiple * multiple


def _check_lengths(src_lens: np.ndarray, tgt_lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both length arrays as int64, after checking that they are 1-D, aligned and >= 0."""
    src = np.asarray(src_lens)
    tgt = np.asarray(tgt_lens)
    if src.ndim != 1 or tgt.ndim != 1 or src.shape != tgt.shape:
        raise ValueError(
            f"src_lens and tgt_lens must be 1-D arrays of the same length, got shapes {src.shape} and {tgt.shape}"
        )
    if src.size and (src.min() < 0 or tgt.min() < 0):
        raise ValueError("sentence lengths must be >= 0; the length arrays contain a negative value")
    return src.astype(np.int64, copy=False), tgt.astype(np.int64, copy=False)


def _sort_order(src_len: np.ndarray, tgt_len: np.ndarray, bucket_order: str,
                shuffle_ties: tuple[int, ...] | None = None) -> np.ndarray:
    """Indices in batching order (stable sort on one combined key). Ties keep dataset order, or with
    ``shuffle_ties`` (a seed) a random order: the indices are permuted before the stable sort."""
    n = len(src_len)
    perm = np.random.default_rng(shuffle_ties).permutation(n) if shuffle_ties is not None else None
    if bucket_order == "none":
        return perm if perm is not None else np.arange(n, dtype=np.int64)
    # One int64 key sorts faster than np.lexsort and is just as stable.
    base = int(max(src_len.max(), tgt_len.max())) + 1
    if bucket_order == "tgt_src":
        key = tgt_len * base + src_len
    elif bucket_order == "src_tgt":
        key = src_len * base + tgt_len
    else:  # "max": by the length the budget charges, then target, then source
        key = (np.maximum(src_len, tgt_len) * base + tgt_len) * base + src_len
    if perm is None:
        return np.argsort(key, kind="stable")
    return perm[np.argsort(key[perm], kind="stable")]


def greedy_batch_ends(lengths: np.ndarray, max_tokens: int, max_sentences: int) -> np.ndarray:
    """Cut a sequence of sentence lengths greedily into batches within the token budget.

    Walking ``lengths`` in order, a batch grows while ``size * max(lengths in batch) <= max_tokens``
    and ``size <= max_sentences``. Returns the exclusive end offset of every batch, e.g. lengths
    ``[2, 2, 3, 5]`` with ``max_tokens=6`` give ``[2, 3, 4]`` (batches ``[2, 2] [3] [5]``).
    Every length must be ``<= max_tokens``.
    """
    n = len(lengths)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    longest_batch = int(min(max_sentences, n, max_tokens // max(int(lengths.min()), 1)))
    counts = np.arange(1, longest_batch + 1, dtype=np.int64)  # batch size if cut after each position
    ends: list[int] = []
    start, width = 0, 64
    # One numpy pass per batch (not per sentence): look at a window, grow it only if the budget
    # was not exceeded inside it. Consecutive batches have similar sizes, so the last size
    # (doubled) is a good first window.
    while start < n:
        cap = min(max_sentences, n - start, max_tokens // max(int(lengths[start]), 1))
        width = min(width, cap)
        while True:
            cost = np.maximum.accumulate(lengths[start : start + width]) * counts[:width]
            over = cost > max_tokens
            first_over = int(over.argmax())
            if over[first_over]:
                size = first_over
                break
            if width == cap:
                size = cap
                break
            width = min(2 * width, cap)
        start += size
        ends.append(start)
        width = 2 * size + 1
    return np.asarray(ends, dtype=np.int64)


def batch_by_tokens(
    src_lens: np.ndarray,
    tgt_lens: np.ndarray,
    max_tokens: int,
    *,
    max_sentences: int | None = None,
    bucket_order: str = "max",
    pad_to_multiple: int = 1,
    shuffle_ties: tuple[int, ...] | None = None,
) -> list[np.ndarray]:
    """Group sentence indices into batches of at most ``max_tokens`` tokens, padding included.

    ``src_lens``/``tgt_lens`` are token counts without special tokens; the budget is charged for
    ``len + 1`` on each side (EOS/BOS), rounded up to ``pad_to_multiple`` as ``collate`` pads.
    A batch of ``n`` sentences costs ``n * max(longest source, longest target)``.

    ``bucket_order`` is the order sentences are walked in before cutting:
    ``max`` (the default: by the longer side, which the budget charges, then target, then source;
    0.955 real tokens on Multi30k at 4096 against 0.929 for ``tgt_src``), ``tgt_src`` (by target
    length, then source length), ``src_tgt`` or ``none`` (dataset order, no sorting). Ties keep dataset order, so the result is deterministic;
    with ``shuffle_ties`` (a seed such as ``(seed, epoch)``) equal keys come in a random order drawn
    from that seed (for ``none``: the whole order is random).

    Returns a list of int64 index arrays in batching order (shortest batches first when sorted).
    Raises ``ValueError`` if a single sentence does not fit into ``max_tokens``.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if max_sentences is not None and max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1 or None, got {max_sentences}")
    if pad_to_multiple < 1:
        raise ValueError(f"pad_to_multiple must be >= 1, got {pad_to_multiple}")
    if bucket_order not in BUCKET_ORDERS:
        raise ValueError(f"bucket_order must be one of {', '.join(BUCKET_ORDERS)}; got {bucket_order!r}")
    src_len, tgt_len = _check_lengths(src_lens, tgt_lens)
    if src_len.size == 0:
        return []

    # The length each sentence is charged: its longer side as the model sees it, padded.
    charged = _round_up(np.maximum(src_len, tgt_len) + 1, pad_to_multiple)
    too_long = np.flatnonzero(charged > max_tokens)
    if too_long.size:
        i = int(too_long[0])
        others = f" ({too_long.size - 1} more sentences are too long as well)" if too_long.size > 1 else ""
        raise ValueError(
            f"sentence {i} needs {int(charged[i])} tokens (source {int(src_len[i]) + 1}, "
            f"target {int(tgt_len[i]) + 1}, with EOS/BOS"
            f"{f' and padding to a multiple of {pad_to_multiple}' if pad_to_multiple > 1 else ''}), "
            f"more than max_tokens={max_tokens}{others}; raise max_tokens or drop long sentences "
            f"when preparing the data (data.max_tokens_per_sentence)"
        )

    order = _sort_order(src_len, tgt_len, bucket_order, shuffle_ties)
    ends = greedy_batch_ends(charged[order], max_tokens, max_sentences or len(order))
    return np.split(order, ends[:-1])


def real_token_fraction(
    batches: Sequence[np.ndarray],
    src_lens: np.ndarray,
    tgt_lens: np.ndarray,
    *,
    pad_to_multiple: int = 1,
) -> float:
    """Fraction of the padded tensor slots that hold real tokens, over source and target.

    Real tokens are ``len + 1`` per side (EOS/BOS included); the slots of a batch are
    ``n * longest`` per side, lengths rounded up to ``pad_to_multiple``. The target side is
    counted once (decoder input and output have the same shape). 1.0 means no padding at all.
    """
    if len(batches) == 0:
        return 1.0
    src_len, tgt_len = _check_lengths(src_lens, tgt_lens)
    sizes = np.fromiter((len(b) for b in batches), dtype=np.int64, count=len(batches))
    if sizes.min() == 0:
        raise ValueError("batches must not be empty; got an empty index array")
    order = np.concatenate(batches)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    real = 0
    slots = 0
    for lens in (src_len[order] + 1, tgt_len[order] + 1):
        longest = _round_up(np.maximum.reduceat(lens, starts), pad_to_multiple)
        real += int(lens.sum())
        slots += int((sizes * longest).sum())
    return real / slots


class EpochBatchSampler:
    """Yields this rank's batches for one epoch, in a per-epoch shuffled order; resumable.

    ``batches`` is either a fixed list of batches (index arrays, e.g. from ``batch_by_tokens``) or a
    function ``epoch -> batches`` that cuts fresh batches for every epoch (it must be deterministic:
    every rank, and a resumed run, calls it with the same epoch and must get the same batches).

    Every epoch the batch list is permuted with ``np.random.default_rng((seed, epoch))`` (or kept
    in order with ``shuffle=False``). Of the first ``world_size * (len(batches) // world_size)``
    batches, rank ``r`` gets positions ``r, r + W, r + 2W, ...``; the remaining
    ``len(batches) % world_size`` batches are *dropped* for that epoch, so every rank runs the same
    number of steps and sees different data. With shuffling the dropped batches differ from epoch
    to epoch; without it the last few batches are never used.

    The sampler counts the batches it has yielded in the current epoch (``position``).
    ``state_dict`` saves ``(epoch, position)``; after ``load_state_dict`` iteration continues with
    exactly the batches not yet yielded. Reaching the end of an epoch does not start the next one:
    the trainer calls ``set_epoch``. Calling ``set_epoch`` with the epoch the sampler is already in
    keeps the position, so the usual ``load_state_dict(...); set_epoch(saved_epoch)`` resumes.

    The position is advanced when a batch is handed out, so anything that iterates ahead of the
    trainer (``mt.data.loader.BatchLoader`` prefetching) runs ahead of the trainer's position; the
    loader keeps the position of the batch the trainer last took.
    """

    def __init__(
        self,
        batches: Sequence[np.ndarray] | Callable[[int], Sequence[np.ndarray]],
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        """Wrap ``batches`` (or the per-epoch batch maker) for rank ``rank`` of ``world_size``."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self._make_batches = batches if callable(batches) else None
        self._batches: Sequence[np.ndarray] = [] if callable(batches) else batches
        self._batches_epoch: int | None = None
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.epoch = 0
        self.position = 0
        self._current_batches()  # cut (and check) the first epoch's batches: errors surface at start-up

    @property
    def batches(self) -> Sequence[np.ndarray]:
        """The current epoch's batches (before the per-epoch shuffle and the rank split)."""
        return self._current_batches()

    def _current_batches(self) -> Sequence[np.ndarray]:
        if self._make_batches is not None and self._batches_epoch != self.epoch:
            self._batches, self._batches_epoch = self._make_batches(self.epoch), self.epoch
        if len(self._batches) < self.world_size:
            raise ValueError(
                f"only {len(self._batches)} batches for {self.world_size} ranks, so some rank would get "
                f"none; use a smaller max_tokens, fewer ranks or more data"
            )
        return self._batches

    def set_epoch(self, epoch: int) -> None:
        """Switch to ``epoch`` (fixes its batches and their order) and start it from the beginning.

        If the sampler is already in ``epoch`` (e.g. just restored by ``load_state_dict``),
        the position is kept, so a resumed epoch is not replayed.
        """
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if epoch != self.epoch:
            self.epoch = epoch
            self.position = 0

    def _epoch_order(self) -> np.ndarray:
        """Indices into ``self.batches`` that this rank yields in the current epoch, in order."""
        n = len(self.batches)
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(n)
        else:
            order = np.arange(n)
        usable = self.world_size * (n // self.world_size)
        return order[self.rank : usable : self.world_size]

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the current epoch's remaining batches for this rank, from the saved position on."""
        order = self._epoch_order()
        while self.position < len(order):
            batch = self.batches[order[self.position]]
            # Count the batch before handing it out, so a checkpoint written while the caller
            # trains on it does not replay it after resuming.
            self.position += 1
            yield batch

    def __len__(self) -> int:
        """Number of batches per epoch on this rank; the same on every rank."""
        return len(self.batches) // self.world_size

    def state_dict(self) -> dict:
        """The resume point: ``{"epoch": int, "position": int}`` (batches already yielded this epoch)."""
        return {"epoch": int(self.epoch), "position": int(self.position)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a resume point saved by ``state_dict``; the next iteration yields what was left."""
        missing = [key for key in ("epoch", "position") if key not in state]
        if missing:
            raise ValueError(f"batch sampler state is missing {', '.join(missing)}; got keys {sorted(state)}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0:
            raise ValueError(f"batch sampler state has epoch={epoch}; epochs are >= 0")
        previous = self.epoch, self.position
        self.epoch, self.position = epoch, 0  # the saved epoch's batches decide what fits
        if not 0 <= position <= len(self):
            size = len(self)
            self.epoch, self.position = previous
            raise ValueError(
                f"batch sampler state epoch={epoch}, position={position} does not fit this data: "
                f"{size} batches per epoch on this rank; was the data, max_tokens or the number "
                f"of ranks changed since the checkpoint was written?"
            )
        self.position = position


def temperature_sample(groups: np.ndarray, temperature: float, seed: tuple[int, ...]) -> np.ndarray:
    """The sentence indices of one epoch drawn by group (a corpus's language pairs): group g gets
    ``N * q_g`` of the ``N`` places, ``q_g`` proportional to its share ``n_g / N`` raised to
    ``1 / temperature`` (Arivazhagan et al. 2019). A group with more places than sentences repeats
    them (whole passes, then a random rest), one with fewer draws a random subset; the result is
    sorted, so batching sees the dataset order. ``temperature`` 1 returns every index once."""
    counts = np.bincount(groups[groups >= 0])
    present = np.flatnonzero(counts)
    shares = counts[present] / counts[present].sum()
    weights = shares ** (1.0 / temperature)
    places = np.round(weights / weights.sum() * counts.sum()).astype(np.int64)
    rng = np.random.default_rng(seed)
    parts = []
    for group, want in zip(present, places, strict=True):
        members = np.flatnonzero(groups == group)
        passes, rest = divmod(int(want), len(members))
        parts += [np.tile(members, passes), rng.choice(members, rest, replace=False)]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
