"""The training loop: train() -> train_step() -> forward_backward(), with validation and checkpoints.

One Trainer owns every piece of resumable state (model, optimizer, grad scaler, step, epoch, data
position, RNG, best score) and writes it atomically to ``checkpoints/last.pt``. A run started in a
directory that holds ``last.pt`` continues exactly where that one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
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
from mt.data.collate import Batch, collate
from mt.train.loss import perplexity, projected_label_smoothed_nll
from mt.train.metrics import MetricsWriter
from mt.train.optim import build_optimizer, lr_at, set_lr
from mt.train.setup import build_model, load_data, resolve_precision, wrap_model
from mt.train.validate import Validator
from mt.utils import dist
from mt.utils.device import autocast, resolve_device
from mt.utils.errors import MTError
from mt.utils.logging import get_logger

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
        self.model = build_model(cfg.model, self.data).to(self.device)
        self.train_model, self.ddp = wrap_model(self.model, device=self.device, info=self.info,
                                                compile_model=self.tc.compile)
        self.optimizer = build_optimizer(self.model, cfg.optim, self.device.type)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.autocast = lambda: autocast(self.device, self.precision)

        train = self.data.split("train")
        self.train_set = train
        try:  # a sentence over the budget, or fewer batches than ranks, is the user's to fix
            batches = batch_by_tokens(train.src_lengths, train.tgt_lengths, self.tc.max_tokens)
            self.sampler = EpochBatchSampler(batches, seed=self.tc.seed, rank=self.info.rank,
                                             world_size=self.info.world_size)
        except ValueError as e:
            raise MTError(f"cannot batch the train split of {self.data.directory}: {e}") from None
        self.validator = Validator(self)
        self.writer = MetricsWriter(self.run_dir / "tensorboard")

        self.step, self.epoch = 0, 1
        self.best_score: float | None = None
        self.bad_validations = 0
        self.consecutive_bad_steps = 0
        self.train_time_s = 0.0
        self._stop_signal: int | None = None
        self.sampler.set_epoch(self.epoch)
        self._maybe_resume()
        log.info("model: %.1fM parameters; %d train pairs in %d batches/epoch/rank; precision %s on %s",
                 self.model.num_parameters() / 1e6, len(train), len(self.sampler), self.precision,
                 self.device)

    # ------------------------------------------------------------------ training loop
    def train(self) -> str:
        """Train until a stop condition; returns why it stopped (``max_steps``, ``signal``...)."""
        handlers = self._install_signal_handlers()
        bar = tqdm(total=self.tc.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not (self.tc.progress and self.info.is_main), smoothing=0.1)
        start, time_at_start = time.perf_counter(), self.train_time_s
        batches = self._batch_stream()
        # Log lines print above the progress bar instead of through it.
        with logging_redirect_tqdm(loggers=[logging.getLogger("mt")]):
            try:
                reason = self._loop(bar, batches, start, time_at_start)
            finally:
                bar.close()
                self._restore_signal_handlers(handlers)
        log.info("training stopped at step %d (%s) after %.1f min", self.step, reason, self.train_time_s / 60)
        return reason

    def _loop(self, bar: tqdm, batches: Iterator[Batch], start: float, time_at_start: float) -> str:
        window, reason = _Window(), ""
        while not reason:
            stats = self.train_step([next(batches) for _ in range(self.tc.update_freq)])
            self.train_time_s = time_at_start + time.perf_counter() - start
            window.add(stats)
            bar.update(1)
            if self.step % self.tc.log_every == 0:
                self._log_train(window.flush(), bar)
            reason = self._stop_reason()
            if self.step % self.tc.valid_every == 0 or reason in ("max_steps", "max_epochs", "max_time"):
                if self.validate() and not reason:
                    reason = "patience"
            if self.step % self.tc.save_every == 0 or reason:
                self.save()
        return reason

    def _batch_stream(self) -> Iterator[Batch]:
        """Collated training batches, across epoch boundaries, starting at the resume position."""
        tok = self.tokenizer
        while True:
            for indices in self.sampler:
                samples = [self.train_set[int(i)] for i in indices]
                yield collate(samples, indices, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id)
            self.epoch += 1
            self.sampler.set_epoch(self.epoch)

    def train_step(self, batches: list[Batch]) -> dict[str, float]:
        """One optimizer update over ``update_freq`` batches (gradient accumulation).

        The loss is normalised by the target tokens of the whole update on all ranks (counted before
        the backward passes), so any split across ranks and micro-batches gives the same gradient.
        """
        self.train_model.train()
        local_tokens = sum(b.num_tgt_tokens for b in batches)
        total_tokens, total_sents = dist.all_reduce_sum([local_tokens, sum(len(b) for b in batches)])
        # DDP averages gradients over ranks; multiplying by world_size turns that average into a sum.
        scale = self.info.world_size / total_tokens
        loss_sum = nll_sum = 0.0
        for i, batch in enumerate(batches):
            sync = i == len(batches) - 1
            try:
                loss, nll = self.forward_backward(batch.to(self.device, non_blocking=True), scale, sync)
            except torch.OutOfMemoryError:
                raise MTError(
                    f"out of memory at step {self.step + 1} on a batch of {len(batch)} sentences x "
                    f"{batch.tgt_in.size(1)} target tokens; lower trainer.max_tokens (now "
                    f"{self.tc.max_tokens}) and raise trainer.update_freq to keep the effective batch. "
                    f"The last good checkpoint is {self.ckpt_dir / ckpt.LAST}") from None
            loss_sum, nll_sum = loss_sum + loss, nll_sum + nll
        loss_sum, nll_sum = dist.all_reduce_sum([loss_sum, nll_sum])
        finite = math.isfinite(loss_sum)
        lr = lr_at(self.step + 1, self.cfg.optim, self.tc.max_steps)
        grad_norm = self._optimizer_step(lr, finite)
        self.step += 1
        self._check_bad_step(finite)
        return {"loss": loss_sum / total_tokens, "nll": nll_sum / total_tokens, "lr": lr,
                "grad_norm": grad_norm, "tokens": total_tokens, "sentences": total_sents,
                "loss_scale": self.scaler.get_scale() if self.scaler.is_enabled() else 1.0}

    def forward_backward(self, batch: Batch, scale: float, sync: bool) -> tuple[float, float]:
        """Forward and backward of one batch; gradients synchronised across ranks only if ``sync``."""
        no_sync = self.ddp.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()
        with no_sync:
            with self.autocast():
                hidden = self.train_model(batch.src_tokens, batch.tgt_in, features_only=True)  # (B, T, D)
                loss, nll = projected_label_smoothed_nll(
                    hidden, self.model.output_weight, batch.tgt_out,
                    epsilon=self.cfg.optim.label_smoothing, pad_id=self.tokenizer.pad_id)
            self.scaler.scale(loss * scale).backward()
        return loss.item(), nll.item()

    def _optimizer_step(self, lr: float, finite: bool) -> float:
        if not finite:  # skip the update, keep the weights: the step is logged and counted as bad
            self.optimizer.zero_grad(set_to_none=True)
            return float("nan")
        set_lr(self.optimizer, lr)
        self.scaler.unscale_(self.optimizer)
        max_norm = self.cfg.optim.clip_norm if self.cfg.optim.clip_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.scaler.step(self.optimizer)  # fp16: skipped when the scaled gradients overflowed
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return float(grad_norm)

    def _check_bad_step(self, finite: bool) -> None:
        if finite:
            self.consecutive_bad_steps = 0
            return
        self.consecutive_bad_steps += 1
        log.warning("step %d: non-finite loss, update skipped (%d in a row)", self.step,
                    self.consecutive_bad_steps)
        if self.consecutive_bad_steps >= self.tc.max_bad_steps:
            raise MTError(f"{self.consecutive_bad_steps} consecutive non-finite losses at step {self.step}; "
                          f"the last good checkpoint is {self.ckpt_dir / ckpt.LAST}. Lower optim.lr, "
                          f"raise optim.warmup_steps, or use trainer.precision=bf16/fp32")

    def _stop_reason(self) -> str:
        epoch_done = self.sampler.state_dict()["position"] >= len(self.sampler)
        flags = {
            "max_steps": self.step >= self.tc.max_steps,
            "max_epochs": bool(self.tc.max_epochs) and (
                self.epoch > self.tc.max_epochs or (self.epoch == self.tc.max_epochs and epoch_done)),
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
        metrics = self.validator.run(self.step)
        higher = self.tc.best_metric == "bleu" and "bleu" in metrics
        score = metrics["bleu"] if higher else -metrics["loss"]
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
            "trainer": {"step": self.step, "epoch": self.epoch, "sampler": self.sampler.state_dict(),
                        "best_score": self.best_score, "bad_validations": self.bad_validations,
                        "train_time_s": self.train_time_s, "world_size": self.info.world_size},
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
        self.step, self.epoch = t["step"], t["epoch"]
        self.best_score, self.bad_validations = t["best_score"], t["bad_validations"]
        self.train_time_s = t["train_time_s"]
        self.sampler.set_epoch(self.epoch)
        if t.get("world_size", 1) == self.info.world_size:
            self.sampler.load_state_dict(t["sampler"])
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
        self.writer.scalars("train", {k: w[k] for k in ("loss", "nll", "lr", "grad_norm", "loss_scale",
                                                        "tgt_tok_per_s", "sent_per_s")}, self.step)
        self.writer.scalars("train", {"ppl": perplexity(w["nll"])}, self.step)
        bar.set_postfix(loss=f"{w['loss']:.3f}", lr=f"{w['lr']:.2e}", tok_s=f"{w['tgt_tok_per_s']:.0f}",
                        refresh=False)
        log.info("step %d | loss %.3f | nll %.3f | lr %.2e | gnorm %.2f | %.0f tgt tok/s", self.step,
                 w["loss"], w["nll"], w["lr"], w["grad_norm"], w["tgt_tok_per_s"])

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
        self.writer.close()


class _Window:
    """Running sums between two log lines, turned into means and throughput."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.n, self.tokens, self.sentences, self.start = 0, 0.0, 0.0, time.perf_counter()

    def add(self, stats: dict[str, float]) -> None:
        for key in ("loss", "nll", "lr", "grad_norm", "loss_scale"):
            self.sums[key] = self.sums.get(key, 0.0) + stats[key]
        self.n += 1
        self.tokens += stats["tokens"]
        self.sentences += stats["sentences"]

    def flush(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        out = {k: v / max(self.n, 1) for k, v in self.sums.items()}
        out.update(tgt_tok_per_s=self.tokens / elapsed, sent_per_s=self.sentences / elapsed)
        self.reset()
        return out

