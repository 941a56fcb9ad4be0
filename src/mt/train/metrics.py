"""TensorBoard logging on rank 0; a no-op everywhere else, so callers never test the rank."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mt.utils.dist import is_main


class MetricsWriter:
    """Scalars, text and hyper-parameters into ``<run_dir>/tensorboard``."""

    def __init__(self, log_dir: str | Path, enabled: bool = True):
        self._writer = None
        if enabled and is_main():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def text(self, tag: str, text: str, step: int) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """One HParams row per run, so runs compare in TensorBoard's HParams table."""
        if self._writer is not None:
            clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
            self._writer.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
