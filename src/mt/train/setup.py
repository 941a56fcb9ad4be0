"""Building what the trainer runs on: device, precision, prepared data, the model and its wrappers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from mt.config import ModelConfig, TrainConfig
from mt.data.prepare import PreparedData, load_prepared, prepare_data
from mt.model.transformer import Transformer
from mt.utils.dist import DistInfo, barrier, broadcast_object
from mt.utils.errors import MTError
from mt.utils.logging import get_logger

log = get_logger(__name__)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MTError("trainer.device=cuda but no CUDA GPU is visible; use trainer.device=cpu")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def autocast_context(device: torch.device, precision: str):
    """Autocast for bf16/fp16 (the model stays fp32: master weights and optimizer state in fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def check_precision(device: torch.device, precision: str) -> None:
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise MTError("trainer.precision=bf16 needs an Ampere or newer GPU; use trainer.precision=fp16")


def load_data(cfg: TrainConfig, info: DistInfo) -> PreparedData:
    """Rank 0 prepares (or reuses) the cached data; the other ranks wait, then open the same files."""
    directory = None
    if info.is_main:
        directory = prepare_data(cfg.data, cfg.tokenizer, Path(cfg.work_dir), progress=True)
    barrier()
    directory = broadcast_object(str(directory) if directory else None)
    return load_prepared(Path(directory))


def build_model(cfg: ModelConfig, data: PreparedData) -> Transformer:
    """The Transformer for this vocabulary (sizes and special ids passed as integers)."""
    return Transformer(cfg, vocab_size=data.tokenizer.vocab_size, pad_id=data.tokenizer.pad_id)


def wrap_model(model: nn.Module, *, device: torch.device, info: DistInfo, compile_model: bool):
    """DDP and torch.compile around the pure model. Returns (module to train, DDP module or None).

    DDP goes inside compile, as PyTorch recommends, so the compiled graph can be split at DDP's
    gradient buckets and communication overlaps the backward pass.
    """
    ddp = None
    wrapped: nn.Module = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
        wrapped = ddp
    if compile_model:
        wrapped = torch.compile(wrapped)
    return wrapped, ddp
