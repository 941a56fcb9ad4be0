"""Building the translated corpus of ``data.source=backtranslate`` / ``distill`` (``data.synthetic``).

``build_synthetic`` runs the source's ``SyntheticJob`` before the data is prepared: it checks the
input (no empty lines; for back-translation, text in the target language), checks that the models
translate the right direction and that their vocabulary covers the text, and translates the input
file in resumable chunks (``mt.decode.chunks``) with a progress bar, by the fastest backend here
(``synthetic.backend``): a CTranslate2 export directory among ``synthetic.models`` is translated by
CTranslate2; so is one checkpoint (or Marian directory) when CTranslate2 is installed and decoding
runs on CPU, converted once to int8 into the corpus's cache directory (several times mt's PyTorch
decoder there); otherwise mt's decoder on ``decode.device``, several checkpoints as an ensemble. A
finished corpus is reused by every later run with the same digests.

Under torchrun every rank translates its share of the chunks (chunk i is rank i % world size's), with
its share of the node's cores, and the corpus is the one a single process writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import torch
from tqdm import tqdm

from mt.config import DataConfig
from mt.data.errors import DataError
from mt.data.formats import is_ct2_dir, model_format
from mt.data.sources import source_for
from mt.data.sources.synthetic import (
    BacktranslateSource,
    DistillSource,
    SyntheticJob,
    SyntheticSource,
    synthetic_backend,
)
from mt.data.text_files import read_lines
from mt.data.tokenizer import Tokenizer
from mt.decode.chunks import shard_for, translate_resumable
from mt.decode.ct2 import load_ct2, seed_sampling, translate_nbest_ct2
from mt.decode.ct2_convert import export_ctranslate2
from mt.decode.load import load_for_inference
from mt.decode.run import translate_nbest
from mt.utils.device import resolve_device
from mt.utils.dist import env_info, threads_per_process
from mt.utils.languages import same_language
from mt.utils.logging import get_logger

log = get_logger(__name__)

MAX_UNK_RATE = 0.01
"""A model whose tokenizer turns more than this share of the input's pieces into ``<unk>`` or byte
pieces was trained on other text (another script, another pair): refused."""
_SAMPLE_LINES = 2000
CT2_DIR = "ct2-int8"
"""The CTranslate2 conversion of the job's checkpoint, inside the job's cache directory."""


def build_synthetic(data_cfg: DataConfig, work_dir: Path, *, progress: bool = True, wait: bool = True) -> Path | None:
    """Translate what ``data.source`` needs, unless it is already built; returns the translations'
    path, or None for a source that translates nothing.

    Under torchrun, each rank translates its chunks; with ``wait``, it returns once the whole corpus
    is written (by the rank that finishes last, or by this one), else when its own chunks are done."""
    source = source_for(data_cfg, work_dir)
    if not isinstance(source, SyntheticSource):
        return None
    job = source.job()
    if job.done():
        log.info("reusing the translated corpus %s", job.output)
        return job.output
    job.directory.mkdir(parents=True, exist_ok=True)
    if isinstance(source, DistillSource) and not job.input.is_file():
        tmp = job.input.with_name(f".{job.input.name}.tmp-{os.getpid()}")
        lines = source.write_input(tmp)
        os.replace(tmp, job.input)
        log.info("distillation: %d training sources written to %s", lines, job.input)
    check_input(job.input)
    if isinstance(source, BacktranslateSource):
        check_language(job.input, source)
    info = env_info()
    shard = shard_for(None, info)
    with _torch_threads(threads_per_process() if info.distributed else 0):
        translate, backend = _translator(job, data_cfg.synthetic)
        settings = {"models": [str(m) for m in job.models], "decode": dataclasses.asdict(data_cfg.synthetic.decode),
                    "seed": data_cfg.synthetic.seed, "backend": backend}
        log.info("%s: translating %s (%s -> %s) with %s (%s)%s", source.kind, job.input, job.src_lang, job.tgt_lang,
                 ", ".join(map(str, job.models)), backend, f", chunks of shard {shard}" if shard else "")
        lines = translate_resumable(job.input, job.output, translate, settings, shard=shard, wait=wait,
                                    chunk_lines=data_cfg.synthetic.chunk_lines, progress=progress)
    if job.done():
        log.info("%s: %d lines translated into %s", source.kind, lines, job.output)
    return job.output


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's CPU threads set to ``threads`` for the duration (0: unchanged)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_input(path: Path) -> None:
    """Empty lines (nothing to translate, or an empty target) are an error naming the first few."""
    empty = [n for n, line in enumerate(read_lines(path), start=1) if not line.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        raise DataError(f"{path}: {len(empty)} empty line(s) (line {shown}); remove them first, "
                        f"e.g. grep -v '^[[:space:]]*$'")


def _trigrams(lines: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for line in lines:
        text = f" {line.lower()} "
        counts.update(text[i:i + 3] for i in range(len(text) - 2))
    return counts


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def check_language(mono: Path, source: BacktranslateSource) -> None:
    """Back-translation needs target-language text: the monolingual file's character trigrams must be
    closer to the parallel data's target side than to its source side."""
    pairs = list(islice(source.base.pairs("train"), _SAMPLE_LINES))
    src, tgt = _trigrams(s for s, _ in pairs), _trigrams(t for _, t in pairs)
    text = _trigrams(islice(read_lines(mono), _SAMPLE_LINES))
    to_src, to_tgt = _cosine(text, src), _cosine(text, tgt)
    if to_src > to_tgt:
        cfg = source.cfg
        raise DataError(f"data.synthetic.mono={mono} reads like the source language {cfg.src_lang!r} (trigram "
                        f"similarity {to_src:.2f}) more than the target {cfg.tgt_lang!r} ({to_tgt:.2f}); "
                        f"back-translation needs {cfg.tgt_lang} text")


def check_models(job: SyntheticJob, pair: tuple[str, str], tokenizer: Tokenizer) -> None:
    """The models translate the job's direction (however its languages are spelt: ``eng``, ``zho``),
    and their vocabulary covers its input."""
    same = same_language(pair[0], job.src_lang) and same_language(pair[1], job.tgt_lang)
    if "?" not in pair and not same:
        raise DataError(f"data.synthetic.models translate {pair[0]}->{pair[1]}, but this job needs "
                        f"{job.src_lang}->{job.tgt_lang} ({job.models[0]})")
    rate = uncovered_share(tokenizer, islice(read_lines(job.input), _SAMPLE_LINES))
    if rate > MAX_UNK_RATE:
        raise DataError(f"data.synthetic.models: {rate:.1%} of the input's pieces are <unk> or UTF-8 byte pieces "
                        f"to {job.models[0]}'s tokenizer: its vocabulary does not match this data")


def uncovered_share(tokenizer: Tokenizer, lines: Iterable[str]) -> float:
    """The share of the source pieces of ``lines`` that the vocabulary lacks: ``<unk>``, and the UTF-8
    byte pieces (``<0xE4>``) that byte fallback spells unknown characters with, so that an English
    vocabulary with byte fallback does not pass Chinese text as covered."""
    processor = tokenizer.source.processor  # the source model: its ids are encode's
    ids = [i for line in lines for i in tokenizer.encode(line)]
    uncovered = sum(i == tokenizer.unk_id or processor.is_byte(i) for i in ids)
    return uncovered / max(1, len(ids))


Translate = Callable[[Sequence[str], int, "bool | tqdm"], list[str]]


def converted(job: SyntheticJob, syn) -> Path | None:
    """The job's one checkpoint (or Marian directory) as a CTranslate2 int8 model in the job's cache
    directory, converted on first use; None where ``syn.backend`` and this machine choose mt's decoder
    (``synthetic_backend``, the rule that names the corpus)."""
    if synthetic_backend(syn) == "mt":
        one_on_cpu = len(job.models) == 1 and resolve_device(
            syn.decode.device, key="data.synthetic.decode.device").type == "cpu"
        if syn.backend == "auto" and one_on_cpu:  # auto chose mt: CTranslate2 is not installed
            log.info("on CPU, CTranslate2 translates several times faster than mt's decoder: "
                     "pip install -e '.[ct2]' and data.synthetic.backend=auto converts the checkpoint")
        return None
    if len(job.models) > 1:
        raise DataError("data.synthetic.backend=ctranslate2 converts one checkpoint; an ensemble of "
                        f"{len(job.models)} translates with backend=mt (or auto)")
    target = job.directory / CT2_DIR
    if not is_ct2_dir(target):
        models, tokenizer, info = load_for_inference(job.models, "cpu")
        tmp = target.with_name(f".{CT2_DIR}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        export_ctranslate2(models[0], tokenizer, info, tmp, "int8")
        try:
            os.replace(tmp, target)
        except OSError:  # under torchrun every rank converts, and the first rename stays
            if not is_ct2_dir(target):
                shutil.rmtree(target, ignore_errors=True)  # an incomplete directory left by a crash
                os.replace(tmp, target)
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s to CTranslate2 int8 in %s", job.models[0], target)
    return target


def _translator(job: SyntheticJob, syn) -> tuple[Translate, str]:
    """``(lines, first line index, progress) -> translations`` with the job's models, and the name of
    the backend that translates."""
    exported = [m for m in job.models if Path(m).exists() and model_format(m) == "ctranslate2"] or \
        [c for c in [converted(job, syn)] if c]
    if exported:
        if len(job.models) > 1:
            raise DataError("data.synthetic.models: a CTranslate2 export translates alone (no ensembles)")
        engine = load_ct2(exported[0], syn.decode.device, threads=torch.get_num_threads())
        tokenizer, pair = engine.tokenizer, (engine.info["src_lang"], engine.info["tgt_lang"])
        nbest = functools.partial(translate_nbest_ct2, engine, decode_cfg=syn.decode)
        reseed = functools.partial(seed_sampling, engine)
        backend = f"ctranslate2 ({engine.meta.get('quantization', '?')})"
    else:
        models, tokenizer, info = load_for_inference(job.models, syn.decode.device)
        pair = (info["src_lang"], info["tgt_lang"])
        nbest = functools.partial(translate_nbest, models, tokenizer, decode_cfg=syn.decode)
        reseed = torch.manual_seed
        backend = "mt"
    check_models(job, pair, tokenizer)

    def translate(lines: Sequence[str], start: int, progress: bool | tqdm) -> list[str]:
        if syn.decode.sampling:
            reseed(syn.seed + start)  # the same draws when a chunk is translated again
        return [hyps[0].text for hyps in nbest(lines=list(lines), progress=progress)]
    return translate, backend
