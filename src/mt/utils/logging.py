"""Rank-aware logging: rank 0 logs INFO to the console and to ``<run_dir>/train.log``; other ranks
only log warnings and errors, so a multi-GPU run reads like a single-process one."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | None = None, level: int = logging.INFO) -> None:
    """Configure the ``mt`` logger once per process (idempotent)."""
    logger = logging.getLogger("mt")
    # torchrun's RANK, read directly: importing mt.utils.dist would load torch (seconds, ~185 MiB)
    # into processes that only prepare data.
    rank = int(os.environ.get("RANK", 0))
    logger.setLevel(level if rank == 0 else logging.WARNING)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter(_FORMAT if rank == 0 else f"[rank {rank}] {_FORMAT}", "%H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if log_file is not None and rank == 0:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(fmt)
        logger.addHandler(file_handler)


def get_logger(name: str) -> logging.Logger:
    """A child of the ``mt`` logger (``name`` is usually ``__name__``)."""
    return logging.getLogger(name if name.startswith("mt") else f"mt.{name}")
