"""The training loop: train() -> train_step() -> forward_backward(), with validation and checkpoints.

One Trainer owns every piece of resumable state (model, optimizer, grad scaler, step, epoch, data
position, RNG, best score) and writes it atomically to ``checkpoints/last.pt``. A run started in a
directory that holds ``last.pt`` continues exactly where that one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.data.batching import EpochBatchSampler, batch_by_tokens
from mt.data.collate import Batch
from mt.data.loader import BatchLoader, default_prefetch
from mt.train.loss import perplexity, projected_label_smoothed_nll
from mt.train.metrics import MetricsWriter, TrainMeter
from mt.train.optim import build_optimizer, set_lr, total_norm
from mt.train.schedule import Schedule, stop_report
from mt.train.setup import build_model, load_data, resolve_precision, wrap_model
from mt.train.validate import Validator, validation_score
from mt.utils import dist
from mt.utils.device import autocast, resolve_device
from mt.utils.errors import MTError
from mt.utils.logging import get_logger

log = get_logger(__name__)

MIN_LOSS_SCALE = 1e-4
"""fp16: an overflow that halves the loss scale below this counts as a bad step (as in fairseq)."""


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
        self.model = build_model(cfg.model, self.data).to(self.device)
        self.train_model, self.ddp = wrap_model(self.model, device=self.device, info=self.info,
                                                compile_model=self.tc.compile)
        self.optimizer = build_optimizer(self.model, cfg.optim, self.device.type)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.autocast = lambda: autocast(self.device, self.precision)

        self.train_set = self.data.split("train")
        self.pad_to_multiple = self.tc.pad_to_multiple or (8 if self.device.type == "cuda" else 1)
        self.prefetch_batches = self.tc.prefetch_batches if self.tc.prefetch_batches >= 0 else \
            default_prefetch(self.device.type == "cuda", torch.get_num_threads())
        self.loader = self._build_loader()
        # Backward runs on loss * backward_scale, a constant every rank knows before the update's token
        # count arrives; it keeps fp16 gradients near their final size. _optimizer_step rescales.
        self.backward_scale = 1.0 / (self.tc.update_freq * self.tc.max_tokens)
        self.validator = Validator(self)
        self.writer = MetricsWriter(self.run_dir / "tensorboard")

        self.step = 0
        self.best_score: float | None = None
        self.bad_validations = 0
        self.consecutive_bad_steps = 0
        self.train_time_s = 0.0
        self.schedule = Schedule.from_config(cfg.optim, self.tc)
        self._clock: tuple[float, float] | None = None  # (perf_counter, train_time_s) when train() began
        self._last_update_s = self._update_end_s = self.last_lr = 0.0
        self._measured_reserve_s = self.schedule.reserve_s
        self.dropout_choice: dict | None = None  # trainer.budget_dropout: the rate chosen, and why
        self.stop: dict = {}
        self._stop_signal: int | None = None
        self._maybe_resume()
        log.info("model: %.1fM parameters; %d train pairs in %d batches/epoch/rank; precision %s on %s",
                 self.model.num_parameters() / 1e6, len(self.train_set), len(self.loader), self.precision,
                 self.device)

    def _build_loader(self) -> BatchLoader:
        """Fresh length-bucketed batches every epoch (ties broken at random), all from the seed."""
        train, tok, seed = self.train_set, self.tokenizer, self.tc.seed

        def epoch_batches(epoch: int) -> list:
            return batch_by_tokens(train.src_lengths, train.tgt_lengths, self.tc.max_tokens,
                                   pad_to_multiple=self.pad_to_multiple, shuffle_ties=(seed, epoch))

        try:  # a sentence over the budget, or fewer batches than ranks, is the user's to fix
            sampler = EpochBatchSampler(epoch_batches, seed=seed, rank=self.info.rank,
                                        world_size=self.info.world_size)
            sampler.set_epoch(1)
        except ValueError as e:
            raise MTError(f"cannot batch the train split of {self.data.directory}: {e}") from None
        return BatchLoader(train, sampler, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id,
                           pad_to_multiple=self.pad_to_multiple, prefetch=self.prefetch_batches,
                           pin_memory=self.device.type == "cuda")

    @property
    def epoch(self) -> int:
        """The epoch of the batch trained on last."""
        return self.loader.epoch

    # ------------------------------------------------------------------ training loop
    def train(self) -> str:
        """Train until a stop condition; returns why it stopped (``max_steps``, ``signal``...)."""
        handlers = self._install_signal_handlers()
        # A budget run's end is on the clock (the log lines say how much is left), not at max_steps.
        bar = tqdm(total=None if self.tc.budget_min else self.tc.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not (self.tc.progress and self.info.is_main), smoothing=0.1)
        self._clock = (time.perf_counter(), self.train_time_s)  # a resumed run goes on from its elapsed time
        batches = self._batch_stream()
        # Log lines print above the progress bar instead of through it.
        with logging_redirect_tqdm(loggers=[logging.getLogger("mt")]):
            try:
                reason = self._loop(bar, batches)
            finally:
                bar.close()
                self._restore_signal_handlers(handlers)
        self._report_stop(reason)
        return reason

    def elapsed_s(self) -> float:
        """Seconds of training so far, earlier runs of a resumed run included (validation and saves too)."""
        if self._clock is None:
            return self.train_time_s
        started, before = self._clock
        return before + time.perf_counter() - started

    def _loop(self, bar: tqdm, batches: Iterator[Batch]) -> str:
        meter, reason = TrainMeter(self.device), ""
        while not reason:
            update_start = self._plan_update()
            stats = self.train_step([next(batches) for _ in range(self.tc.update_freq)])
            self.train_time_s = self.elapsed_s()
            self._last_update_s = self.train_time_s - update_start
            due = stats["applied"]  # a skipped update keeps the step number: nothing new is due
            if due:
                self.schedule.update_done(self.step, self._update_end_s)
                meter.add(stats["loss_sum"], stats["nll_sum"], stats["grad_norm"], tokens=stats["tokens"],
                          sentences=stats["sentences"], lr=stats["lr"])
                bar.update(1)
            if due and self.step % self.tc.log_every == 0:
                self._log_train(meter.flush(), bar)
            reason = self._stop_reason()
            checkpoint_start = self.elapsed_s()
            validated = (due and self.step % self.tc.valid_every == 0) or reason in _END_REASONS
            if validated and self.validate() and not reason:
                reason = "patience"
            if validated and not reason:  # a validation that ran past a bound (the budget) was the final one
                self.train_time_s = self.elapsed_s()
                reason = self._stop_reason()
            if (due and self.step % self.tc.save_every == 0) or reason:
                self.save()
            if validated and not reason:  # what the final validation and checkpoint will take
                self._measured_reserve_s = self.elapsed_s() - checkpoint_start
        return reason

    def _report_stop(self, reason: str) -> None:
        """Log (and keep in ``self.stop``) which bound stopped the run; warn if the schedule was cut."""
        self.train_time_s = self.elapsed_s()
        self.stop = stop_report(reason, self.tc, self.schedule, self.step, self.train_time_s, self.last_lr)
        log.info("%s", self.stop["message"])
        if self.stop["warning"]:
            log.warning("%s", self.stop["warning"])
        self.writer.text("train/stop", f"{self.stop['message']}. {self.stop['warning'] or ''}".strip(),
                         self.step)
        if self.stop["schedule_progress"] is not None:
            self.writer.scalars("train", {"schedule_progress": self.stop["schedule_progress"]}, self.step)

    def _batch_stream(self) -> Iterator[Batch]:
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
            except torch.OutOfMemoryError:
                raise self._out_of_memory(batch) from None
            loss_sum, nll_sum = loss_sum + loss, nll_sum + nll
        total_tokens, total_sents = (int(n) for n in counts())
        lr = self._next_lr()
        # DDP averaged the ranks' gradients of backward_scale * loss: this factor makes them the
        # gradient of the summed loss over the update's total target tokens.
        grad_factor = self.info.world_size / (self.backward_scale * total_tokens)
        grad_norm, applied = self._optimizer_step(lr, grad_factor)
        self.step += int(applied)  # a skipped update advances neither the step nor the LR schedule
        self._check_bad_step(applied)
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
                    epsilon=self.cfg.optim.label_smoothing, pad_id=self.tokenizer.pad_id)
            self.scaler.scale(loss * self.backward_scale).backward()
        return loss.detach(), nll

    def _plan_update(self) -> float:
        """Start an update: returns the elapsed time now and sets when the update should end (now
        plus the previous update's duration), and the reserve last measured. Under DDP a budget run's
        ranks agree on both, so they all use the same learning rate."""
        now = self.elapsed_s()
        values = [now + self._last_update_s, self._measured_reserve_s]
        if self.tc.budget_min and self.info.distributed:
            values = [v / self.info.world_size for v in dist.all_reduce_sum(values)]
        self._update_end_s, self._measured_reserve_s = values
        self.schedule.set_reserve(self._measured_reserve_s, at_s=self._update_end_s)
        if self.tc.budget_dropout and self.dropout_choice is None:
            self._maybe_choose_dropout()
        return now

    def _maybe_choose_dropout(self) -> None:
        """``trainer.budget_dropout``: once ``budget_dropout_at`` of the budget has passed, set the
        residual dropout from the updates the budget is projected to buy at the rate so far. Every
        rank chooses the same: the step and the planned time are agreed."""
        budget_s = self.schedule.budget_s
        if self._update_end_s < self.tc.budget_dropout_at * budget_s:
            return
        projected = (self.step + 1) * budget_s / self._update_end_s
        keys = [k for k in sorted(self.tc.budget_dropout) if k <= projected]
        rate = self.tc.budget_dropout[keys[-1]] if keys else self.cfg.model.dropout
        self.dropout_choice = {"rate": rate, "projected_updates": round(projected),
                               "at_step": self.step, "at_min": round(self._update_end_s / 60, 2)}
        self.model.set_dropout(rate)
        log.info("trainer.budget_dropout: %d updates projected for the %.0f-minute budget at step %d: "
                 "dropout %g from here on", projected, budget_s / 60, self.step, rate)

    def _next_lr(self) -> float:
        """The learning rate of the coming update, at the time it is expected to end, so a budget
        run's last update runs at the schedule's floor."""
        self.last_lr = self.schedule.lr(self.step + 1, self._update_end_s)
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

    def _check_bad_step(self, applied: bool) -> None:
        if applied:
            self.consecutive_bad_steps = 0
            return
        if self.scaler.is_enabled() and self.scaler.get_scale() >= MIN_LOSS_SCALE:
            log.info("step %d: fp16 gradients overflowed, update skipped; loss scale now %g", self.step + 1,
                     self.scaler.get_scale())
            return
        self.consecutive_bad_steps += 1
        log.warning("step %d: non-finite gradients, update skipped (%d in a row)", self.step + 1,
                    self.consecutive_bad_steps)
        if self.consecutive_bad_steps >= self.tc.max_bad_steps:
            raise MTError(f"{self.consecutive_bad_steps} consecutive non-finite updates at step {self.step}; "
                          f"the last good checkpoint is {self.ckpt_dir / ckpt.LAST}. Lower optim.lr, "
                          f"raise optim.warmup_steps, or use trainer.precision=bf16/fp32")

    def _out_of_memory(self, batch: Batch) -> MTError:
        return MTError(
            f"out of memory at step {self.step + 1} on a batch of {len(batch)} sentences x "
            f"{batch.tgt_in.size(1)} target tokens; lower trainer.max_tokens (now {self.tc.max_tokens}) "
            f"and raise trainer.update_freq to keep the effective batch. "
            f"The last good checkpoint is {self.ckpt_dir / ckpt.LAST}")

    def _stop_reason(self) -> str:
        epoch_done = self.loader.epoch_done
        flags = {
            "max_steps": self.step >= self.tc.max_steps,
            "max_epochs": bool(self.tc.max_epochs) and (
                self.epoch > self.tc.max_epochs or (self.epoch == self.tc.max_epochs and epoch_done)),
            "budget": bool(self.tc.budget_min) and self.train_time_s >= self.schedule.deadline_s,
            "max_time": bool(self.tc.max_time_min) and self.train_time_s >= 60 * self.tc.max_time_min,
            "signal": self._stop_signal is not None,
        }
        if self.info.distributed:  # every rank must stop at the same step, or collectives hang
            agreed = dist.all_reduce_sum([float(f) for f in flags.values()])
            flags = {name: count > 0 for name, count in zip(flags, agreed, strict=True)}
        return next((name for name, flag in flags.items() if flag), "")

    # ------------------------------------------------------------------ validation
    def validate(self) -> bool:
        """Validate, update best.pt; returns True when early stopping's patience has run out."""
        score = validation_score(self.validator.run(self.step), self.tc.best_metric)
        improved = self.best_score is None or score > self.best_score
        if improved:
            self.best_score, self.bad_validations = score, 0
            self.save(best=True)
        else:
            self.bad_validations += 1
        return bool(self.tc.patience) and self.bad_validations >= self.tc.patience

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to resume, as plain data and tensors (loads with weights_only=True)."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            **self.inference_state(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "trainer": {"step": self.step, "epoch": self.epoch, "sampler": self.loader.state_dict(),
                        "best_score": self.best_score, "bad_validations": self.bad_validations,
                        "train_time_s": self.elapsed_s(), "world_size": self.info.world_size,
                        "schedule": self.schedule.state_dict(), "dropout_choice": self.dropout_choice},
            "rng": dist.all_gather_object(rng),  # one entry per rank: each has its own dropout stream
        }

    def inference_state(self) -> dict:
        """What translate.py needs: weights, model shape, vocabulary and the tokenizer itself."""
        tok = self.tokenizer
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "model_config": to_dict(self.cfg.model),
            "vocab": {"size": tok.vocab_size, "pad_id": tok.pad_id, "unk_id": tok.unk_id,
                      "bos_id": tok.bos_id, "eos_id": tok.eos_id},
            "tokenizer": {"model": ckpt.bytes_to_tensor(tok.to_bytes()),
                          "path": str(self.data.directory)},
            "src_lang": self.cfg.data.src_lang, "tgt_lang": self.cfg.data.tgt_lang,
            "config": to_dict(self.cfg), "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        t = state["trainer"]
        if t.get("world_size", 1) != self.info.world_size:
            log.warning("resuming a %d-rank run on %d ranks: the data order changes from here on",
                        t.get("world_size", 1), self.info.world_size)
        self.step = t["step"]
        self.best_score, self.bad_validations = t["best_score"], t["bad_validations"]
        self.train_time_s = t["train_time_s"]
        self.schedule.load_state_dict(t.get("schedule", {}))
        self._measured_reserve_s = self.schedule.reserve_s
        self.dropout_choice = t.get("dropout_choice")
        if self.dropout_choice is not None:
            self.model.set_dropout(self.dropout_choice["rate"])
        same_ranks = t.get("world_size", 1) == self.info.world_size  # else restart the saved epoch
        self.loader.load_state_dict(t["sampler"] if same_ranks else {"epoch": t["epoch"], "position": 0})
        rng = state["rng"][min(self.info.rank, len(state["rng"]) - 1)]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save(self, best: bool = False) -> None:
        """Write last.pt (and a step checkpoint, pruned to keep_last), or best.pt. Rank 0 writes."""
        state = self.state_dict() if not best else None  # collective (RNG gather): every rank joins
        if not self.info.is_main:
            return
        if best:
            ckpt.save_checkpoint(self.inference_state(), self.ckpt_dir / ckpt.BEST)
            return
        ckpt.save_checkpoint(state, self.ckpt_dir / ckpt.LAST)
        if self.tc.keep_last > 0:
            ckpt.save_checkpoint(self.inference_state(), ckpt.step_path(self.ckpt_dir, self.step))
            ckpt.prune_step_checkpoints(self.ckpt_dir, self.tc.keep_last)

    def _maybe_resume(self) -> None:
        last = ckpt.find_last(self.ckpt_dir)
        if last is None:
            return
        # On the CPU: RNG states must stay CPU tensors, and load_state_dict moves the weights and the
        # optimizer state to the parameters' device itself.
        state = ckpt.load_checkpoint(last, map_location="cpu")
        if state.get("model_config") != to_dict(self.cfg.model):
            raise MTError(f"{last} was trained with a different model config; start a new run "
                          f"directory (run_id=...) or restore the original model settings")
        self.load_state_dict(state)
        log.info("resumed from %s at step %d (epoch %d)", last, self.step, self.epoch)

    # ------------------------------------------------------------------ logging, signals
    def _log_train(self, w: dict[str, float], bar: tqdm) -> None:
        w["loss_scale"] = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
        self.writer.scalars("train", {k: w[k] for k in ("loss", "nll", "lr", "grad_norm", "loss_scale",
                                                        "tgt_tok_per_s", "sent_per_s")}, self.step)
        self.writer.scalars("train", {"ppl": perplexity(w["nll"])}, self.step)
        left = f" | {max(self.schedule.budget_s - self.train_time_s, 0) / 60:.1f} min left" \
            if self.tc.budget_min else ""
        bar.set_postfix(loss=f"{w['loss']:.3f}", lr=f"{w['lr']:.2e}", tok_s=f"{w['tgt_tok_per_s']:.0f}",
                        refresh=False)
        log.info("step %d | loss %.3f | nll %.3f | lr %.2e | gnorm %.2f | %.0f tgt tok/s%s", self.step,
                 w["loss"], w["nll"], w["lr"], w["grad_norm"], w["tgt_tok_per_s"], left)

    def _install_signal_handlers(self) -> dict:
        def handler(signum, _frame):
            log.warning("received signal %d: saving checkpoints/last.pt at the end of this step", signum)
            self._stop_signal = signum

        old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass
        return old

    @staticmethod
    def _restore_signal_handlers(old: dict) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    def close(self) -> None:
        self.loader.close()
        self.writer.close()


_END_REASONS = ("max_steps", "max_epochs", "max_time", "budget")
"""Stop reasons after which the run validates once more (patience has just validated; a signal
saves and leaves)."""
