"""What a training step does when it goes wrong: skipped non-finite updates, counted until they say
the run diverged, and out-of-memory errors that say what to change. Both name the last good
checkpoint, which a failed step never touches."""

from __future__ import annotations

from pathlib import Path

import torch

from mt.config import TrainerConfig
from mt.data.collate import Batch
from mt.utils.errors import MTError
from mt.utils.logging import get_logger

log = get_logger(__name__)

MIN_LOSS_SCALE = 1e-4
"""fp16: an overflow that halves the loss scale below this counts as a bad step (as in fairseq)."""


class BadSteps:
    """Counts updates skipped for non-finite gradients in a row; fp16 overflows do not count while
    the loss scale is still above ``MIN_LOSS_SCALE`` (the scaler is doing its job)."""

    def __init__(self, tc: TrainerConfig, scaler: torch.amp.GradScaler, last_checkpoint: Path):
        self.max_bad_steps, self.scaler, self.last_checkpoint = tc.max_bad_steps, scaler, last_checkpoint
        self.in_a_row = 0

    def check(self, applied: bool, step: int) -> None:
        """After update ``step + 1``: raise MTError once ``trainer.max_bad_steps`` were skipped in a row."""
        if applied:
            self.in_a_row = 0
            return
        if self.scaler.is_enabled() and self.scaler.get_scale() >= MIN_LOSS_SCALE:
            log.info("step %d: fp16 gradients overflowed, update skipped; loss scale now %g", step + 1,
                     self.scaler.get_scale())
            return
        self.in_a_row += 1
        log.warning("step %d: non-finite gradients, update skipped (%d in a row)", step + 1, self.in_a_row)
        if self.in_a_row >= self.max_bad_steps:
            raise MTError(f"{self.in_a_row} consecutive non-finite updates at step {step}; the last good "
                          f"checkpoint is {self.last_checkpoint}. Lower optim.lr, raise optim.warmup_steps, "
                          f"or use trainer.precision=bf16/fp32")


def out_of_memory(step: int, batch: Batch, tc: TrainerConfig, last_checkpoint: Path) -> MTError:
    """The error for an out-of-memory batch at update ``step + 1``."""
    return MTError(
        f"out of memory at step {step + 1} on a batch of {len(batch)} sentences x "
        f"{batch.tgt_in.size(1)} target tokens; lower trainer.max_tokens (now {tc.max_tokens}) "
        f"and raise trainer.update_freq to keep the effective batch. "
        f"The last good checkpoint is {last_checkpoint}")
