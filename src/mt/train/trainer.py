"""The training loop: train() -> train_step() -> forward_backward(), with validation and checkpoints.

The Trainer builds the run's parts and owns the loop; each part decides its own matters: the clock
and the cadence (``clock.py``) when to log, validate, save and stop, the run state (``state.py``)
what is saved and resumed, the validator (``validate.py``) the valid scores, from a small context.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mt.checkpoint import LAST
from mt.config import TrainConfig
from mt.data.collate import Batch
from mt.data.loader import default_prefetch
from mt.train.clock import BudgetDropout, Cadence, TrainClock
from mt.train.guards import BadSteps, out_of_memory
from mt.train.loss import perplexity, projected_label_smoothed_nll
from mt.train.metrics import MetricsWriter, TrainMeter
from mt.train.optim import build_optimizer, set_lr, total_norm
from mt.train.schedule import Schedule, stop_report
from mt.train.setup import build_loader, build_model, load_data, resolve_precision, wrap_model
from mt.train.state import Progress, RunState
from mt.train.validate import EvalContext, Validator, validation_score
from mt.utils import dist
from mt.utils.device import autocast, resolve_device
from mt.utils.logging import get_logger
from mt.utils.signals import stop_requests

log = get_logger(__name__)

class Trainer:
    """Builds everything from a TrainConfig, then trains until a stop condition holds."""

    def __init__(self, cfg: TrainConfig, run_dir: Path):
        self.cfg, self.tc, self.run_dir = cfg, cfg.trainer, Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.device = resolve_device(self.tc.device, dist.env_info().local_rank, key="trainer.device")
        self.info = dist.init_distributed(self.device.type, self.tc.dist_timeout_min)
        self.precision = resolve_precision(self.device, self.tc.precision)
        if self.tc.threads > 0:
            torch.set_num_threads(self.tc.threads)
        torch.manual_seed(self.tc.seed + self.info.rank)  # per-rank dropout; the data order is seeded apart

        self.data = load_data(cfg, self.info)
        self.tokenizer = self.data.tokenizer
        self.model = build_model(cfg.model, self.data,
                                 cpu_training=self.device.type == "cpu" and self.tc.cpu_kernels).to(self.device)
        self.train_model, self.ddp = wrap_model(self.model, device=self.device, info=self.info,
                                                compile_model=self.tc.compile)
        self.optimizer = build_optimizer(self.model, cfg.optim, self.device.type)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.autocast = lambda: autocast(self.device, self.precision)

        self.pad_to_multiple = self.tc.pad_to_multiple or (8 if self.device.type == "cuda" else 1)
        self.prefetch_batches = self.tc.prefetch_batches if self.tc.prefetch_batches >= 0 else \
            default_prefetch(self.device.type == "cuda", torch.get_num_threads())
        self.loader = build_loader(cfg, self.data, self.info, pad_to_multiple=self.pad_to_multiple,
                                   prefetch=self.prefetch_batches, pin_memory=self.device.type == "cuda")
        self.train_set = self.loader.dataset
        # Backward runs on loss * backward_scale, a constant every rank knows before the update's token
        # count arrives; it keeps fp16 gradients near their final size. _optimizer_step rescales.
        self.backward_scale = 1.0 / (self.tc.update_freq * self.tc.max_tokens)
        self.writer = MetricsWriter(self.run_dir / "tensorboard")

        self.schedule = Schedule.from_config(cfg.optim, self.tc)
        self.clock = TrainClock(self.schedule, agree=bool(self.tc.budget_min) and self.info.distributed)
        self.cadence = Cadence(self.tc)
        self.budget_dropout = BudgetDropout(self.tc, cfg.model.dropout, self.schedule.budget_s)
        self.progress = Progress()
        self.run_state = RunState(cfg, self.model, self.optimizer, self.scaler, self.loader, self.clock,
                                  self.budget_dropout, self.progress, self.tokenizer, self.data.directory,
                                  self.device, self.ckpt_dir)
        self.eval_context = EvalContext(cfg, self.model, self.tokenizer, self.data, self.device, self.autocast,
                                        self.writer, self.pad_to_multiple, self.clock.elapsed_s)
        self.validator = Validator(self.eval_context)
        self.bad_steps = BadSteps(self.tc, self.scaler, self.ckpt_dir / LAST)
        self.last_lr = 0.0
        self.stop: dict = {}
        self._stop_signal: int | None = None
        self.run_state.start()  # resume from last.pt, or load trainer.init_from's weights
        log.info("model: %.1fM parameters; %d train pairs in %d batches/epoch/rank; precision %s on %s",
                 self.model.num_parameters() / 1e6, len(self.train_set), len(self.loader), self.precision,
                 self.device)

    # ------------------------------------------------------------------ what the run has done
    @property
    def step(self) -> int:
        """Optimizer updates applied."""
        return self.progress.step

    @property
    def epoch(self) -> int:
        """The epoch of the batch trained on last."""
        return self.loader.epoch

    @property
    def best_score(self) -> float | None:
        return self.progress.best_score

    @property
    def train_time_s(self) -> float:
        """Seconds of training at the last reading (validation and checkpoints included)."""
        return self.clock.train_time_s

    @property
    def dropout_choice(self) -> dict | None:
        """``trainer.budget_dropout``'s choice (None before it, or without the key)."""
        return self.budget_dropout.choice

    # ------------------------------------------------------------------ training loop
    def train(self) -> str:
        """Train until a stop condition; returns why it stopped (``max_steps``, ``signal``...)."""
        # A budget run's end is on the clock (the log lines say how much is left), not at max_steps.
        bar = tqdm(total=None if self.tc.budget_min else self.tc.max_steps, initial=self.step, desc="train",
                   unit="step", dynamic_ncols=True, disable=not (self.tc.progress and self.info.is_main),
                   smoothing=0.1)
        self.clock.start()
        if self.step == 0 and self.tc.validate_at_start:
            self.validate()
        batches = self.batch_stream()
        # Log lines print above the progress bar instead of through it.
        with logging_redirect_tqdm(loggers=[logging.getLogger("mt")]), stop_requests(self.request_stop):
            try:
                reason = self._loop(bar, batches)
            finally:
                bar.close()
        self._report_stop(reason)
        return reason

    def _loop(self, bar: tqdm, batches: Iterator[Batch]) -> str:
        meter, reason = TrainMeter(self.device), ""
        while not reason:
            update_start = self.clock.plan_update()
            if (rate := self.budget_dropout.choose(self.step, self.clock.update_end_s)) is not None:
                self.model.set_dropout(rate)
            stats = self.train_step([next(batches) for _ in range(self.tc.update_freq)])
            self.clock.update_ended(update_start)
            applied = stats["applied"]  # a skipped update keeps the step number: nothing new is due
            if applied:
                self.schedule.update_done(self.step, self.clock.update_end_s)
                meter.add(stats["loss_sum"], stats["nll_sum"], stats["grad_norm"], tokens=stats["tokens"],
                          sentences=stats["sentences"], lr=stats["lr"])
                bar.update(1)
            if self.cadence.should_log(self.step, applied):
                self._log_train(meter.flush(), bar)
            reason = self._stop_reason()
            reason = self._validate_and_save(applied, reason)
        return reason

    def _validate_and_save(self, applied: bool, reason: str) -> str:
        """Validate and save when due; returns the stop reason, which a validation may set (patience,
        or a validation that ran past the budget: it was the final one)."""
        checkpoint_start = self.clock.elapsed_s()
        validated = self.cadence.should_validate(self.step, applied, reason)
        if validated and self.validate() and not reason:
            reason = "patience"
        if validated and not reason:
            self.clock.read()
            reason = self._stop_reason()
        if self.cadence.should_save(self.step, applied, reason):
            self.save()
        if validated and not reason:  # what the final validation and checkpoint will take
            self.clock.measure_reserve(checkpoint_start)
        return reason

    def _report_stop(self, reason: str) -> None:
        """Log (and keep in ``self.stop``) which bound stopped the run; warn if the schedule was cut."""
        elapsed = self.clock.read()
        self.stop = stop_report(reason, self.tc, self.schedule, self.step, elapsed, self.last_lr)
        log.info("%s", self.stop["message"])
        if self.stop["warning"]:
            log.warning("%s", self.stop["warning"])
        self.writer.text("train/stop", f"{self.stop['message']}. {self.stop['warning'] or ''}".strip(),
                         self.step)
        if self.stop["schedule_progress"] is not None:
            self.writer.scalars("train", {"schedule_progress": self.stop["schedule_progress"]}, self.step)

    def batch_stream(self) -> Iterator[Batch]:
        """Collated training batches, across epoch boundaries, from the resume position on."""
        return iter(self.loader)

    def train_step(self, batches: list[Batch]) -> dict:
        """One optimizer update over ``update_freq`` batches (gradient accumulation).

        The gradient is that of the loss per target token of the whole update on all ranks, whatever
        the split across ranks and micro-batches. The host waits for the device once per update (is
        the gradient finite?); losses and norms stay tensors (``TrainMeter`` reads them per log line).
        Returns ``applied`` (False: the update was skipped and ``step`` did not advance), ``lr``, the
        update's ``tokens`` and ``sentences`` over all ranks, and this rank's ``loss_sum``, ``nll_sum``
        and the ``grad_norm`` as device tensors.
        """
        self.train_model.train()
        # The update's token count over all ranks travels (host integers, gloo) while backward runs.
        counts = dist.all_reduce_sum_async([sum(b.num_tgt_tokens for b in batches), sum(len(b) for b in batches)])
        loss_sum = nll_sum = torch.zeros((), device=self.device)
        for i, batch in enumerate(batches):
            try:
                loss, nll = self.forward_backward(batch.to(self.device, non_blocking=True),
                                                  sync=i == len(batches) - 1)
            # torch.cuda's name: torch.OutOfMemoryError (the same class) is newer than the floor, torch 2.4.
            except torch.cuda.OutOfMemoryError:
                raise out_of_memory(self.step, batch, self.tc, self.ckpt_dir / LAST) from None
            loss_sum, nll_sum = loss_sum + loss, nll_sum + nll
        total_tokens, total_sents = (int(n) for n in counts())
        lr = self._next_lr()
        # DDP averaged the ranks' gradients of backward_scale * loss: this factor makes them the
        # gradient of the summed loss over the update's total target tokens.
        grad_factor = self.info.world_size / (self.backward_scale * total_tokens)
        grad_norm, applied = self._optimizer_step(lr, grad_factor)
        self.progress.step += int(applied)  # a skipped update advances neither the step nor the LR schedule
        self.bad_steps.check(applied, self.step)
        return {"applied": applied, "lr": lr, "tokens": total_tokens, "sentences": total_sents,
                "loss_sum": loss_sum, "nll_sum": nll_sum, "grad_norm": grad_norm}

    def forward_backward(self, batch: Batch, sync: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one batch (on the device); gradients synchronised across ranks only
        if ``sync``. Returns the batch's summed loss and nll as detached device tensors."""
        no_sync = self.ddp.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()
        with no_sync:
            with self.autocast():
                hidden = self.train_model(batch.src_tokens, batch.tgt_in, features_only=True)  # (B, T, D)
                loss, nll = projected_label_smoothed_nll(
                    hidden, self.model.output_weight, batch.tgt_out, rows=batch.tgt_rows,
                    bias=self.model.output_bias,
                    epsilon=self.cfg.optim.label_smoothing, pad_id=self.tokenizer.pad_id)
            self.scaler.scale(loss * self.backward_scale).backward()
        return loss.detach(), nll

    def _next_lr(self) -> float:
        """The learning rate of the coming update, at the time it is expected to end, so a budget
        run's last update runs at the schedule's floor."""
        self.last_lr = self.schedule.lr(self.step + 1, self.clock.update_end_s)
        return self.last_lr

    def _optimizer_step(self, lr: float, grad_factor: float) -> tuple[torch.Tensor, bool]:
        """Scale and clip the gradients in one pass, then step if they are finite (for every precision:
        a NaN gradient with a finite loss must not reach the weights). Returns (norm, applied)."""
        self.scaler.unscale_(self.optimizer)  # fp16 only; records the overflow for scaler.update()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        grad_norm = total_norm(grads) * grad_factor  # of the final gradient
        max_norm = self.cfg.optim.clip_norm if self.cfg.optim.clip_norm > 0 else float("inf")
        torch._foreach_mul_(grads, grad_factor * torch.clamp(max_norm / (grad_norm + 1e-6), max=1.0))
        applied = bool(torch.isfinite(grad_norm))  # the update's one host sync; equal on all ranks
        if applied:
            set_lr(self.optimizer, lr)
            self.optimizer.step()
        self.scaler.update()  # fp16: halves the loss scale after an overflow, grows it after a while
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm, applied

    def _stop_reason(self) -> str:
        return self.cadence.stop_reason(step=self.step, epoch=self.epoch, epoch_done=self.loader.epoch_done,
                                        train_time_s=self.clock.train_time_s,
                                        deadline_s=self.schedule.deadline_s,
                                        signalled=self._stop_signal is not None)

    def request_stop(self, signum: int) -> None:
        """Stop at the end of this update, saving ``last.pt`` (as on SIGTERM or SIGINT)."""
        self._stop_signal = signum

    # ------------------------------------------------------------------ validation, checkpoints
    def validate(self) -> bool:
        """Validate, update best.pt; returns True when early stopping's patience has run out."""
        score = validation_score(self.validator.run(self.step), self.tc.best_metric)
        p = self.progress
        if p.best_score is None or score > p.best_score:
            p.best_score, p.bad_validations = score, 0
            self.save(best=True)
        else:
            p.bad_validations += 1
        return bool(self.tc.patience) and p.bad_validations >= self.tc.patience

    def save(self, best: bool = False) -> None:
        """Write last.pt and a step checkpoint, or best.pt (see ``RunState.save``)."""
        self.run_state.save(best=best)

    # ------------------------------------------------------------------ logging, signals
    def _log_train(self, w: dict[str, float], bar: tqdm) -> None:
        w["loss_scale"] = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
        self.writer.scalars("train", {k: w[k] for k in ("loss", "nll", "lr", "grad_norm", "loss_scale",
                                                        "tgt_tok_per_s", "sent_per_s")}, self.step)
        self.writer.scalars("train", {"ppl": perplexity(w["nll"])}, self.step)
        left = f" | {max(self.schedule.budget_s - self.clock.train_time_s, 0) / 60:.1f} min left" \
            if self.tc.budget_min else ""
        bar.set_postfix(loss=f"{w['loss']:.3f}", lr=f"{w['lr']:.2e}", tok_s=f"{w['tgt_tok_per_s']:.0f}",
                        refresh=False)
        log.info("step %d | loss %.3f | nll %.3f | lr %.2e | gnorm %.2f | %.0f tgt tok/s%s", self.step,
                 w["loss"], w["nll"], w["lr"], w["grad_norm"], w["tgt_tok_per_s"], left)

    def close(self) -> None:
        self.loader.close()
        self.writer.close()
