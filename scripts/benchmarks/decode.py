"""``benchmark.py decode``: beam-search speed and BLEU of a checkpoint on a local test set.

Times ``translate_lines`` (the path translate.py, evaluate.py and the trainer use: tokenization,
length-sorted batching, cached beam search, detokenization) over the whole test file, after the model
is loaded (load time reported apart). ``--verify`` decodes again with the uncached reference search,
which recomputes every prefix from scratch, and reports whether the hypotheses are identical.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="directory with the test files")
    parser.add_argument("--checkpoint", required=True, help="checkpoint to decode with")
    parser.add_argument("--split", default="test_2016_flickr", help="file prefix of the test set")
    parser.add_argument("--src-lang", default="en")
    parser.add_argument("--tgt-lang", default="de")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=8000, help="source tokens per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported")
    parser.add_argument("--verify", action="store_true", help="compare with the uncached reference search")


def _decode(models, tokenizer, lines, cfg) -> tuple[list[str], float]:
    from mt.decode.run import translate_lines

    start = time.perf_counter()
    hyps = translate_lines(models, tokenizer, lines, cfg)
    return hyps, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict:
    import mt.decode.run as decode_run
    from mt.config import DecodeConfig
    from mt.decode.search import beam_search
    from mt.eval.metrics import score_corpus

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    src = (data / f"{args.split}.{args.src_lang}").read_text(encoding="utf-8").splitlines()
    ref = (data / f"{args.split}.{args.tgt_lang}").read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    models, tokenizer, _ = decode_run.load_for_inference([args.checkpoint], "cpu")
    load_s = time.perf_counter() - start
    cfg = DecodeConfig(beam_size=args.beam, precision=args.precision, max_tokens=args.max_tokens, device="cpu")
    _decode(models, tokenizer, src[:50], cfg)  # warm-up: allocator, kernels
    runs = [_decode(models, tokenizer, src, cfg) for _ in range(args.repeats)]
    hyps = runs[0][0]
    seconds = sorted(t for _, t in runs)[len(runs) // 2]
    out_tokens = sum(len(ids) + 1 for ids in tokenizer.encode_batch(hyps))  # + EOS, as decoded
    result = {
        "workload": f"{args.split} ({len(src)} sentences)", "beam": args.beam, "precision": args.precision,
        "threads": args.threads, "seconds": round(seconds, 2), "runs_s": [round(t, 2) for _, t in runs],
        "load_s": round(load_s, 2), "sent_per_s": round(len(src) / seconds, 1),
        "tgt_tok_per_s": round(out_tokens / seconds, 1), "bleu": round(score_corpus(hyps, ref)["bleu"], 2),
    }
    if args.verify:
        cached = decode_run.beam_search
        decode_run.beam_search = functools.partial(beam_search, use_cache=False)
        try:
            reference, ref_s = _decode(models, tokenizer, src, cfg)
        finally:
            decode_run.beam_search = cached
        result["identical_to_uncached"] = reference == hyps
        result["uncached_seconds"] = round(ref_s, 2)
    return result
