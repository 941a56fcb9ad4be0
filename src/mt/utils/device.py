"""Device and mixed-precision helpers shared by training and decoding."""

from __future__ import annotations

import contextlib

import torch

from mt.utils.errors import MTError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str | torch.device, local_rank: int = 0, *, key: str = "device") -> torch.device:
    """``auto`` is CUDA (GPU ``local_rank``) when available, else CPU; CUDA without a GPU is an
    MTError naming the config ``key``."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MTError(f"{key}={name} but no CUDA GPU is visible; use {key}=cpu or auto")
        return torch.device(name) if ":" in name else torch.device("cuda", local_rank)
    return torch.device(name)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16; fp32 runs as is. Weights stay fp32 (master weights for training)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])
