"""The line handling every decoding backend shares: lines in, translations out, in input order.

Input lines are encoded once, sorted by length (longest first, so a batch that does not fit in
memory fails at once, not at the end) and cut into batches of at most ``decode.max_tokens`` source
tokens, padding included; a backend searches each batch, and results are put back in input order.
Lines that are empty (or only whitespace) translate to empty lines without touching the model.
Sources longer than the backend's limit (at most ``MAX_SOURCE_TOKENS`` tokens, EOS included) are cut
to it, with one warning per call giving how many lines were cut.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from mt.data.batching import greedy_batch_ends
from mt.data.tokenizer import Tokenizer
from mt.decode.search import Hypothesis
from mt.utils.logging import get_logger

log = get_logger(__name__)

MAX_SOURCE_TOKENS = 1024
"""Longest source (EOS included) sent to the model, whatever its ``max_positions``: longer lines
are truncated. Real sentences are far shorter; such lines are usually unsplit paragraphs."""

CPU_MAX_BEAM_ROWS = 512
"""On CPU a batch holds at most this many sentences x beams. Larger batches do the same arithmetic
but thrash the caches and the allocator (every step allocates (rows, vocab) buffers), and run slower."""


@dataclass
class Translation:
    """One hypothesis of one input line."""

    text: str
    """Detokenized target text, on one line."""
    score: float
    """Length-normalised log-probability used for ranking."""
    log_prob: float
    """Sum of the token log-probabilities, EOS included."""
    tokens: list[int]
    """Target ids without BOS/EOS."""


SearchFn = Callable[[list[list[int]]], list[list[Hypothesis]]]
"""Searches one batch: source ids (without EOS) of each sentence -> its hypotheses, best first."""


def translate_with(
    search: SearchFn, tokenizer: Tokenizer, lines: Sequence[str], *, max_source_tokens: int,
    max_tokens: int, max_sentences: int | None, progress: bool | tqdm = False, workers: int = 1,
    same_length: bool = False,
) -> list[list[Translation]]:
    """The line handling every decoding backend shares: encode the non-empty lines, cut sources to
    ``max_source_tokens`` (EOS excluded; one warning), sort by length into batches of at most
    ``max_tokens`` tokens and ``max_sentences`` sentences (None: no cap), ``search`` each batch,
    detokenize, and put the results back in input order (empty lines get one empty translation).
    With ``workers`` > 1, that many batches are searched at once on threads (for a ``search`` that
    releases the GIL). With ``same_length``, a batch holds sources of one length only: no source is
    padded, for a backend whose result for a sentence changes when it is (CTranslate2's int8 kernels)."""
    todo = [i for i, line in enumerate(lines) if line.strip()]
    ids = tokenizer.encode_batch([lines[i] for i in todo]) if todo else []
    too_long = sum(len(x) > max_source_tokens for x in ids)
    if too_long:
        log.warning("%d input line(s) longer than %d tokens were truncated to their first %d tokens",
                    too_long, max_source_tokens, max_source_tokens)
        ids = [x[:max_source_tokens] for x in ids]
    results: list[list[Translation]] = [[Translation("", 0.0, 0.0, [])] for _ in lines]
    batches = _length_sorted_batches([len(x) + 1 for x in ids], max_tokens, max_sentences or len(ids), same_length)
    bar = progress if isinstance(progress, tqdm) else tqdm(
        total=len(lines), desc="translate", unit="sent", file=sys.stderr, disable=not progress,
        dynamic_ncols=True)
    own_bar = bar if bar is not progress else contextlib.nullcontext()
    with own_bar:
        bar.update(len(lines) - len(ids))  # empty lines are done already
        searched = _searched_in_order(search, ([ids[i] for i in batch] for batch in batches), workers)
        for batch, hyps in zip(batches, searched, strict=True):
            texts = iter(tokenizer.decode_batch([h.tokens for sent in hyps for h in sent]))
            for i, sent in zip(batch.tolist(), hyps, strict=True):
                results[todo[i]] = [Translation(_one_line(next(texts)), h.score, h.log_prob, h.tokens)
                                    for h in sent]
            bar.update(len(batch))
    return results


def _searched_in_order(search: SearchFn, inputs: Iterable[list[list[int]]],
                       workers: int) -> Iterator[list[list[Hypothesis]]]:
    """``search`` of each input, in input order, with up to ``workers`` running at once."""
    if workers <= 1:
        yield from map(search, inputs)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="search")
    try:
        yield from pool.map(search, inputs)
    finally:
        pool.shutdown(cancel_futures=True)  # after an error, start no further batch


def _length_sorted_batches(lengths: Sequence[int], max_tokens: int, max_sentences: int,
                           same_length: bool = False) -> list[np.ndarray]:
    """Sentence indices grouped, longest first, into batches of at most ``max_sentences`` sentences
    and ``max_tokens`` tokens, padding included (``lengths`` count EOS). A sentence longer than
    ``max_tokens`` gets a batch of its own. With ``same_length``, a batch never mixes lengths."""
    if not lengths:
        return []
    lengths_np = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths_np, kind="stable")  # (n,) longest first, ties in input order
    capped = np.minimum(lengths_np[order], max_tokens)
    if not same_length:
        return np.split(order, greedy_batch_ends(capped, max_tokens, max_sentences)[:-1])
    batches = []
    for run in np.split(np.arange(len(order)), np.flatnonzero(np.diff(lengths_np[order])) + 1):
        batches.extend(np.split(order[run], greedy_batch_ends(capped[run], max_tokens, max_sentences)[:-1]))
    return batches


def _one_line(text: str) -> str:
    """A translation always fills exactly one output line (byte pieces can decode to line breaks)."""
    return " ".join(text.splitlines())


def format_nbest(results: Sequence[Sequence[Translation]], start: int = 0) -> list[str]:
    """n-best lines ``index<TAB>score<TAB>hypothesis``: 0-based input line index (the first result is
    line ``start``), best first."""
    return [f"{i}\t{t.score:.4f}\t{t.text.replace(chr(9), ' ')}"
            for i, hyps in enumerate(results, start) for t in hyps]
