"""``benchmark.py decode``: beam-search speed and BLEU of a checkpoint on a local test set.

Times ``translate_lines`` (the path translate.py, evaluate.py and the trainer use: tokenization,
length-sorted batching, cached beam search, detokenization) over the whole test file, after the model
is loaded (load time reported apart). ``--verify`` decodes again with the uncached reference search,
which recomputes every prefix from scratch, and reports whether the hypotheses are identical.

``--backend ctranslate2`` exports the checkpoint to CTranslate2 (``--quantization``) in a temporary
directory and times it against mt's decoder in the same run, alternating the two, each pass over
the whole test set; it reports both speeds, the speed-up, both BLEU scores and the share of
identical lines. ``--backend transformers`` exports to Hugging Face Marian and decodes with
``MarianMTModel.generate`` alone (``--beam 1`` for the greedy check), reporting the share of lines
equal to mt's output at the same beam size.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
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
    parser.add_argument("--backend", default="mt", choices=["mt", "ctranslate2", "transformers"],
                        help="mt alone, or an export of the checkpoint timed and scored against mt in the same run")
    parser.add_argument("--quantization", default="none", choices=["none", "int8", "int8_float16", "float16"],
                        help="CTranslate2 weight type of the export (--backend ctranslate2)")


def _timed(fn, *args) -> tuple[list[str], float]:
    start = time.perf_counter()
    hyps = fn(*args)
    return hyps, time.perf_counter() - start


def _mt_decoder(models, tokenizer, cfg):
    from mt.decode.run import translate_lines

    return lambda lines: translate_lines(models, tokenizer, lines, cfg)


def _summary(name: str, hyps: list[str], runs: list[float], n: int, ref: list[str]) -> dict:
    from mt.eval.metrics import score_corpus

    seconds = statistics.median(runs)
    return {f"{name}_seconds": round(seconds, 2), f"{name}_runs_s": [round(t, 2) for t in runs],
            f"{name}_sent_per_s": round(n / seconds, 1), f"{name}_bleu": round(score_corpus(hyps, ref)["bleu"], 2)}


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
    if args.backend != "mt":
        return _compare(args, _mt_decoder(models, tokenizer, cfg), cfg, src, ref)
    decode = _mt_decoder(models, tokenizer, cfg)
    decode(src[:50])  # warm-up: allocator, kernels
    runs = [_timed(decode, src) for _ in range(args.repeats)]
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
            reference, ref_s = _timed(decode, src)
        finally:
            decode_run.beam_search = cached
        result["identical_to_uncached"] = reference == hyps
        result["uncached_seconds"] = round(ref_s, 2)
    return result


def _export_decoder(args: argparse.Namespace, cfg, directory: Path):
    """Export the checkpoint into ``directory`` and return a lines -> translations function."""
    from mt.config import ExportConfig
    from mt.export.run import export

    fmt = "ctranslate2" if args.backend == "ctranslate2" else "huggingface"
    export(ExportConfig(checkpoint=args.checkpoint, format=fmt, output=str(directory / fmt),
                        quantization=args.quantization))
    if args.backend == "ctranslate2":
        from mt.decode.ct2 import load_ct2, translate_nbest_ct2

        engine = load_ct2(directory / fmt, "cpu", threads=args.threads)
        return lambda lines: [hyps[0].text for hyps in translate_nbest_ct2(engine, lines, cfg)]
    from mt.data.tokenizer import Tokenizer
    from mt.export.hf import load_marian, marian_translate

    spm, marian = Tokenizer.from_file(directory / fmt / "source.spm"), load_marian(directory / fmt)
    return lambda lines: spm.decode_batch(marian_translate(
        marian, lines, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty,
        max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b))


def _compare(args: argparse.Namespace, mt_decode, cfg, src: list[str], ref: list[str]) -> dict:
    """Time mt and the export alternately (median of ``repeats`` passes each) and compare outputs."""
    with tempfile.TemporaryDirectory(prefix="mt-export-") as tmp:
        other = _export_decoder(args, cfg, Path(tmp))
        for decode in (mt_decode, other):
            decode(src[:50])  # warm-up
        mt_runs, other_runs = [], []
        for _ in range(args.repeats):
            mt_hyps, t = _timed(mt_decode, src)
            mt_runs.append(t)
            other_hyps, t = _timed(other, src)
            other_runs.append(t)
    name = args.backend
    result = {"workload": f"{args.split} ({len(src)} sentences)", "beam": args.beam, "threads": args.threads,
              "backend": name, "quantization": args.quantization if name == "ctranslate2" else "none",
              **_summary("mt", mt_hyps, mt_runs, len(src), ref),
              **_summary(name, other_hyps, other_runs, len(src), ref)}
    result["speedup"] = round(result["mt_seconds"] / result[f"{name}_seconds"], 2)
    result["bleu_diff"] = round(result[f"{name}_bleu"] - result["mt_bleu"], 2)
    result["identical_lines"] = round(sum(a == b for a, b in zip(mt_hyps, other_hyps, strict=True)) / len(src), 4)
    return result
