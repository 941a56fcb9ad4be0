"""What the benchmarks need to know about the device: names, precisions, timing, FLOP/s ceilings.

Two ceilings for model FLOP utilisation (MFU):

- the GEMM peak measured in the same run, for the same dtype and matmul settings (what this
  machine, driver and PyTorch actually deliver on one large matrix product);
- the vendor's dense peak of the card from its data sheet (``VENDOR_PEAK_TFLOPS``), the figure papers
  quote. It is only known for the GPUs in the table; ``--vendor-peak-tflops`` overrides it.
"""

from __future__ import annotations

import time

import torch

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
"""Benchmark precisions. ``tf32`` is the trainer's fp32 with TensorFloat-32 matmuls allowed; the
other three are ``trainer.precision`` values."""

VENDOR_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    # Dense (no 2:4 sparsity) tensor-core peaks from NVIDIA's data sheets; fp32 is the CUDA-core peak.
    # Keys are matched in order against torch.cuda.get_device_name(): more specific names first.
    "H100 PCIe": {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0},
    "H100 NVL": {"bf16": 835.0, "fp16": 835.0, "tf32": 418.0, "fp32": 60.0},
    "H100": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},  # SXM5 ("H100 80GB HBM3")
    "H200": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},  # the H100 SXM chip, more memory
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
}


def trainer_precision(precision: str) -> str:
    """The ``trainer.precision`` of a benchmark precision (``tf32`` trains in fp32)."""
    return "fp32" if precision == "tf32" else precision


def matmul_dtype(precision: str) -> torch.dtype:
    """The dtype the GEMMs of ``precision`` run in (tf32 matmuls take fp32 tensors)."""
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def set_matmul_precision(precision: str) -> None:
    """Allow TensorFloat-32 for fp32 matmuls and convolutions exactly when ``precision`` is tf32.

    Set explicitly both ways, because PyTorch's defaults differ by version (cuBLAS matmuls default
    to full fp32, cuDNN convolutions to tf32) and a benchmark labelled fp32 must not run tf32.
    """
    tf32 = precision == "tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def device_name(device: torch.device) -> str:
    """The GPU's marketing name, or ``cpu``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished all queued work (a no-op on CPU, where work is synchronous).

    GPU kernels run asynchronously: a timer read without this measures only how fast the host queued them.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def vendor_peak_tflops(name: str, precision: str) -> float | None:
    """The data-sheet dense peak of GPU ``name`` for ``precision``; None for a device not in the table."""
    for key, peaks in VENDOR_PEAK_TFLOPS.items():
        if key in name:
            return peaks.get(precision)
    return None


def gemm_peak_gflops(dtype: torch.dtype, seconds: float = 3.0, device: str | torch.device = "cpu",
                     shape: tuple[int, int, int] | None = None) -> float:
    """Best-of-several GFLOP/s of an (m x k) @ (k x n) matmul under the current matmul settings: the
    ceiling for MFU. ``shape`` (m, k, n) defaults to 4096 x 1024 x 1024 on CPU and, on a GPU, which
    needs far larger products to reach its peak, 8192 x 8192 x 8192."""
    device = torch.device(device)
    m, k, n = shape or ((8192, 8192, 8192) if device.type == "cuda" else (4096, 1024, 1024))
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    best, deadline = 0.0, time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        synchronize(device)
        best = max(best, 5 * 2 * m * k * n / (time.perf_counter() - start) / 1e9)
        if time.perf_counter() >= deadline:
            return best
