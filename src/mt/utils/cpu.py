"""The CPU cores this process may use, and how its memory is allocated (no torch import: data-preparation
workers load it)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask, not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# mallopt(3) parameters of glibc's malloc.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20
"""Blocks up to this size come from the heap and are reused after free (glibc's ceiling on 64-bit)."""
TRIM_THRESHOLD = (1 << 31) - 1
"""Free memory at the heap's top that glibc keeps instead of returning it to the kernel."""
TOP_PAD = 256 << 20
"""Extra bytes asked of the kernel each time the heap grows."""


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    By default glibc maps large blocks (above a threshold that grows to at most 32 MiB) straight from
    the kernel and unmaps them on free, and trims the heap's free top. A CPU training step allocates
    and frees hundreds of activation-sized tensors, so each step the kernel faults in and zeroes the
    same memory again: about a million page faults a minute on M30K-small. With fixed thresholds those
    blocks come from the heap and are reused; the process keeps its peak memory. Returns False where
    there is no glibc (the setting is then left alone)."""
    import ctypes

    if os.name != "posix":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # not glibc: musl and macOS have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
