"""The PyTorch backend and the ``translate.py`` job: translate lines with loaded models, and files.

``translate_lines`` is the one entry to decoding: ``translate.py`` and ``evaluate.py`` call it, and so
does the trainer for validation and test BLEU, with its in-memory model. The work is split by job:
``mt.decode.load`` turns checkpoints into models, ``mt.decode.lines`` batches lines and keeps their
order for every backend, ``mt.decode.search`` holds the search strategies, and ``mt.decode.ct2`` is
the CTranslate2 backend.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mt.config import DecodeConfig, TranslateConfig
from mt.data.collate import collate_source
from mt.data.sources.multi import with_target
from mt.data.tokenizer import Tokenizer
from mt.decode.chunks import merge_chunks, shard_for, translate_resumable
from mt.decode.lines import CPU_MAX_BEAM_ROWS, MAX_SOURCE_TOKENS, Translation, format_nbest, translate_with
from mt.decode.load import load_for_inference
from mt.decode.search import Hypothesis, search_for
from mt.decode.targets import with_language_token
from mt.model.transformer import Transformer
from mt.utils.device import autocast
from mt.utils.dist import DistInfo, env_info, threads_per_process
from mt.utils.errors import MTError
from mt.utils.fingerprint import file_fingerprint
from mt.utils.languages import same_language
from mt.utils.logging import get_logger
from mt.utils.text import read_text_lines, resolve_path, write_text_lines

log = get_logger(__name__)


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
    strategy = search_for(decode_cfg)
    ids = dict(bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)

    def search(batch_ids: list[list[int]]) -> list[list[Hypothesis]]:
        src_tokens = collate_source(batch_ids, pad_id=tokenizer.pad_id,
                                    eos_id=tokenizer.eos_id).to(device)  # (batch, src_len)
        return strategy(models, src_tokens, decode_cfg, **ids)

    with _eval_mode(models), torch.inference_mode(), autocast(device, decode_cfg.precision):
        return translate_with(search, tokenizer, lines, max_source_tokens=limit,
                              max_tokens=decode_cfg.max_tokens, max_sentences=max_sentences, progress=progress)


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


def translate_file(cfg: TranslateConfig) -> dict[str, Any]:
    """The ``translate.py`` job: translate ``cfg.input`` into ``cfg.output`` (one line per input
    line, or n-best TSV lines when ``decode.nbest > 1``). Returns counts and speed.

    ``backend=ctranslate2`` decodes with an exported model directory (scripts/export.py) instead of
    mt checkpoints. From a file to a file, the work is done in chunks of ``cfg.chunk_lines`` that a
    rerun after a crash resumes from (see ``mt.decode.chunks``); stdin or stdout are translated in one
    piece. Under torchrun, or with ``cfg.shard``, this process translates its share of the chunks
    only; ``cfg.merge`` writes the output from the shares.
    """
    dist_info = env_info()
    shard = shard_for(cfg.shard, dist_info)
    files = cfg.input != "-" and cfg.output != "-"
    if (shard or cfg.merge) and not files:
        raise MTError("shard=, merge=true and torchrun need input=FILE and output=FILE (not stdin or stdout)")
    source, output = resolve_path(cfg.input, cfg.work_dir), resolve_path(cfg.output, cfg.work_dir)
    if files and not source.is_file():
        raise MTError(f"input file not found: {source}")
    model_dir = resolve_path(cfg.model_dir, cfg.work_dir) if cfg.backend == "ctranslate2" else None
    checkpoints = [resolve_path(p, cfg.work_dir) for p in cfg.checkpoint]
    if cfg.merge:  # no model is loaded: the chunks' settings record names the files
        settings = _output_settings(cfg, model_dir, checkpoints)
        return {"sentences": merge_chunks(source, output, settings, chunk_lines=cfg.chunk_lines),
                "output": cfg.output}

    threads, device = _process_resources(cfg, dist_info)
    if model_dir:
        from mt.decode.ct2 import load_ct2, translate_nbest_ct2

        engine = load_ct2(model_dir, device, threads=threads, intra_threads=cfg.ct2_intra_threads,
                          same_length=cfg.ct2_same_length)
        info = engine.info
        nbest = functools.partial(translate_nbest_ct2, engine, decode_cfg=cfg.decode)
        tokenizer = engine.tokenizer
    else:
        models, tokenizer, info = load_for_inference(checkpoints, device)
        nbest = functools.partial(translate_nbest, models, tokenizer, decode_cfg=cfg.decode)
    settings = _output_settings(cfg, model_dir, checkpoints)

    pairs, tokens = info.get("pairs") or [], tokenizer.language_tokens()
    if (cfg.tgt_lang and not (pairs or tokens) and info["tgt_lang"] != "?"
            and not same_language(info["tgt_lang"], cfg.tgt_lang)):  # zho, zh and cmn_Hans alike
        raise MTError(f"tgt_lang={cfg.tgt_lang}, but this model translates {info['src_lang']}-{info['tgt_lang']} only")

    translated = [0]  # lines this process translated (a shard's share)

    def translate(lines: Sequence[str], start: int, progress: bool | tqdm) -> list[str]:
        translated[0] += len(lines)
        lines = with_target(list(lines), pairs, cfg.tgt_lang, cfg.src_lang)  # data.pairs models: <2xx> tags
        if tokens:  # multi-target Marian models: >>xxx<< tokens
            lines = with_language_token(lines, tokens, cfg.tgt_lang)
        results = nbest(lines=lines, progress=progress)
        return format_nbest(results, start) if cfg.decode.nbest > 1 else [hyps[0].text for hyps in results]

    start = time.perf_counter()
    if files:
        n_lines = translate_resumable(source, output, translate, settings, chunk_lines=cfg.chunk_lines,
                                      progress=cfg.progress and dist_info.is_main, shard=shard)  # one bar
    else:
        lines = read_text_lines(cfg.input, cfg.work_dir)
        write_text_lines(cfg.output, translate(lines, 0, cfg.progress), cfg.work_dir)
        n_lines = len(lines)
    seconds = time.perf_counter() - start
    done = translated[0] if shard else n_lines
    speed = done / seconds if seconds > 0 else 0.0
    log.info("%s %d lines (%s-%s) in %.1f s, %.1f sentences/s", f"shard {shard} translated {done} of" if shard
             else "translated", n_lines, info["src_lang"], info["tgt_lang"], seconds, speed)
    return {"sentences": n_lines, "seconds": seconds, "sentences_per_second": speed,
            "output": cfg.output, **info}


def _output_settings(cfg: TranslateConfig, model_dir: Path | None, checkpoints: list[Path]) -> dict[str, Any]:
    """Everything that changes the output, for the chunks' settings record (``mt.decode.chunks``): a
    finished chunk is reused, or merged, only under equal settings."""
    try:
        identity = [file_fingerprint(model_dir / "model.bin")] if model_dir else [file_fingerprint(p) for p in checkpoints]
    except OSError as e:
        raise MTError(f"cannot read the model: {e.filename}: {e.strerror}") from None
    # tgt_lang picks the language tag or token of a multilingual model: it changes the output too.
    settings = {"backend": cfg.backend, "checkpoints": identity, "decode": asdict(cfg.decode), "tgt_lang": cfg.tgt_lang}
    if model_dir:  # batching by length changes an int8 model's lines (mt.decode.ct2)
        settings["ct2_same_length"] = cfg.ct2_same_length
    return settings


def _process_resources(cfg: TranslateConfig, info: DistInfo) -> tuple[int, str]:
    """CPU threads (0: the libraries' default) and device of this process: under torchrun, each
    process gets its share of the node's cores (``threads=0``) and its own GPU."""
    threads = cfg.threads or (threads_per_process() if info.distributed else 0)
    if threads:
        torch.set_num_threads(threads)
    device = cfg.decode.device
    if info.distributed and device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{info.local_rank % torch.cuda.device_count()}"  # more processes than GPUs share them
    return threads, device
