"""Training metrics: running sums kept on the device between log lines, and TensorBoard logging on
rank 0 (a no-op everywhere else, so callers never test the rank)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from mt.utils.dist import all_reduce_sum, is_main
from mt.utils.logging import get_logger

log = get_logger(__name__)


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
    """Scalars, text and hyper-parameters into ``<run_dir>/tensorboard``.

    TensorBoard is imported, and the event file opened, at the first write on rank 0, not before: a
    trainer that never logs (the benchmarks, the GPU check) needs no ``tensorboard`` package. Where
    the package is missing, training goes on without TensorBoard files, after one warning.
    """

    def __init__(self, log_dir: str | Path, enabled: bool = True):
        self.log_dir = Path(log_dir)
        self._writer = None
        self._enabled = enabled and is_main()

    def _open(self):
        """The SummaryWriter, created on first use; None off rank 0, when disabled, or without tensorboard."""
        if self._writer is None and self._enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # tensorboard missing, or older than torch accepts
                self._enabled = False
                log.warning("no TensorBoard logs in %s: %s. The log lines keep the training figures; "
                            "`pip install tensorboard` to have the curves too", self.log_dir, e)
                return None
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        if (writer := self._open()) is not None:
            for key, value in values.items():
                writer.add_scalar(f"{prefix}/{key}", value, step)

    def text(self, tag: str, text: str, step: int) -> None:
        if (writer := self._open()) is not None:
            writer.add_text(tag, text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """One HParams row per run, so runs compare in TensorBoard's HParams table."""
        if (writer := self._open()) is not None:
            clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
            writer.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Close the event file; later writes are dropped."""
        self._enabled = False
        if self._writer is not None:
            self._writer.close()
            self._writer = None
