"""Decoding with CTranslate2: ``translate.py backend=ctranslate2 model=DIR`` on a directory written by
``scripts/export.py format=ctranslate2``.

Lines go through the same path as mt's own decoder (``lines.translate_with``: empty lines kept, order
kept, sources cut to the model's length, length-sorted batches, detokenization by the checkpoint's
SentencePiece model); only the search of a batch is CTranslate2's. Its rules are mapped onto mt's:

* **Length penalty.** CTranslate2 ranks finished hypotheses by ``log_prob / length ** alpha``, mt by
  the GNMT ``log_prob / ((5 + length) / 6) ** alpha`` (length with EOS in both). We ask CTranslate2
  for all ``beam_size`` finished hypotheses with ``length_penalty=1`` (so that, like mt, a sentence
  is done once ``beam_size`` hypotheses have finished: with 0, CTranslate2 stops as soon as the best
  beam ends), undo its normalisation (``score * (length + 1)``) and rank them by mt's formula.
* **Maximum length.** mt gives a sentence at most ``floor(max_len_a * src_len + max_len_b)`` tokens
  (capped by ``max_positions - 1``) and then forces EOS; CTranslate2 has one limit per batch and,
  at it, ends hypotheses without EOS. A batch is decoded with the largest limit of its sentences;
  beam sentences that went on to one token before their own limit are decoded again with exactly
  that limit (greedy prefixes do not depend on the limit). Hypotheses that reach the limit are cut
  to it and scored again with EOS appended (``score_batch``), as mt's forced EOS scores them. What
  remains different: at the limit, mt ends every live beam while CTranslate2 ends the ``beam_size``
  best candidates, so the two can keep a different last hypothesis.
* **Forbidden tokens.** PAD and BOS are never generated; EOS not before ``decode.min_len`` tokens.
* **Strategy.** The one ``mt.decode.search.SEARCH`` would run (``search_name``): greedy, beam or
  sampling (``CT2_SEARCH``); a strategy CTranslate2 has no options for is refused, not run as another.
* **Sampling seed.** ``seed_sampling`` makes draws repeatable (``data.synthetic.seed`` per chunk, as
  ``torch.manual_seed`` for mt's decoder); seeded sampling then runs one batch at a time.

On CPU, batches run side by side on CTranslate2 workers (its ``inter_threads``), each with
``intra_threads`` threads (default 1): for a model of this size, one thread per batch and one batch
per core translated Multi30k more than twice as fast as all cores on one batch (docs/benchmarks.md).

With these, greedy search gives mt's tokens up to floating-point ties, and beam search too except
for the rare sentences whose search reaches the length limit or ends with more than ``beam_size``
hypotheses at its last step (CTranslate2 keeps its ``beam_size`` best by its own length norm).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mt.config import DecodeConfig
from mt.data.formats import (
    CT2_METADATA_FILE,
    CT2_SENTENCEPIECE_FILE,
    CT2_TARGET_SENTENCEPIECE_FILE,
    ct2_subword_models,
    is_ct2_dir,
)
from mt.data.tokenizer import Tokenizer
from mt.decode.lines import MAX_SOURCE_TOKENS, Translation, translate_with
from mt.decode.search import Hypothesis, max_output_lengths, normalized_score, search_for, search_name
from mt.utils.cpu import usable_cores
from mt.utils.errors import MTError
from mt.utils.extras import require

# The names the converter writes (``mt.data.formats`` holds the layout, for every format).
SENTENCEPIECE_FILE = CT2_SENTENCEPIECE_FILE
TARGET_SENTENCEPIECE_FILE = CT2_TARGET_SENTENCEPIECE_FILE
METADATA_FILE = CT2_METADATA_FILE


CPU_MAX_BEAM_ROWS = 128
"""Beam rows (sentences x beam size) per batch on CPU: 32 sentences at beam 4. With one batch per
worker, smaller batches than mt's keep the workers evenly loaded to the end of the input. On Multi30k
test, 32 sentences were about 2% faster than 64 for a 6+1 d 192 int8 student (median of three rounds)
and as fast for a 3+3 d 256 model (docs/benchmarks.md, "Distilling from the recipe's teacher")."""


class CT2Model:
    """A loaded CTranslate2 export: the translator, its SentencePiece model and the export metadata."""

    def __init__(self, translator: Any, tokenizer: Tokenizer, meta: dict[str, Any], device: str,
                 workers: int = 1, one_worker: Callable[[], Any] | None = None, same_length: bool = False):
        self.translator, self.tokenizer, self.meta, self.device = translator, tokenizer, meta, device
        self.workers = workers
        """How many batches the translator runs at once (its ``inter_threads``)."""
        self.same_length = same_length
        """Batches hold sources of one length only (``padding_changes_results``)."""
        self.one_worker = one_worker
        """Builds a fresh translator of the same model with one worker and all the threads
        (``seed_sampling``)."""
        self.pieces = [tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)]
        """The target vocabulary, by id."""
        self.piece_ids = {piece: i for i, piece in enumerate(self.pieces)}
        self.src_pieces = [tokenizer.source_piece(i) for i in range(tokenizer.src_vocab_size)]
        """The source vocabulary, by id (the target's, for a joint vocabulary)."""
        self.max_positions = int(meta["max_positions"])

    @property
    def info(self) -> dict[str, Any]:
        """What ``translate_file`` logs and returns, as for checkpoints."""
        return {"model": self.meta.get("path"), "src_lang": self.meta["src_lang"],
                "tgt_lang": self.meta["tgt_lang"], "step": self.meta.get("step", 0),
                "pairs": list(self.meta.get("pairs") or [])}


def load_ct2(model_dir: str | Path, device: str = "auto", *, threads: int = 0, intra_threads: int = 1,
             compute_type: str = "default", same_length: bool | None = None) -> CT2Model:
    """Load an exported directory. On CPU, ``threads`` (0: every core this process may run on) are
    shared out as ``threads // intra_threads`` workers of ``intra_threads`` threads, each translating
    its own batch. ``compute_type`` ``default`` keeps the type the model was exported with (e.g. int8).
    ``same_length`` (None: where ``padding_changes_results``) batches only sources of one length."""
    ct2 = require("ctranslate2", "ct2", "backend=ctranslate2")
    model_dir = Path(model_dir)
    meta_path = model_dir / METADATA_FILE
    if not is_ct2_dir(model_dir) or not meta_path.is_file():
        raise MTError(f"{model_dir} is not a CTranslate2 export of an mt model (it needs model.bin and "
                      f"{METADATA_FILE}); write one with: python scripts/export.py checkpoint=PATH "
                      f"format=ctranslate2 output={model_dir}")
    meta = {**json.loads(meta_path.read_text(encoding="utf-8")), "path": str(model_dir)}
    tokenizer = Tokenizer.from_bytes(*ct2_subword_models(model_dir))
    if device == "auto":
        device = "cuda" if ct2.get_cuda_device_count() > 0 else "cpu"
    device, _, index = device.partition(":")  # cuda:1 (one GPU per torchrun process) is cuda, index 1
    if threads <= 0:
        threads = usable_cores()
    if intra_threads < 1:
        raise MTError(f"ct2_intra_threads={intra_threads} must be at least 1")
    workers = max(1, threads // intra_threads) if device == "cpu" else 1

    def new_translator(inter_threads: int, intra: int) -> Any:
        torch_threads = torch.get_num_threads()
        translator = ct2.Translator(str(model_dir), device=device, device_index=int(index or 0),
                                    compute_type=compute_type, inter_threads=inter_threads, intra_threads=intra)
        # Creating the translator can leave this thread's OpenMP team at one thread, which would slow
        # any PyTorch work done afterwards in the process (mt's own decoder timed against it, say).
        torch.set_num_threads(torch_threads)
        return translator
    translator = new_translator(workers, min(intra_threads, threads))
    if same_length is None:
        same_length = padding_changes_results(translator.compute_type)
    return CT2Model(translator, tokenizer, meta, device, workers, one_worker=lambda: new_translator(1, threads),
                    same_length=same_length)


def padding_changes_results(compute_type: str) -> bool:
    """Whether a sentence's translation can change when it is padded in a batch: with CTranslate2's int8
    kernels (``int8``, ``int8_float32``, ...) it can. On Multi30k test2016, an int8 export translated 12
    of 1,000 sentences differently in random batches of 1 to 16 than alone, always sentences shorter than
    their batch's longest; the same model in float32, and sentences batched with others of their own
    length, gave the same words in every case (docs/serve.md). Batches of one source length make a
    sentence's translation independent of the sentences it is batched with."""
    return compute_type.startswith("int8")


def seed_sampling(model: CT2Model, seed: int) -> None:
    """Start the draws of ``decode.sampling`` from ``seed``, as ``torch.manual_seed`` does for mt's
    decoder: the same seed, lines and settings give the same samples.

    CTranslate2 seeds each worker thread's generator once, from the seed set last, when the thread
    first draws: a translator that has drawn before ignores a new seed, so a fresh one is built. It has
    one worker with all the threads: with several, which worker (and generator) gets a batch is a race."""
    require("ctranslate2", "ct2", "backend=ctranslate2").set_random_seed(seed)
    model.translator = None  # the old workers end before the new ones start
    model.translator = model.one_worker()
    model.workers = 1


def translate_nbest_ct2(model: CT2Model, lines: list[str], decode_cfg: DecodeConfig, *,
                        progress: bool | tqdm = False,
                        max_beam_rows: int = CPU_MAX_BEAM_ROWS) -> list[list[Translation]]:
    """Up to ``decode_cfg.nbest`` translations of every line, best first, in input order: the same
    contract as ``mt.decode.run.translate_nbest``. On CPU a batch holds at most ``max_beam_rows``
    sentences x beam size."""
    if decode_cfg.precision != "fp32":
        raise MTError(f"decode.precision={decode_cfg.precision} does not apply to backend=ctranslate2: the "
                      f"weight type is chosen at export (quantization=int8|int8_float16|float16)")
    search_options(decode_cfg)  # a strategy this backend cannot run fails before any work
    limit = min(MAX_SOURCE_TOKENS, model.max_positions) - 1  # room for EOS
    max_sentences = None if model.device == "cuda" else max(1, max_beam_rows // decode_cfg.beam_size)
    return translate_with(lambda batch: search_batch(model, batch, decode_cfg), model.tokenizer, lines,
                          max_source_tokens=limit, max_tokens=decode_cfg.max_tokens,
                          max_sentences=max_sentences, progress=progress, workers=model.workers,
                          same_length=model.same_length)


CT2_SEARCH: dict[str, Callable[[DecodeConfig], dict[str, Any]]] = {
    "greedy": lambda cfg: {"beam_size": 1, "num_hypotheses": 1},
    # Every finished hypothesis, ranked again by mt's length penalty (see the module docstring).
    "beam": lambda cfg: {"beam_size": cfg.beam_size, "num_hypotheses": cfg.beam_size},
    # CTranslate2's topk 0 is also the whole distribution.
    "sample": lambda cfg: {"beam_size": 1, "num_hypotheses": 1, "sampling_topk": cfg.sampling_topk,
                           "sampling_temperature": cfg.sampling_temperature},
}
"""``translate_batch`` options of the strategies of ``mt.decode.search.SEARCH`` that CTranslate2 runs,
by the same keys."""


def search_options(cfg: DecodeConfig) -> dict[str, Any]:
    """``translate_batch`` options of the strategy ``SEARCH`` decodes ``cfg`` with (``search_name``),
    so that both backends run the same search; an MTError for one CTranslate2 cannot run."""
    name = search_name(cfg)
    if name not in CT2_SEARCH:
        raise MTError(f"backend=ctranslate2 cannot run the search strategy {name!r} that the decode settings "
                      f"choose (decode.sampling, decode.beam_size, ...); it runs {', '.join(sorted(CT2_SEARCH))}. "
                      f"Decode with backend=mt (data.synthetic.backend=mt for a translated corpus)")
    return CT2_SEARCH[name](cfg)


def search_batch(model: CT2Model, src_ids: list[list[int]], cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Hypotheses of one batch (source ids without EOS, which CTranslate2 appends), best first."""
    src_lens = torch.tensor([len(ids) + 1 for ids in src_ids])  # with EOS, as mt counts them
    limits = max_output_lengths(src_lens, cfg.max_len_a, cfg.max_len_b, model.max_positions - 1).tolist()
    results = _search_under_limits(model, src_ids, limits, cfg)
    _end_at_limit(model, src_ids, results, limits, cfg.length_penalty)
    return [sorted(hyps, key=lambda h: -h.score)[:cfg.nbest] for hyps in results]


def _search_under_limits(model: CT2Model, src_ids: list[list[int]], limits: list[int],
                         cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Search every sentence as if alone under its own length limit. The batch runs under the largest
    limit; a beam search that went on to one token before a sentence's own (smaller) limit could
    have ended differently under it, so those sentences are searched again, the same way, under
    theirs (greedy prefixes do not depend on the limit: they are cut later). Which strategy is which
    is mt's own rule: ``search_for(cfg).limit_independent``."""
    top = max(limits)
    results = _translate(model, src_ids, cfg, top)
    if not search_for(cfg).limit_independent:
        redo = [i for i, (hyps, limit) in enumerate(zip(results, limits, strict=True))
                if limit < top and max(len(h.tokens) for h in hyps) >= limit - 1]
        if redo:
            again = _search_under_limits(model, [src_ids[i] for i in redo], [limits[i] for i in redo], cfg)
            for i, hyps in zip(redo, again, strict=True):
                results[i] = hyps
    return results


def _end_at_limit(model: CT2Model, src_ids: list[list[int]], results: list[list[Hypothesis]],
                  limits: list[int], alpha: float) -> None:
    """Where mt's search forces EOS: cut hypotheses that reached their sentence's limit to it and
    score them with EOS appended (CTranslate2 ends them without EOS), in place."""
    at_limit = [(i, j) for i, hyps in enumerate(results) for j, h in enumerate(hyps) if len(h.tokens) >= limits[i]]
    if not at_limit:
        return
    targets = [results[i][j].tokens[:limits[i]] for i, j in at_limit]
    scored = model.translator.score_batch([[model.src_pieces[t] for t in src_ids[i]] for i, _ in at_limit],
                                          [[model.pieces[t] for t in tokens] for tokens in targets],
                                          max_input_length=0)
    for (i, j), tokens, result in zip(at_limit, targets, scored, strict=True):
        log_prob = float(sum(result.log_probs))  # the target tokens and EOS
        results[i][j] = Hypothesis(tokens, normalized_score(log_prob, len(tokens) + 1, alpha), log_prob)


def _translate(model: CT2Model, src_ids: list[list[int]], cfg: DecodeConfig,
               max_len: int) -> list[list[Hypothesis]]:
    """One ``translate_batch`` call with at most ``max_len`` target tokens; every finished
    hypothesis of each sentence, ranked by mt's length-normalised score."""
    tok = model.tokenizer
    results = model.translator.translate_batch(
        [[model.src_pieces[i] for i in ids] for ids in src_ids], **search_options(cfg), length_penalty=1.0,
        max_decoding_length=max(max_len, 1), min_decoding_length=min(cfg.min_len, max(max_len, 1)),
        suppress_sequences=[[model.pieces[tok.pad_id]], [model.pieces[tok.bos_id]]],
        max_input_length=0, return_scores=True, no_repeat_ngram_size=cfg.no_repeat_ngram_size,
    )
    out = []
    for result in results:
        hyps = []
        for pieces, score in zip(result.hypotheses, result.scores, strict=True):
            tokens = [model.piece_ids[p] for p in pieces]
            # CTranslate2 divided by length ** 1.0, EOS counted (except for hypotheses cut at
            # the length limit, which _end_at_limit scores again).
            log_prob = score * (len(tokens) + 1)
            hyps.append(Hypothesis(tokens, normalized_score(log_prob, len(tokens) + 1, cfg.length_penalty),
                                   log_prob))
        out.append(sorted(hyps, key=lambda h: -h.score))
    return out
