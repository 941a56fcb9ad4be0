"""``benchmark.py decode --backend ctranslate2|transformers``: an export of the checkpoint against mt.

The checkpoint is exported to CTranslate2 (``--quantization``) or Hugging Face Marian in a temporary
directory and timed against mt's decoder in the same run, alternating the two, each pass over the
whole test set; the result holds both speeds, the speed-up, both BLEU scores and the share of
identical lines. ``--backend transformers`` decodes with ``MarianMTModel.generate`` (``--beam 1`` for
the greedy check) and reports the share of lines equal to mt's output at the same beam size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _timed(fn, *args) -> tuple[list[str], float]:
    start = time.perf_counter()
    hyps = fn(*args)
    return hyps, time.perf_counter() - start


def mt_decoder(models, tokenizer, cfg):
    from mt.decode.run import translate_lines

    return lambda lines: translate_lines(models, tokenizer, lines, cfg)


def _summary(name: str, hyps: list[str], runs: list[float], n: int, ref: list[str]) -> dict:
    from mt.eval.metrics import score_corpus

    seconds = statistics.median(runs)
    return {f"{name}_seconds": round(seconds, 2), f"{name}_runs_s": [round(t, 2) for t in runs],
            f"{name}_sent_per_s": round(n / seconds, 1), f"{name}_bleu": round(score_corpus(hyps, ref)["bleu"], 2)}


def _export_decoder(args: argparse.Namespace, cfg, directory: Path):
    """Export the checkpoint into ``directory`` and return a lines -> translations function."""
    from mt.config import ExportConfig
    from mt.export.run import export

    fmt = "ctranslate2" if args.backend == "ctranslate2" else "huggingface"
    export(ExportConfig(checkpoint=args.checkpoint, format=fmt, output=str(directory / fmt),
                        quantization=args.quantization))
    if args.backend == "ctranslate2":
        from mt.decode.ct2 import load_ct2, translate_nbest_ct2

        engine = load_ct2(directory / fmt, "cpu", threads=args.threads, intra_threads=args.ct2_intra_threads)
        return lambda lines: [hyps[0].text for hyps in
                              translate_nbest_ct2(engine, lines, cfg, max_beam_rows=args.ct2_beam_rows)]
    from mt.data.tokenizer import Tokenizer
    from mt.export.hf import load_marian, marian_translate

    spm, marian = Tokenizer.from_file(directory / fmt / "source.spm"), load_marian(directory / fmt)
    return lambda lines: spm.decode_batch(marian_translate(
        marian, lines, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty,
        max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b))


def compare(args: argparse.Namespace, mt_decode, cfg, src: list[str], ref: list[str]) -> dict:
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
              **({"ct2_intra_threads": args.ct2_intra_threads, "ct2_beam_rows": args.ct2_beam_rows}
                 if name == "ctranslate2" else {}),
              **_summary("mt", mt_hyps, mt_runs, len(src), ref),
              **_summary(name, other_hyps, other_runs, len(src), ref)}
    result["speedup"] = round(result["mt_seconds"] / result[f"{name}_seconds"], 2)
    result["bleu_diff"] = round(result[f"{name}_bleu"] - result["mt_bleu"], 2)
    result["identical_lines"] = round(sum(a == b for a, b in zip(mt_hyps, other_hyps, strict=True)) / len(src), 4)
    return result
