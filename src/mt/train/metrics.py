"""Training metrics: running sums kept on the device between log lines, and TensorBoard logging on
rank 0 (a no-op everywhere else, so callers never test the rank)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from mt.utils.dist import all_reduce_sum, is_main


class TrainMeter:
    """Sums of the per-update loss, nll and gradient norm between two log lines, on the device.

    ``add`` queues a tensor addition and never waits for the device; ``flush`` reads the sums once
    (one host sync per log interval, as torchtitan and fairseq's ``--log-interval`` do) and adds up
    the ranks' losses. Token and sentence counts are host integers from ``collate``.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(3, dtype=torch.float32, device=self.device)  # loss, nll, grad norm
        self.updates, self.lr, self.tokens, self.sentences = 0, 0.0, 0, 0
        self.start = time.perf_counter()

    def add(self, loss_sum: torch.Tensor, nll_sum: torch.Tensor, grad_norm: torch.Tensor, *, tokens: int,
            sentences: int, lr: float) -> None:
        """One applied update: this rank's summed loss and nll, the update's tokens over all ranks."""
        self.sums += torch.stack([loss_sum / tokens, nll_sum / tokens, grad_norm.float()])
        self.updates += 1
        self.lr += lr
        self.tokens += tokens
        self.sentences += sentences

    def flush(self) -> dict[str, float]:
        """Means per update since the last flush (loss and nll per target token, over all ranks) and
        throughput since then; resets. Every rank must call it (the losses are all-reduced)."""
        loss, nll, grad_norm = self.sums.tolist()
        loss, nll = all_reduce_sum([loss, nll])  # each rank holds its share of every update's loss
        n, elapsed = max(self.updates, 1), max(time.perf_counter() - self.start, 1e-9)
        out = {"loss": loss / n, "nll": nll / n, "grad_norm": grad_norm / n, "lr": self.lr / n,
               "tgt_tok_per_s": self.tokens / elapsed, "sent_per_s": self.sentences / elapsed}
        self.reset()
        return out


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
