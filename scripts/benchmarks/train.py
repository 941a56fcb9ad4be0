"""``benchmark.py train``: training throughput of the real trainer on the M30K-small workload.

Builds the Trainer exactly as ``train.py experiment=multi30k_en_de`` does (same data preparation,
batches, model, loss, optimizer), runs a few warm-up updates, then as many updates as fit in
``--seconds`` and reports target tokens per second and model FLOP utilisation (MFU) against a GEMM
peak measured here, for the same precision, in the same process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="directory with train/val/test_2016_flickr .en/.de files")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time after warm-up")
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (trainer.device)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--compile", action="store_true", help="trainer.compile=true (torch.compile)")
    parser.add_argument("--loop", default="mt", choices=["mt", "plain"],
                        help="mt: the real trainer; plain: a textbook nn.Transformer loop on the same "
                        "batches, model shape and precision (the yardstick)")
    parser.add_argument("--cache-dir", default=str(REPO / "data" / "cache"), help="prepared-data cache")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.encoder_layers=6")


def gemm_peak_gflops(dtype: torch.dtype, seconds: float = 3.0, device: str = "cpu") -> float:
    """Best-of-several GFLOP/s of an (m x k) @ (k x n) matmul: the ceiling for MFU. On CPU 4096 x
    1024 x 1024; on a GPU, which needs far larger products to reach its peak, 8192 x 8192 x 8192."""
    m, k, n = (8192, 8192, 8192) if device.startswith("cuda") else (4096, 1024, 1024)
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        sync()
        best = max(best, 5 * 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def training_flops(cfg, vocab_size: int, src_tokens: int, tgt_tokens: int, src_len: float,
                   tgt_len: float) -> float:
    """Matmul FLOPs of forward + backward (3x forward) for a batch's real tokens."""
    d, f = cfg.d_model, cfg.ffn_dim
    enc = cfg.encoder_layers * (2 * (4 * d * d + 2 * d * f) + 4 * src_len * d)  # per source token
    dec = cfg.decoder_layers * (2 * (6 * d * d + 2 * d * f) + 2 * tgt_len * d + 4 * src_len * d)
    cross_kv = cfg.decoder_layers * 2 * 2 * d * d  # K/V of the source for cross-attention
    out = 2 * d * vocab_size
    return 3 * (src_tokens * (enc + cross_kv) + tgt_tokens * (dec + out))


def _config(args: argparse.Namespace, run_dir: Path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from mt.config import train_config
    from mt.utils.resolvers import register_resolvers

    register_resolvers()
    overrides = [
        "experiment=multi30k_en_de", f"data.local_dir={Path(args.data).resolve()}",
        f"data.cache_dir={args.cache_dir}", f"trainer.precision={args.precision}",
        f"trainer.threads={args.threads}", f"trainer.device={args.device}", f"trainer.max_tokens={args.max_tokens}",
        f"trainer.compile={str(args.compile).lower()}", "trainer.progress=false",
        f"run_dir={run_dir}", f"work_dir={REPO}", *args.overrides,
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    return train_config(OmegaConf.to_container(cfg, resolve=True))


def run(args: argparse.Namespace) -> dict:
    from mt.train.trainer import Trainer
    from mt.utils.device import DTYPES
    from mt.utils.logging import setup_logging

    setup_logging()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(args, Path(tmp))
        trainer = Trainer(cfg, Path(tmp))
        batches = trainer._batch_stream()
        step = (lambda b: trainer.train_step([b])) if args.loop == "mt" else plain_loop(trainer)
        for _ in range(args.warmup_steps):
            step(next(batches))
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        steps = src = tgt = 0
        flops = 0.0
        sync()
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            batch = next(batches)
            step(batch)
            steps, src, tgt = steps + 1, src + batch.num_src_tokens, tgt + batch.num_tgt_tokens
            flops += training_flops(cfg.model, trainer.tokenizer.vocab_size, batch.num_src_tokens,
                                    batch.num_tgt_tokens, batch.src_tokens.size(1), batch.tgt_in.size(1))
        sync()
        elapsed = time.perf_counter() - start
        trainer.close()
    peak = gemm_peak_gflops(DTYPES[trainer.precision], device=str(trainer.device))
    achieved = flops / elapsed / 1e9
    return {
        "workload": "M30K-small", "loop": args.loop, "device": _device_name(trainer.device),
        "precision": trainer.precision, "threads": args.threads, "compile": args.compile, "max_tokens": args.max_tokens, "steps": steps,
        "seconds": round(elapsed, 1), "tgt_tok_per_s": round(tgt / elapsed, 1),
        "src_tok_per_s": round(src / elapsed, 1), "achieved_gflops": round(achieved, 1),
        "peak_gflops": round(peak, 1), "mfu": round(achieved / peak, 3),
        "params_m": round(trainer.model.num_parameters() / 1e6, 2),
    }


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def plain_loop(trainer):
    """A textbook training step on the trainer's batches: ``nn.Transformer`` (same shape, post-norm,
    ReLU, dropout), tied embeddings, ``F.cross_entropy`` with label smoothing, AdamW as PyTorch ships
    it, gradient clipping; no fusion. What the brief calls "a plain nn.Transformer loop"."""
    from torch import nn
    from torch.nn import functional as F

    from mt.model.transformer import sinusoidal_positions

    cfg, tok, device = trainer.cfg.model, trainer.tokenizer, trainer.device
    embed = nn.Embedding(tok.vocab_size, cfg.d_model, padding_idx=tok.pad_id).to(device)
    core = nn.Transformer(cfg.d_model, cfg.n_heads, cfg.encoder_layers, cfg.decoder_layers, cfg.ffn_dim,
                          cfg.dropout, batch_first=True).to(device)
    positions = sinusoidal_positions(cfg.max_positions, cfg.d_model).to(device)
    params = [*embed.parameters(), *core.parameters()]
    optimizer = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.98), eps=1e-9)
    scale = cfg.d_model ** 0.5

    def step(batch) -> None:
        batch = batch.to(device)
        src, tgt_in = batch.src_tokens, batch.tgt_in
        with trainer.autocast():
            x = embed(src) * scale + positions[: src.size(1)]
            y = embed(tgt_in) * scale + positions[: tgt_in.size(1)]
            causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1), device=device)
            pad = src == tok.pad_id
            h = core(x, y, tgt_mask=causal, src_key_padding_mask=pad, memory_key_padding_mask=pad,
                     tgt_is_causal=True)
            logits = h @ embed.weight.t()
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), batch.tgt_out.reshape(-1),
                               ignore_index=tok.pad_id, label_smoothing=0.1, reduction="sum")
        (loss / batch.num_tgt_tokens).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()

    return step
