"""``benchmark.py decode``: beam-search speed (and BLEU) of a checkpoint, or of a WMT-shaped model.

Times ``translate_nbest`` (the path translate.py, evaluate.py and the trainer use: tokenization,
length-sorted batching, cached beam search, detokenization) over the whole test file, after the model
is loaded (load time reported apart). ``--verify`` decodes again with the uncached reference search,
which recomputes every prefix from scratch, and reports whether the hypotheses are identical.

``--synthetic`` needs no checkpoint and no download: the 3,003 test sentences of the synthetic
WMT14-like corpus (newstest2014 has 3,003) through Transformer-base or -big with the corpus's 32k
vocabulary. Without ``--checkpoint`` the model is randomly initialised, and such a model rarely
predicts EOS: every hypothesis would run to the length limit, ``1.2 * source + 10`` tokens, about
twice the length of a real translation. So the output length is fixed instead (``--fixed-length``,
the default then): EOS is forbidden until, and forced at, ``ratio * source length`` tokens, where
``ratio`` is the target/source token ratio of the test split. Every sentence then decodes to about the
length of its reference, and the work per sentence is what a trained model would do: the figure
measures the search and the model, not how soon a given model learns to stop.

``--backend ctranslate2|transformers`` times an export of ``--checkpoint`` against mt's decoder in the
same run (benchmarks/decode_export.py); with ``--baseline TEACHER.pt`` mt's decoder runs the teacher, so
a distilled student's export is timed against its teacher.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmarks import synthetic
from benchmarks.common import BenchmarkError, log
from benchmarks.hardware import device_name, set_matmul_precision, synchronize

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="directory with the test files")
    source.add_argument("--synthetic", action="store_true",
                        help="the 3,003 test sentences of the synthetic WMT-like corpus (no download)")
    parser.add_argument("--checkpoint", help="checkpoint to decode with (required with --data; with "
                        "--synthetic a randomly initialised --model when omitted)")
    parser.add_argument("--model", default="transformer_base", choices=sorted(synthetic.EXPERIMENTS),
                        help="--synthetic without --checkpoint: the model to initialise")
    parser.add_argument("--fixed-length", action=argparse.BooleanOptionalAction, default=None,
                        help="decode every sentence to ratio x its source length (default: on for a random "
                        "model, off for a checkpoint)")
    parser.add_argument("--split", default="test_2016_flickr", help="--data: file prefix of the test set")
    parser.add_argument("--src-lang", default="en")
    parser.add_argument("--tgt-lang", default="de")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=8000, help="source tokens per batch")
    parser.add_argument("--sentences", type=int, help="decode only the first N test sentences")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported")
    parser.add_argument("--warmup-sentences", type=int, default=50, help="sentences decoded before timing")
    parser.add_argument("--verify", action="store_true", help="compare with the uncached reference search")
    parser.add_argument("--pairs", type=int, default=synthetic.DEFAULT_PAIRS, help="--synthetic: train pairs "
                        "of the corpus (its SentencePiece model is trained on them)")
    parser.add_argument("--vocab-size", type=int, default=32000, help="--synthetic: tokenizer.vocab_size")
    parser.add_argument("--cache-dir", default=str(REPO / "data" / "cache"), help="prepared-data cache")
    parser.add_argument("--backend", default="mt", choices=["mt", "ctranslate2", "transformers"],
                        help="mt alone, or an export of the checkpoint timed and scored against mt in the same run")
    parser.add_argument("--quantization", default="none", choices=["none", "int8", "int8_float16", "float16"],
                        help="CTranslate2 weight type of the export (--backend ctranslate2)")
    parser.add_argument("--ct2-intra-threads", type=int, default=1, help="--backend ctranslate2: threads per "
                        "batch; --threads // this many batches run at once (translate.py ct2_intra_threads)")
    parser.add_argument("--ct2-beam-rows", type=int, default=None, help="--backend ctranslate2 on CPU: "
                        "sentences x beam size per batch (default: mt.decode.ct2.CPU_MAX_BEAM_ROWS)")
    parser.add_argument("--baseline", help="--backend ctranslate2|transformers: time mt's decoder on this "
                        "checkpoint instead of --checkpoint (a teacher against its distilled student's export)")
    parser.add_argument("overrides", nargs="*", help="--synthetic: extra Hydra overrides (e.g. model.d_model=64)")


def _decode(models, tokenizer, lines, cfg) -> tuple[list, float]:
    from mt.decode.run import translate_nbest

    device = next(models[0].parameters()).device
    synchronize(device)
    start = time.perf_counter()
    hyps = translate_nbest(models, tokenizer, lines, cfg)
    synchronize(device)
    return hyps, time.perf_counter() - start


def _synthetic_setup(args: argparse.Namespace, device: torch.device):
    """Models, tokenizer, source and reference lines, and the target/source token ratio of the
    synthetic test split; the model is loaded from ``--checkpoint`` or randomly initialised."""
    from mt.config import train_config
    from mt.data.prepare import load_prepared, prepare_data
    from mt.decode.load import load_for_inference
    from mt.model import VocabInfo, build_model
    from mt.utils.compose import compose_config

    corpus = synthetic.synthetic_corpus(Path(args.cache_dir), args.pairs)
    overrides = [*synthetic.overrides(args.model, corpus, Path(args.cache_dir), args.vocab_size),
                 f"run_dir={REPO}", f"work_dir={REPO}", *args.overrides]
    cfg = train_config(compose_config("config", overrides))
    data = load_prepared(prepare_data(cfg.data, cfg.tokenizer, REPO, progress=False), cfg.data.src_lang,
                         cfg.data.tgt_lang)
    if args.checkpoint:
        models, tokenizer, _ = load_for_inference([args.checkpoint], device)
    else:
        torch.manual_seed(1)
        tokenizer = data.tokenizer
        models = [build_model(cfg.model, VocabInfo.from_tokenizer(tokenizer)).to(device).eval()]
    test = data.split("test")
    src_tokens, tgt_tokens = test.num_tokens()
    ratio = (tgt_tokens + len(test)) / (src_tokens + len(test))  # EOS included on both sides
    lines = data.text_path("test", cfg.data.src_lang).read_text(encoding="utf-8").splitlines()
    refs = data.text_path("test", cfg.data.tgt_lang).read_text(encoding="utf-8").splitlines()
    return models, tokenizer, lines, refs, ratio


def _setup(args: argparse.Namespace, device: torch.device):
    from mt.decode.load import load_for_inference

    if args.synthetic:
        return _synthetic_setup(args, device)
    if not args.checkpoint:
        raise BenchmarkError("--data needs --checkpoint (or use --synthetic for a random WMT-shaped model)")
    data = Path(args.data)
    lines = (data / f"{args.split}.{args.src_lang}").read_text(encoding="utf-8").splitlines()
    refs = (data / f"{args.split}.{args.tgt_lang}").read_text(encoding="utf-8").splitlines()
    models, tokenizer, _ = load_for_inference([args.checkpoint], device)
    return models, tokenizer, lines, refs, None


def run(args: argparse.Namespace) -> dict:
    from mt.config import DecodeConfig
    from mt.eval.metrics import score_corpus
    from mt.utils.device import resolve_device

    torch.set_num_threads(args.threads)
    set_matmul_precision(args.precision)  # fp32 means fp32: no TensorFloat-32 matmuls
    device = resolve_device(args.device, key="--device")
    start = time.perf_counter()
    models, tokenizer, src, ref, ratio = _setup(args, device)
    load_s = time.perf_counter() - start
    src, ref = src[: args.sentences], ref[: args.sentences]
    fixed = args.fixed_length if args.fixed_length is not None else (args.synthetic and not args.checkpoint)
    if fixed and ratio is None:
        raise BenchmarkError("--fixed-length needs --synthetic (the ratio comes from its test split)")
    # min_len above any limit forbids EOS until the length limit forces it: ratio x source tokens.
    lengths = dict(max_len_a=ratio, max_len_b=0, min_len=1 << 20) if fixed else {}
    cfg = DecodeConfig(beam_size=args.beam, precision=args.precision, max_tokens=args.max_tokens,
                       device=str(device), **lengths)
    if args.backend != "mt":
        if not args.checkpoint or device.type != "cpu":
            raise BenchmarkError("--backend needs --checkpoint and runs on the CPU (--device cpu)")
        from benchmarks.decode_export import compare, mt_decoder

        if args.backend == "ctranslate2" and args.ct2_beam_rows is None:
            from mt.decode.ct2 import CPU_MAX_BEAM_ROWS

            args.ct2_beam_rows = CPU_MAX_BEAM_ROWS

        if args.baseline:
            from mt.decode.load import load_for_inference

            models, tokenizer, _ = load_for_inference([args.baseline], device)
        result = compare(args, mt_decoder(models, tokenizer, cfg), cfg, src, ref)
        return {**result, "mt_checkpoint": args.baseline or args.checkpoint, "export_of": args.checkpoint}
    _decode(models, tokenizer, src[: args.warmup_sentences], cfg)  # warm-up: allocator, kernels
    runs = [_decode(models, tokenizer, src, cfg) for _ in range(args.repeats)]
    hyps = [sent[0] for sent in runs[0][0]]
    seconds = sorted(t for _, t in runs)[len(runs) // 2]
    out_tokens = sum(len(h.tokens) + 1 for h in hyps)  # + EOS, as decoded
    result = {
        "benchmark": "decode", "workload": _workload(args, len(src)), "device": device_name(device),
        "beam": args.beam, "precision": args.precision, "threads": args.threads, "fixed_length": fixed,
        "seconds": round(seconds, 2), "runs_s": [round(t, 2) for _, t in runs], "load_s": round(load_s, 2),
        "sent_per_s": round(len(src) / seconds, 1), "tgt_tok_per_s": round(out_tokens / seconds, 1),
        "mean_output_tokens": round(out_tokens / max(len(hyps), 1), 2),
        "mean_reference_tokens": round(sum(len(x) + 1 for x in tokenizer.encode_batch(ref)) / max(len(ref), 1), 2),
        "bleu": None if fixed else round(score_corpus([h.text for h in hyps], ref)["bleu"], 2),
        "torch": torch.__version__,
    }
    if args.verify:
        with _uncached_search():
            reference, ref_s = _decode(models, tokenizer, src, cfg)
        result["identical_to_uncached"] = [s[0].tokens for s in reference] == [h.tokens for h in hyps]
        result["uncached_seconds"] = round(ref_s, 2)
    log(f"decode benchmark ({result['workload']}, beam {args.beam}, {args.precision} on {result['device']}): "
        f"{result['sent_per_s']} sentences/s, {result['tgt_tok_per_s']:,.0f} target tokens/s, "
        f"{result['mean_output_tokens']} tokens per output (references {result['mean_reference_tokens']})")
    return result


@contextlib.contextmanager
def _uncached_search() -> Iterator[None]:
    """Every search strategy recomputes each prefix from scratch (the reference) for the duration."""
    import dataclasses

    from mt.decode.search import SEARCH

    cached = dict(SEARCH)
    SEARCH.update({name: dataclasses.replace(strategy, use_cache=False) for name, strategy in cached.items()})
    try:
        yield
    finally:
        SEARCH.update(cached)


def _workload(args: argparse.Namespace, sentences: int) -> str:
    if not args.synthetic:
        return f"{args.split} ({sentences} sentences)"
    model = Path(args.checkpoint).name if args.checkpoint else f"random {args.model}"
    return f"synthetic WMT test ({sentences} sentences), {model}"
