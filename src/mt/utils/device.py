"""Device and mixed-precision helpers shared by training and decoding."""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

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


# Attention kernels for batches whose shape changes every step. cuDNN's attention (which PyTorch may
# prefer for bf16/fp16 on recent GPUs) builds an execution plan per input shape: on an H100 with torch
# 2.11 each call then spent ~20 ms on the CPU, and a bf16 M30K-small step took 0.43 s against 0.026 s
# in fp32 (docs/benchmarks.md). Flash and memory-efficient attention have no such per-shape cost.
VARIABLE_SHAPE_SDPA = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16; fp32 runs as is. Weights stay fp32 (master weights for training).
    On CUDA it also keeps attention off the cuDNN kernels (see ``VARIABLE_SHAPE_SDPA``)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(torch.autocast(device_type=device.type, dtype=DTYPES[precision]))
    if device.type == "cuda":
        stack.enter_context(sdpa_kernel(VARIABLE_SHAPE_SDPA))
    return stack
