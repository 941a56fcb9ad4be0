"""Encode text pairs into flat token arrays on every core.

For each split and side two files are written:

* ``{split}.{lang}.bin``: all token ids of the split back to back (uint16 when the vocabulary fits,
  else uint32), without BOS/EOS;
* ``{split}.{lang}.idx``: int64 offsets into the ``.bin`` file, ``n + 1`` of them.

Encoding runs in a process pool over chunks of ``CHUNK_SIZE`` pairs; each worker loads the
SentencePiece model once. At most ``2 * workers`` chunks are in flight, so memory stays bounded
whatever the corpus size, and chunks are written in corpus order.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from itertools import chain, islice
from pathlib import Path

import numpy as np
import sentencepiece as spm
from tqdm import tqdm

from mt.data.errors import DataError
from mt.data.tokenizer import SubwordModel
from mt.utils.cpu import usable_cores

logger = logging.getLogger(__name__)

CHUNK_SIZE = 10_000
"""Pairs per encoding task: large enough to amortize inter-process traffic, small enough to stream."""

Chunk = tuple[list[str], list[str]]
# (src_lengths (n,), src_tokens (sum,), tgt_lengths (n,), tgt_tokens (sum,))
Encoded = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class BinarizeStats:
    """What was written for one split."""

    pairs: int = 0
    dropped_too_long: int = 0
    src_tokens: int = 0
    tgt_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict (for logs and meta.json)."""
        return asdict(self)


def token_dtype(vocab_size: int) -> np.dtype:
    """Smallest unsigned dtype holding every id of a ``vocab_size`` vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


def resolve_workers(num_workers: int) -> int:
    """``num_workers`` processes, or one per CPU core available to us when it is 0."""
    return num_workers if num_workers > 0 else usable_cores()


def bin_path(directory: Path, split: str, lang: str) -> Path:
    """Path of the flat token file of one split and side."""
    return Path(directory) / f"{split}.{lang}.bin"


def idx_path(directory: Path, split: str, lang: str) -> Path:
    """Path of the offsets file of one split and side."""
    return Path(directory) / f"{split}.{lang}.idx"


# ------------------------------------------------------------------------------------ encoding


Models = tuple[Path, Path]
"""The SentencePiece models of the source and the target side (one path twice for a joint model)."""
_WORKER_SP: tuple[SubwordModel, SubwordModel] | None = None


def _load(model_paths: tuple[str, str]) -> tuple[SubwordModel, SubwordModel]:
    src = SubwordModel.from_file(model_paths[0])
    same = str(model_paths[0]) == str(model_paths[1])
    return src, src if same else SubwordModel.from_file(model_paths[1])


def _init_worker(model_paths: tuple[str, str]) -> None:
    global _WORKER_SP
    _WORKER_SP = _load(model_paths)


def _encode_side(model: SubwordModel, texts: list[str], dtype: np.dtype, threads: int):
    arrays = model.encode(texts, threads, numpy=True) if texts else []
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int32, count=len(arrays))
    flat = np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)
    return lengths, flat


def encode_chunk(sps: tuple[SubwordModel, SubwordModel], chunk: Chunk, dtype: np.dtype,
                 threads: int = 1) -> Encoded:
    """Encode one chunk of pairs into per-side lengths and flat token arrays, each side with its model."""
    src_lengths, src_tokens = _encode_side(sps[0], chunk[0], dtype, threads)
    tgt_lengths, tgt_tokens = _encode_side(sps[1], chunk[1], dtype, threads)
    return src_lengths, src_tokens, tgt_lengths, tgt_tokens


def _encode_in_worker(chunk: Chunk, dtype: np.dtype) -> Encoded:
    assert _WORKER_SP is not None, "worker not initialized"
    return encode_chunk(_WORKER_SP, chunk, dtype)


def iter_chunks(pairs: Iterable[tuple[str, str]], size: int = CHUNK_SIZE) -> Iterator[Chunk]:
    """Group pairs into ``(src_texts, tgt_texts)`` chunks of at most ``size`` pairs."""
    it = iter(pairs)
    while batch := list(islice(it, size)):
        yield [s for s, _ in batch], [t for _, t in batch]


def encode_chunks(chunks: Iterable[Chunk], model_paths: Models, dtype: np.dtype, workers: int) -> Iterator[Encoded]:
    """Encode chunks in order, in a pool of ``workers`` processes when there is more than one chunk.

    A single chunk (a typical valid/test split) is encoded here with SentencePiece's own threads,
    which is cheaper than starting processes.
    """
    it = iter(chunks)
    head = list(islice(it, 2))
    if len(head) < 2 or workers <= 1:
        sps = _load((str(model_paths[0]), str(model_paths[1])))
        for chunk in chain(head, it):
            yield encode_chunk(sps, chunk, dtype, threads=workers)
        return
    # spawn, not fork: the caller may hold CUDA contexts or threads (tqdm, torch) that fork breaks.
    # An executor (unlike multiprocessing.Pool) raises instead of hanging when a worker dies.
    ctx = mp.get_context("spawn")
    # Workers get the model's path, not its bytes: a small start-up message cannot block on a pipe.
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=((str(model_paths[0]), str(model_paths[1])),))
    pending: deque = deque()
    try:
        for chunk in chain(head, it):
            pending.append(pool.submit(_encode_in_worker, chunk, dtype))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise DataError(
            "an encoding worker process died: out of memory, killed, or it could not start (workers "
            "re-import the main script, whose code must sit under `if __name__ == '__main__':`); "
            "lower data.num_workers, or set data.num_workers=1 to encode in this process"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------- writing


def length_mask(src_lengths: np.ndarray, tgt_lengths: np.ndarray, max_tokens: int | None) -> np.ndarray:
    """Pairs to keep: both sides fit ``max_tokens`` once EOS is appended (all pairs when None)."""
    if max_tokens is None:
        return np.ones(len(src_lengths), dtype=bool)
    return (src_lengths + 1 <= max_tokens) & (tgt_lengths + 1 <= max_tokens)


def _select(lengths: np.ndarray, tokens: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lengths[keep], tokens[np.repeat(keep, lengths)]


def write_offsets(path: Path, lengths: list[np.ndarray]) -> None:
    """Write the ``n + 1`` int64 offsets of sequences with the given lengths."""
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
    offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)  # (n + 1,)
    np.cumsum(all_lengths, out=offsets[1:])
    offsets.tofile(path)


def binarize_pairs(
    pairs: Iterable[tuple[str, str]],
    model_paths: Path | Models,
    out_dir: Path,
    split: str,
    src_lang: str,
    tgt_lang: str,
    *,
    max_tokens_per_sentence: int | None = None,
    num_workers: int = 0,
    total: int | None = None,
    progress: bool = False,
    chunk_size: int = CHUNK_SIZE,
    dropped_out: list[np.ndarray] | None = None,
) -> BinarizeStats:
    """Encode ``pairs`` with the SentencePiece models at ``model_paths`` (source, target; one path for a
    joint model) into ``out_dir``.

    Pairs longer than ``max_tokens_per_sentence`` (with EOS) on either side are dropped and counted;
    pass None to keep everything (valid/test). ``total`` only sizes the progress bar. The input
    positions of the dropped pairs are appended to ``dropped_out`` (a ``data.pairs`` corpus counts
    each pair's sentences with them).
    """
    paths = (Path(model_paths),) * 2 if isinstance(model_paths, (str, Path)) else tuple(map(Path, model_paths))
    dtype = token_dtype(max(spm.SentencePieceProcessor(model_file=str(p)).get_piece_size() for p in paths))
    workers = resolve_workers(num_workers)
    stats = BinarizeStats()
    lengths: dict[str, list[np.ndarray]] = {src_lang: [], tgt_lang: []}
    bar = tqdm(total=total, unit=" pairs", unit_scale=True, desc=f"encode {split}", disable=not progress)
    with open(bin_path(out_dir, split, src_lang), "wb") as f_src, open(
        bin_path(out_dir, split, tgt_lang), "wb"
    ) as f_tgt, bar:
        chunks = iter_chunks(pairs, chunk_size)
        for src_len, src_tok, tgt_len, tgt_tok in encode_chunks(chunks, paths, dtype, workers):
            keep = length_mask(src_len, tgt_len, max_tokens_per_sentence)
            if not keep.all():
                if dropped_out is not None:  # pairs read so far = kept + dropped before this chunk
                    dropped_out.append(np.flatnonzero(~keep) + stats.pairs + stats.dropped_too_long)
                stats.dropped_too_long += int((~keep).sum())
                src_len, src_tok = _select(src_len, src_tok, keep)
                tgt_len, tgt_tok = _select(tgt_len, tgt_tok, keep)
            f_src.write(src_tok.tobytes())
            f_tgt.write(tgt_tok.tobytes())
            lengths[src_lang].append(src_len)
            lengths[tgt_lang].append(tgt_len)
            stats.pairs += len(src_len)
            stats.src_tokens += int(src_tok.size)
            stats.tgt_tokens += int(tgt_tok.size)
            bar.update(len(keep))
    for lang in (src_lang, tgt_lang):
        write_offsets(idx_path(out_dir, split, lang), lengths[lang])
    logger.debug("%s: %s", split, stats.as_dict())
    return stats
