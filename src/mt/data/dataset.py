"""Read binarized splits: memory-mapped, cheap to open, safe to hand to worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mt.data.binarize import bin_path, idx_path
from mt.data.errors import DataError


def _read_offsets(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"prepared file {path} is missing; delete its directory and prepare the data again")
    offsets = np.fromfile(path, dtype=np.int64)  # (n + 1,)
    if len(offsets) == 0 or offsets[0] != 0 or (len(offsets) > 1 and np.any(np.diff(offsets) < 0)):
        raise DataError(f"prepared file {path} is corrupt; delete its directory and prepare the data again")
    return offsets


def _token_dtype_of(path: Path, n_tokens: int) -> np.dtype:
    # The .bin holds n_tokens ids; its size tells the width (uint16 or uint32) without a side file.
    if not path.is_file():
        raise DataError(f"prepared file {path} is missing; delete its directory and prepare the data again")
    size = path.stat().st_size
    for dtype in (np.dtype(np.uint16), np.dtype(np.uint32)):
        if size == n_tokens * dtype.itemsize:
            return dtype
    raise DataError(
        f"prepared file {path} has {size} bytes, which does not match its {n_tokens} tokens; "
        f"delete its directory and prepare the data again"
    )


class _Side:
    """Offsets and lazily memory-mapped tokens of one side of one split."""

    def __init__(self, directory: Path, split: str, lang: str) -> None:
        self.bin = bin_path(directory, split, lang)
        self.offsets = _read_offsets(idx_path(directory, split, lang))
        self.dtype = _token_dtype_of(self.bin, int(self.offsets[-1]))
        self._tokens: np.ndarray | None = None

    @property
    def tokens(self) -> np.ndarray:
        if self._tokens is None:
            if self.offsets[-1] == 0:
                self._tokens = np.zeros(0, self.dtype)  # an empty file cannot be memory-mapped
            else:
                self._tokens = np.memmap(self.bin, dtype=self.dtype, mode="r")
        return self._tokens

    def __getstate__(self) -> dict:
        # Re-map in the receiving process instead of pickling the token data.
        return {**self.__dict__, "_tokens": None}

    def __getitem__(self, i: int) -> np.ndarray:
        return np.array(self.tokens[self.offsets[i] : self.offsets[i + 1]], dtype=np.int64)


class TokenPairDataset:
    """Pairs of one binarized split; items are ``(src_tokens, tgt_tokens)`` int64 arrays.

    Tokens carry no BOS/EOS (collation adds them). ``src_lengths``/``tgt_lengths`` are the token
    counts per pair, for length-bucketed batching without touching the token files.
    """

    def __init__(self, directory: Path, split: str, src_lang: str, tgt_lang: str) -> None:
        self.directory = Path(directory)
        self.split = split
        self._src = _Side(self.directory, split, src_lang)
        self._tgt = _Side(self.directory, split, tgt_lang)
        if len(self._src.offsets) != len(self._tgt.offsets):
            raise DataError(
                f"{self._src.bin} and {self._tgt.bin} hold {len(self._src.offsets) - 1} and "
                f"{len(self._tgt.offsets) - 1} sentences; delete {self.directory} and prepare again"
            )
        self.src_lengths: np.ndarray = np.diff(self._src.offsets).astype(np.int32)  # (n,)
        self.tgt_lengths: np.ndarray = np.diff(self._tgt.offsets).astype(np.int32)  # (n,)

    def __len__(self) -> int:
        return len(self.src_lengths)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"pair {i} out of range for the {n} pairs of split {self.split!r}")
        i = int(i) % n
        return self._src[i], self._tgt[i]

    def source_groups(self, ids: list[int]) -> np.ndarray:
        """For every pair, the index in ``ids`` of the first of its first two source tokens found in
        ``ids`` (the target-language tag of a ``data.pairs`` corpus, after SentencePiece's leading
        ``▁``), or -1."""
        starts, ends = self._src.offsets[:-1], self._src.offsets[1:]
        table = np.full(max(ids) + 1, -1, dtype=np.int64)  # token id -> its index in ids
        table[np.asarray(ids)] = np.arange(len(ids))
        groups = np.full(len(starts), -1, dtype=np.int64)
        for pos in (1, 0):  # the second token wins: it is the tag when a lone "▁" comes first
            has = starts + pos < ends
            token = np.asarray(self._src.tokens[starts[has] + pos], dtype=np.int64)
            hit = np.full(len(starts), -1, dtype=np.int64)
            hit[has] = np.where(token < len(table), table[np.minimum(token, len(table) - 1)], -1)
            groups = np.where((groups < 0) & (hit >= 0), hit, groups)
        return groups

    def num_tokens(self) -> tuple[int, int]:
        """Total source and target tokens of the split (without EOS)."""
        return int(self._src.offsets[-1]), int(self._tgt.offsets[-1])

    def __repr__(self) -> str:
        return f"TokenPairDataset({str(self.directory)!r}, split={self.split!r}, pairs={len(self)})"
