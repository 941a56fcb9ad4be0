"""From checkpoints to text: load models for inference, translate lines, translate files.

``translate_lines`` is the one entry to decoding: ``translate.py`` and ``evaluate.py`` call it, and so
does the trainer for validation and test BLEU, with its in-memory model.

Input lines are encoded once, sorted by length (longest first, so a batch that does not fit in
memory fails at once, not at the end) and cut into batches of at most ``decode.max_tokens`` source
tokens, padding included; results are put back in input order. Lines that are empty (or only
whitespace) translate to empty lines without touching the model. Sources longer than
``min(model.max_positions, MAX_SOURCE_TOKENS)`` tokens (EOS included) are cut to that length, with
one warning per call giving how many lines were cut.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mt.checkpoint import CheckpointError, load_checkpoint, tensor_to_bytes
from mt.config import ConfigError, DecodeConfig, ModelConfig, TranslateConfig, from_dict
from mt.data.batching import greedy_batch_ends
from mt.data.collate import collate_source
from mt.data.download import DataError
from mt.data.tokenizer import Tokenizer
from mt.decode.chunks import translate_resumable
from mt.decode.search import Hypothesis, beam_search, greedy_search
from mt.model.transformer import Transformer
from mt.utils.device import autocast, resolve_device
from mt.utils.errors import MTError
from mt.utils.io import atomic_open
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


def load_for_inference(
    paths: Sequence[str | Path], device: str | torch.device = "auto"
) -> tuple[list[Transformer], Tokenizer, dict[str, Any]]:
    """Load one checkpoint, or several to ensemble, as eval-mode models on ``device``.

    Returns the models, the tokenizer stored in the (first) checkpoint, and an info dict with
    ``checkpoints``, ``src_lang``, ``tgt_lang``, ``vocab`` and ``step`` (of the first checkpoint).
    Ensembled checkpoints must share the tokenizer and the language pair.
    """
    if not paths:
        raise MTError("no checkpoint given: use checkpoint=PATH (or checkpoint=[A,B] to ensemble)")
    target = resolve_device(device, key="decode.device")
    models: list[Transformer] = []
    first: tuple[Path, dict[str, Any]] | None = None
    for path in map(Path, paths):
        state = load_checkpoint(path, map_location="cpu")
        meta = _inference_meta(state, path)
        if first is None:
            first = (path, meta)
        else:
            _check_compatible(first, (path, meta))
        models.append(_build_model(state, meta, path).to(target).eval())
        del state
    assert first is not None
    path, meta = first
    try:
        tokenizer = Tokenizer.from_bytes(meta["tokenizer"])
    except (DataError, MTError) as e:
        raise CheckpointError(f"{path}: the stored tokenizer cannot be loaded ({e})") from None
    info = {"checkpoints": [str(p) for p in paths], "src_lang": meta["src_lang"],
            "tgt_lang": meta["tgt_lang"], "vocab": meta["vocab"], "step": meta["step"]}
    return models, tokenizer, info


def _inference_meta(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The parts of a checkpoint that decoding needs besides the weights, checked."""
    missing = [key for key in ("vocab", "tokenizer") if key not in state]
    if missing:
        raise CheckpointError(f"{path} has no {' or '.join(missing)} entry, so it cannot translate; "
                              f"use a checkpoint written by train.py")
    step = state.get("step", state.get("trainer", {}).get("step", 0))
    return {"vocab": dict(state["vocab"]), "tokenizer": tensor_to_bytes(state["tokenizer"]["model"]),
            "src_lang": state.get("src_lang", "?"), "tgt_lang": state.get("tgt_lang", "?"), "step": step}


def _check_compatible(first: tuple[Path, dict[str, Any]], other: tuple[Path, dict[str, Any]]) -> None:
    """Ensemble members must agree on the vocabulary (probabilities are averaged per token id)."""
    (a, meta_a), (b, meta_b) = first, other
    if meta_a["tokenizer"] != meta_b["tokenizer"] or meta_a["vocab"] != meta_b["vocab"]:
        raise MTError(f"cannot ensemble {a} and {b}: they use different vocabularies (their SentencePiece "
                      f"models differ); ensemble only checkpoints trained on the same prepared data")
    pair_a, pair_b = (meta_a["src_lang"], meta_a["tgt_lang"]), (meta_b["src_lang"], meta_b["tgt_lang"])
    if pair_a != pair_b:
        raise MTError(f"cannot ensemble {a} ({'-'.join(pair_a)}) and {b} ({'-'.join(pair_b)}): "
                      f"they translate different language pairs")


def _build_model(state: dict[str, Any], meta: dict[str, Any], path: Path) -> Transformer:
    try:
        cfg = from_dict(ModelConfig, state["model_config"], prefix="model.")
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: unusable model_config ({e})") from None
    model = Transformer(cfg, meta["vocab"]["size"], meta["vocab"]["pad_id"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        first_line = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: the weights do not match its model_config ({first_line[:200]})") from None
    return model


def translate_lines(
    models: Sequence[Transformer], tokenizer: Tokenizer, lines: Sequence[str], decode_cfg: DecodeConfig,
    *, progress: bool = False,
) -> list[str]:
    """The best translation of every line, in input order (see ``translate_nbest``).

    This is what validation calls with the trainer's in-memory model: pass the plain ``Transformer``
    (not a DDP wrapper); nothing is loaded or compiled per call.
    """
    return [hyps[0].text for hyps in translate_nbest(models, tokenizer, lines, decode_cfg, progress=progress)]


def translate_nbest(
    models: Sequence[Transformer], tokenizer: Tokenizer, lines: Sequence[str], decode_cfg: DecodeConfig,
    *, progress: bool | tqdm = False,
) -> list[list[Translation]]:
    """Up to ``decode_cfg.nbest`` translations of every line, best first, in input order.

    ``models`` are loaded models (one, or several to ensemble) on one device; they are put in eval
    mode for the call and restored afterwards. An empty line gets one empty translation (score 0).
    ``progress`` shows a tqdm bar (sentences/s) on stderr, or advances the given bar.
    """
    if not models:
        raise ValueError("translate needs at least one model")
    device = next(models[0].parameters()).device
    limit = min(MAX_SOURCE_TOKENS, *(m.cfg.max_positions for m in models)) - 1  # room for EOS
    max_sentences = None if device.type == "cuda" else max(1, CPU_MAX_BEAM_ROWS // decode_cfg.beam_size)

    def search(batch_ids: list[list[int]]) -> list[list[Hypothesis]]:
        src_tokens = collate_source(batch_ids, pad_id=tokenizer.pad_id,
                                    eos_id=tokenizer.eos_id).to(device)  # (batch, src_len)
        return _search(models, src_tokens, decode_cfg, tokenizer)

    with _eval_mode(models), torch.inference_mode(), autocast(device, decode_cfg.precision):
        return translate_with(search, tokenizer, lines, max_source_tokens=limit,
                              max_tokens=decode_cfg.max_tokens, max_sentences=max_sentences, progress=progress)


SearchFn = Callable[[list[list[int]]], list[list[Hypothesis]]]
"""Searches one batch: source ids (without EOS) of each sentence -> its hypotheses, best first."""


def translate_with(
    search: SearchFn, tokenizer: Tokenizer, lines: Sequence[str], *, max_source_tokens: int,
    max_tokens: int, max_sentences: int | None, progress: bool | tqdm = False, workers: int = 1,
) -> list[list[Translation]]:
    """The line handling every decoding backend shares: encode the non-empty lines, cut sources to
    ``max_source_tokens`` (EOS excluded; one warning), sort by length into batches of at most
    ``max_tokens`` tokens and ``max_sentences`` sentences (None: no cap), ``search`` each batch,
    detokenize, and put the results back in input order (empty lines get one empty translation).
    With ``workers`` > 1, that many batches are searched at once on threads (for a ``search`` that
    releases the GIL)."""
    todo = [i for i, line in enumerate(lines) if line.strip()]
    ids = tokenizer.encode_batch([lines[i] for i in todo]) if todo else []
    too_long = sum(len(x) > max_source_tokens for x in ids)
    if too_long:
        log.warning("%d input line(s) longer than %d tokens were truncated to their first %d tokens",
                    too_long, max_source_tokens, max_source_tokens)
        ids = [x[:max_source_tokens] for x in ids]
    results: list[list[Translation]] = [[Translation("", 0.0, 0.0, [])] for _ in lines]
    batches = _length_sorted_batches([len(x) + 1 for x in ids], max_tokens, max_sentences or len(ids))
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


def _search(models: Sequence[Transformer], src_tokens: torch.Tensor, cfg: DecodeConfig,
            tokenizer: Tokenizer) -> list[list[Hypothesis]]:
    common = dict(bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                  length_penalty=cfg.length_penalty, max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b,
                  min_len=cfg.min_len, no_repeat_ngram_size=cfg.no_repeat_ngram_size)
    if cfg.beam_size == 1:
        return greedy_search(models, src_tokens, **common)
    return beam_search(models, src_tokens, beam_size=cfg.beam_size, nbest=cfg.nbest, **common)


def _length_sorted_batches(lengths: Sequence[int], max_tokens: int, max_sentences: int) -> list[np.ndarray]:
    """Sentence indices grouped, longest first, into batches of at most ``max_sentences`` sentences
    and ``max_tokens`` tokens, padding included (``lengths`` count EOS). A sentence longer than
    ``max_tokens`` gets a batch of its own."""
    if not lengths:
        return []
    lengths_np = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths_np, kind="stable")  # (n,) longest first, ties in input order
    ends = greedy_batch_ends(np.minimum(lengths_np[order], max_tokens), max_tokens, max_sentences)
    return np.split(order, ends[:-1])


def _one_line(text: str) -> str:
    """A translation always fills exactly one output line (byte pieces can decode to line breaks)."""
    return " ".join(text.splitlines())


@contextlib.contextmanager
def _eval_mode(models: Sequence[torch.nn.Module]) -> Iterator[None]:
    """Eval mode (no dropout) for the duration; the trainer gets its model back in train mode."""
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(models, was_training, strict=True):
            m.train(training)


def resolve_path(path: str | Path, work_dir: str | Path = ".") -> Path:
    """``path`` relative to ``work_dir`` (the directory the command was started from) unless absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(work_dir) / p


def decode_utf8_lines(data: bytes, name: str) -> list[str]:
    """Split UTF-8 ``data`` into lines on ``\\n`` only (as ``wc -l`` counts them; a final line
    break is optional, a trailing ``\\r`` and a leading byte-order mark are dropped). Invalid UTF-8
    raises MTError naming ``name`` and the 1-based line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise MTError(f"{name}, line {line}: invalid UTF-8 (byte 0x{data[e.start]:02x}); the input must be "
                      f"UTF-8 text (convert it first, e.g. iconv -f LATIN1 -t UTF-8)") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_text_lines(path: str, work_dir: str | Path = ".") -> list[str]:
    """The lines of text file ``path`` (``-`` reads stdin), see ``decode_utf8_lines``."""
    if path == "-":
        return decode_utf8_lines(sys.stdin.buffer.read(), "<stdin>")
    file = resolve_path(path, work_dir)
    if not file.is_file():
        raise MTError(f"input file not found: {file}")
    return decode_utf8_lines(file.read_bytes(), str(file))


def write_text_lines(path: str, lines: Sequence[str], work_dir: str | Path = ".") -> None:
    """Write ``lines`` to ``path`` atomically (a crash leaves no half-written file); ``-`` is stdout."""
    text = "".join(line + "\n" for line in lines)
    if path == "-":
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    with atomic_open(resolve_path(path, work_dir), "w", encoding="utf-8") as f:
        f.write(text)


def format_nbest(results: Sequence[Sequence[Translation]], start: int = 0) -> list[str]:
    """n-best lines ``index<TAB>score<TAB>hypothesis``: 0-based input line index (the first result is
    line ``start``), best first."""
    return [f"{i}\t{t.score:.4f}\t{t.text.replace(chr(9), ' ')}"
            for i, hyps in enumerate(results, start) for t in hyps]


def translate_file(cfg: TranslateConfig) -> dict[str, Any]:
    """The ``translate.py`` job: translate ``cfg.input`` into ``cfg.output`` (one line per input
    line, or n-best TSV lines when ``decode.nbest > 1``). Returns counts and speed.

    ``backend=ctranslate2`` decodes with an exported model directory (scripts/export.py) instead of
    mt checkpoints. From a file to a file, the work is done in chunks of ``cfg.chunk_lines`` that a
    rerun after a crash resumes from (see ``mt.decode.chunks``); stdin or stdout are translated in one
    piece.
    """
    if cfg.backend == "ctranslate2":
        from mt.decode.ct2 import load_ct2, translate_nbest_ct2

        model_dir = resolve_path(cfg.model_dir, cfg.work_dir)
        engine = load_ct2(model_dir, cfg.decode.device, intra_threads=cfg.ct2_intra_threads)
        info = engine.info
        nbest = functools.partial(translate_nbest_ct2, engine, decode_cfg=cfg.decode)
        identity = [_file_identity(model_dir / "model.bin")]
    else:
        checkpoints = [resolve_path(p, cfg.work_dir) for p in cfg.checkpoint]
        models, tokenizer, info = load_for_inference(checkpoints, cfg.decode.device)
        nbest = functools.partial(translate_nbest, models, tokenizer, decode_cfg=cfg.decode)
        identity = [_file_identity(p) for p in checkpoints]

    def translate(lines: Sequence[str], start: int, progress: bool | tqdm) -> list[str]:
        results = nbest(lines=lines, progress=progress)
        return format_nbest(results, start) if cfg.decode.nbest > 1 else [hyps[0].text for hyps in results]

    start = time.perf_counter()
    if cfg.input != "-" and cfg.output != "-":
        source = resolve_path(cfg.input, cfg.work_dir)
        if not source.is_file():
            raise MTError(f"input file not found: {source}")
        settings = {"backend": cfg.backend, "checkpoints": identity, "decode": asdict(cfg.decode)}
        n_lines = translate_resumable(source, resolve_path(cfg.output, cfg.work_dir), translate, settings,
                                      chunk_lines=cfg.chunk_lines, progress=cfg.progress)
    else:
        lines = read_text_lines(cfg.input, cfg.work_dir)
        write_text_lines(cfg.output, translate(lines, 0, cfg.progress), cfg.work_dir)
        n_lines = len(lines)
    seconds = time.perf_counter() - start
    speed = n_lines / seconds if seconds > 0 else 0.0
    log.info("translated %d lines (%s-%s) in %.1f s, %.1f sentences/s", n_lines, info["src_lang"],
             info["tgt_lang"], seconds, speed)
    return {"sentences": n_lines, "seconds": seconds, "sentences_per_second": speed,
            "output": cfg.output, **info}


def _file_identity(path: Path) -> list:
    """Path, size and modification time: a checkpoint rewritten in place (``last.pt``) differs."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]
