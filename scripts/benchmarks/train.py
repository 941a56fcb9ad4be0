"""``benchmark.py train``: training throughput of the real trainer, and of a plain loop beside it.

Two workloads:

- ``--data DIR``: M30K-small, built as ``train.py experiment=multi30k_en_de`` builds it (same data
  preparation, model, loss, optimizer), with the recipe's later changes undone (``M30K_SMALL``);
- ``--synthetic``: WMT shapes without a download: Transformer-base or -big (``--model``) on the
  synthetic WMT14-like corpus of ``benchmarks.synthetic`` with a joint 32k SentencePiece vocabulary.

The Trainer is built from the composed config, runs ``--warmup-steps`` updates, then as many updates
as fit in ``--seconds``. Reported: target tokens per second and model FLOP utilisation (MFU), against
the GEMM peak measured in the same process for the same precision and against the card's data-sheet
peak (``benchmarks.hardware``). ``--loop plain`` runs the yardstick of ``benchmarks.plain_loop`` on the
same batches instead of mt's ``Trainer.train_step``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmarks import hardware as hw
from benchmarks import synthetic
from benchmarks.common import BenchmarkError, log

REPO = Path(__file__).resolve().parents[2]
MODELS = ("transformer_small", "transformer_base", "transformer_big")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="M30K-small: directory with Multi30k train/val/test_2016_flickr .en/.de files")
    source.add_argument("--synthetic", action="store_true", help="WMT shapes: a synthetic WMT14-like corpus "
                        "(no download), 32k vocabulary")
    parser.add_argument("--model", choices=MODELS, help="model config (default: transformer_small with --data; "
                        "with --synthetic transformer_base, or transformer_big, each with its WMT14 recipe)")
    parser.add_argument("--precision", default="fp32", choices=hw.PRECISIONS,
                        help="tf32: fp32 with TensorFloat-32 matmuls (GPUs); the others are trainer.precision")
    parser.add_argument("--loop", default="mt", choices=["mt", "plain"],
                        help="mt: the real trainer; plain: the textbook loop of benchmarks/plain_loop.py on the "
                        "same batches, model shape, dropout, optimizer and precision (the yardstick)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time after warm-up")
    parser.add_argument("--warmup-steps", type=int, default=10, help="updates before the clock starts")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (trainer.device)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (trainer.threads)")
    parser.add_argument("--max-tokens", type=int, help="tokens per batch, padding included (default 4096 with "
                        "--data, 8192 with --synthetic)")
    parser.add_argument("--update-freq", type=int, default=1, help="batches per update (trainer.update_freq)")
    parser.add_argument("--compile", action="store_true", help="trainer.compile=true (torch.compile)")
    parser.add_argument("--pairs", type=int, default=synthetic.DEFAULT_PAIRS, help="synthetic train pairs")
    parser.add_argument("--vocab-size", type=int, default=32000, help="synthetic: tokenizer.vocab_size")
    parser.add_argument("--peak-seconds", type=float, default=3.0, help="time spent measuring the GEMM peak")
    parser.add_argument("--peak-shape", type=_shape, help="M,K,N of the GEMM that measures the peak (default "
                        "4096,1024,1024 on CPU, 8192,8192,8192 on a GPU)")
    parser.add_argument("--vendor-peak-tflops", type=float,
                        help="the card's dense peak for this precision (default: from the table in "
                        "benchmarks/hardware.py, by device name)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after timing, profile N more updates with torch.profiler: the operators with "
                        "the most self time go to stderr and into the result")
    parser.add_argument("--prepare-only", action="store_true",
                        help="prepare the data (and build the trainer), then stop: no training")
    parser.add_argument("--cache-dir", default=str(REPO / "data" / "cache"), help="prepared-data cache")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.encoder_layers=6")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        m, k, n = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not three integers M,K,N") from None
    return m, k, n


def training_flops(cfg, vocab_size: int, src_tokens: int, tgt_tokens: int, src_len: float,
                   tgt_len: float) -> float:
    """Matmul FLOPs of forward + backward (3x forward) for a batch's real tokens.

    ``src_len``/``tgt_len`` are the padded lengths the attention scores are computed over. About 1.3
    GFLOP per target token for Transformer-big with a 32k vocabulary at WMT lengths.
    """
    d, f = cfg.d_model, cfg.ffn_dim
    enc = cfg.encoder_layers * (2 * (4 * d * d + 2 * d * f) + 4 * src_len * d)  # per source token
    dec = cfg.decoder_layers * (2 * (6 * d * d + 2 * d * f) + 2 * tgt_len * d + 4 * src_len * d)
    cross_kv = cfg.decoder_layers * 2 * 2 * d * d  # K/V of the source for cross-attention
    out = 2 * d * vocab_size
    return 3 * (src_tokens * (enc + cross_kv) + tgt_tokens * (dec + out))


# M30K-small is a fixed workload: every throughput figure in docs/benchmarks.md was measured on it. The
# Multi30k recipe has since moved on (BPE, 2048-token batches, a 30-minute budget); these keep the
# workload where it was (unigram 8k; --max-tokens defaults to 4096; a step schedule, dropout 0.1 throughout).
M30K_SMALL = ("tokenizer.model_type=unigram", "trainer.budget_min=0", "trainer.max_steps=800",
              "trainer.budget_dropout=null")


def _overrides(args: argparse.Namespace, run_dir: Path) -> list[str]:
    if args.synthetic:
        corpus = synthetic.synthetic_corpus(Path(args.cache_dir), args.pairs)
        workload = synthetic.overrides(args.model, corpus, Path(args.cache_dir), args.vocab_size)
    else:
        workload = ["experiment=multi30k_en_de", *M30K_SMALL, f"data.local_dir={Path(args.data).resolve()}",
                    f"data.cache_dir={args.cache_dir}", *([f"model={args.model}"] if args.model else [])]
    return [*workload, f"trainer.precision={hw.trainer_precision(args.precision)}", f"trainer.threads={args.threads}",
            f"trainer.device={args.device}", f"trainer.max_tokens={args.max_tokens}",
            f"trainer.update_freq={args.update_freq}", f"trainer.compile={str(args.compile).lower()}",
            "trainer.progress=false", f"run_dir={run_dir}", f"work_dir={REPO}", *args.overrides]


def _config(args: argparse.Namespace, run_dir: Path):
    from mt.config import train_config
    from mt.utils.compose import compose_config

    return train_config(compose_config("config", _overrides(args, run_dir)))


def _batch_stream(trainer) -> Iterator:
    """The trainer's training batches, in its order (both loops consume the same stream)."""
    return trainer.batch_stream()


def _timed_updates(trainer, step, batches: Iterator, args: argparse.Namespace) -> dict:
    """Run ``step`` for ``--warmup-steps`` updates, then for ``--seconds``; the device is synchronised
    before the clock starts and before it stops, so queued GPU work is counted."""
    cfg, vocab = trainer.cfg, trainer.tokenizer.vocab_size
    for _ in range(args.warmup_steps):
        step([next(batches) for _ in range(args.update_freq)])
    hw.synchronize(trainer.device)
    steps = src = tgt = 0
    flops = 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        update = [next(batches) for _ in range(args.update_freq)]
        step(update)
        steps += 1
        for b in update:
            src, tgt = src + b.num_src_tokens, tgt + b.num_tgt_tokens
            flops += training_flops(cfg.model, vocab, b.num_src_tokens, b.num_tgt_tokens, b.src_tokens.size(1),
                                    b.tgt_in.size(1))
    hw.synchronize(trainer.device)
    return {"steps": steps, "seconds": time.perf_counter() - start, "src": src, "tgt": tgt, "flops": flops}


def run(args: argparse.Namespace) -> dict:
    from mt.train.run import tune_process
    from mt.train.trainer import Trainer
    from mt.utils.logging import setup_logging

    setup_logging()
    args.model = args.model or ("transformer_base" if args.synthetic else None)
    if args.synthetic and args.model not in synthetic.EXPERIMENTS:
        raise BenchmarkError(f"--synthetic trains {' or '.join(synthetic.EXPERIMENTS)}, not --model {args.model}")
    args.max_tokens = args.max_tokens or (8192 if args.synthetic else 4096)
    torch.set_num_threads(args.threads)
    hw.set_matmul_precision(args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(args, Path(tmp))
        if args.compile and args.loop == "plain":
            raise BenchmarkError("--compile applies to mt's loop only; the plain loop is never compiled")
        started = time.perf_counter()
        trainer = Trainer(cfg, Path(tmp))
        tune_process(trainer)  # a process of its own, like train.py: both loops get the same allocator
        setup_s = time.perf_counter() - started
        if args.prepare_only:
            trainer.close()
            return {"benchmark": "train", "prepared": str(trainer.data.directory), "setup_s": round(setup_s, 1),
                    "vocab_size": trainer.tokenizer.vocab_size, "train_pairs": len(trainer.train_set)}
        if args.loop == "mt":
            def step(batches):
                trainer.train_step(batches)
        else:
            from benchmarks.plain_loop import plain_loop
            step = plain_loop(trainer)
        batches = _batch_stream(trainer)
        timed = _timed_updates(trainer, step, batches, args)
        profile = _profile(trainer, step, batches, args) if args.profile else None
        trainer.close()
    result = _result(args, trainer, timed, setup_s)
    if profile is not None:
        result["profile"] = profile
    return result


def _profile(trainer, step, batches: Iterator, args: argparse.Namespace, top: int = 15) -> list[dict]:
    """The ``top`` operators by self time over ``--profile`` updates (device time on a GPU), with their
    share of the total: where the step's time goes."""
    from torch.profiler import ProfilerActivity, profile

    cuda = trainer.device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with profile(activities=activities) as prof:
        for _ in range(args.profile):
            step([next(batches) for _ in range(args.update_freq)])
        hw.synchronize(trainer.device)
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")]
    total = sum(getattr(e, key) for e in events) or 1.0
    rows = sorted(events, key=lambda e: getattr(e, key), reverse=True)[:top]
    log(prof.key_averages().table(sort_by=key, row_limit=top))
    return [{"op": e.key, "self_ms_per_update": round(getattr(e, key) / 1e3 / args.profile, 2),
             "share": round(getattr(e, key) / total, 3), "calls_per_update": e.count / args.profile} for e in rows]


def _result(args: argparse.Namespace, trainer, timed: dict, setup_s: float) -> dict:
    elapsed, device = timed["seconds"], trainer.device
    peak = hw.gemm_peak_gflops(hw.matmul_dtype(args.precision), seconds=args.peak_seconds, device=device,
                            shape=args.peak_shape) / 1e3
    achieved = timed["flops"] / elapsed / 1e12
    name = hw.device_name(device)
    vendor = args.vendor_peak_tflops or hw.vendor_peak_tflops(name, args.precision)
    workload = f"synthetic WMT, {args.model}" if args.synthetic else "M30K-small"
    result = {
        "benchmark": "train", "workload": workload, "loop": args.loop, "device": name,
        "precision": args.precision, "compile": args.compile, "threads": args.threads,
        "max_tokens": args.max_tokens, "update_freq": args.update_freq,
        "prefetch_batches": trainer.prefetch_batches, "steps": timed["steps"],
        "seconds": round(elapsed, 2), "tgt_tok_per_s": round(timed["tgt"] / elapsed, 1),
        "src_tok_per_s": round(timed["src"] / elapsed, 1),
        "gflop_per_tgt_token": float(f"{timed['flops'] / max(timed['tgt'], 1) / 1e9:.4g}"),
        "achieved_tflops": round(achieved, 4), "measured_peak_tflops": round(peak, 4),
        "mfu": round(achieved / peak, 3), "vendor_peak_tflops": vendor,
        "mfu_vendor": round(achieved / vendor, 3) if vendor else None,
        "params_m": round(trainer.model.num_parameters() / 1e6, 2), "vocab_size": trainer.tokenizer.vocab_size,
        "setup_s": round(setup_s, 1), "torch": torch.__version__,
    }
    log(f"train benchmark ({workload}, {args.loop} loop, {args.precision} on {name}): "
        f"{result['tgt_tok_per_s']:,.0f} target tokens/s over {timed['steps']} updates; "
        f"{achieved:.3g} TFLOP/s = MFU {result['mfu']:.2f} of the measured {peak:.3g}"
        + (f", {result['mfu_vendor']:.2f} of the data sheet's {vendor:g}" if vendor else ""))
    return result
