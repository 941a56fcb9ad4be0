"""What a run resumes from: the state of every part in one checkpoint, ``checkpoints/last.pt``,
written atomically by rank 0, beside the inference checkpoints (``best.pt``, step checkpoints) that
decoding reads. A run started in a directory that holds ``last.pt`` continues exactly where that one
stopped: weights, optimizer, loss scale, data position, each rank's random state, clock and schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.data.loader import BatchLoader
from mt.data.tokenizer import Tokenizer, tokenizer_entry
from mt.model import VocabInfo
from mt.model.transformer import Transformer
from mt.train.clock import BudgetDropout, TrainClock
from mt.train.init import init_from
from mt.utils import dist
from mt.utils.errors import MTError
from mt.utils.logging import get_logger
from mt.utils.text import resolve_path

log = get_logger(__name__)


@dataclass
class Progress:
    """The loop's own counters."""

    step: int = 0
    """Optimizer updates applied."""
    best_score: float | None = None
    """The best validation score so far (higher is better; see ``validation_score``)."""
    bad_validations: int = 0
    """Validations in a row without improvement (early stopping)."""


@dataclass
class RunState:
    """The parts of a run that hold state, saved and restored as one."""

    cfg: TrainConfig
    model: Transformer
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loader: BatchLoader
    clock: TrainClock
    dropout: BudgetDropout
    progress: Progress
    tokenizer: Tokenizer
    data_dir: Path
    device: torch.device
    ckpt_dir: Path

    def inference_state(self) -> dict:
        """What translate.py needs: weights, model shape, vocabulary and the tokenizer itself."""
        tok = self.tokenizer
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "model_config": to_dict(self.cfg.model),
            "vocab": VocabInfo.from_tokenizer(tok).as_dict(),
            "tokenizer": tokenizer_entry(tok, str(self.data_dir)),
            "src_lang": self.cfg.data.src_lang, "tgt_lang": self.cfg.data.tgt_lang,
            "pairs": list(self.cfg.data.pairs),
            "config": to_dict(self.cfg), "step": self.progress.step,
        }

    def state_dict(self) -> dict:
        """Everything needed to resume, as plain data and tensors (loads with weights_only=True). A
        collective: every rank's random state is gathered."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        p = self.progress
        return {
            **self.inference_state(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "trainer": {"step": p.step, "epoch": self.loader.epoch, "sampler": self.loader.state_dict(),
                        "best_score": p.best_score, "bad_validations": p.bad_validations,
                        "train_time_s": self.clock.elapsed_s(), "world_size": dist.get_world_size(),
                        "schedule": self.clock.schedule.state_dict(), "dropout_choice": self.dropout.choice},
            "rng": dist.all_gather_object(rng),  # one entry per rank: each has its own dropout stream
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        t, world_size = state["trainer"], dist.get_world_size()
        if t.get("world_size", 1) != world_size:
            log.warning("resuming a %d-rank run on %d ranks: the data order changes from here on",
                        t.get("world_size", 1), world_size)
        self.progress.step = t["step"]
        self.progress.best_score, self.progress.bad_validations = t["best_score"], t["bad_validations"]
        self.clock.schedule.load_state_dict(t.get("schedule", {}))
        self.clock.load(t["train_time_s"])
        self.dropout.choice = t.get("dropout_choice")
        if self.dropout.choice is not None:
            self.model.set_dropout(self.dropout.choice["rate"])
        same_ranks = t.get("world_size", 1) == world_size  # else restart the saved epoch
        self.loader.load_state_dict(t["sampler"] if same_ranks else {"epoch": t["epoch"], "position": 0})
        rng = state["rng"][min(dist.get_rank(), len(state["rng"]) - 1)]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save(self, best: bool = False) -> None:
        """Write last.pt (and a step checkpoint, pruned to ``trainer.keep_last``), or best.pt. Every
        rank calls it (the random states are gathered); rank 0 writes."""
        state = self.state_dict() if not best else None
        if not dist.is_main():
            return
        if best:
            ckpt.save_checkpoint(self.inference_state(), self.ckpt_dir / ckpt.BEST)
            return
        ckpt.save_checkpoint(state, self.ckpt_dir / ckpt.LAST)
        keep_last = self.cfg.trainer.keep_last
        if keep_last > 0:
            ckpt.save_checkpoint(self.inference_state(), ckpt.step_path(self.ckpt_dir, self.progress.step))
            ckpt.prune_step_checkpoints(self.ckpt_dir, keep_last)

    def start(self) -> None:
        """Resume from ``last.pt`` if the run directory has one; else, with ``trainer.init_from``, load
        the parent's weights (``mt.train.init``)."""
        if not self.resume() and self.cfg.trainer.init_from:
            init_from(self.model, self.cfg.model, VocabInfo.from_tokenizer(self.tokenizer),
                      resolve_path(self.cfg.trainer.init_from, self.cfg.work_dir))

    def resume(self) -> bool:
        """Continue from ``last.pt`` if the run directory has one; True if it did."""
        last = ckpt.find_last(self.ckpt_dir)
        if last is None:
            return False
        # On the CPU: RNG states must stay CPU tensors, and load_state_dict moves the weights and the
        # optimizer state to the parameters' device itself.
        state = ckpt.load_checkpoint(last, map_location="cpu")
        if state.get("model_config") != to_dict(self.cfg.model):
            raise MTError(f"{last} was trained with a different model config; start a new run "
                          f"directory (run_id=...) or restore the original model settings")
        self.load_state_dict(state)
        log.info("resumed from %s at step %d (epoch %d)", last, self.progress.step, self.loader.epoch)
        return True
