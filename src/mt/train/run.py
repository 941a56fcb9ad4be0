"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
from pathlib import Path

from mt.config import TrainConfig
from mt.data.sources import source_for
from mt.train.final import score_test
from mt.train.trainer import Trainer
from mt.utils import dist
from mt.utils.cpu import keep_freed_memory
from mt.utils.io import write_json
from mt.utils.logging import get_logger, setup_logging

log = get_logger(__name__)


def run(cfg: TrainConfig, *, own_process: bool = False) -> dict:
    """Train (or resume) the run in ``cfg.run_dir``, then score the test split with the model chosen on
    valid (``trainer.test_at_end``) and write results.json.

    ``own_process``: the process exists for this run (train.py), so process-wide settings apply too
    (``trainer.keep_freed_memory``); a notebook or a library caller keeps its process as it was."""
    source_for(cfg.data, Path(cfg.work_dir))  # an unknown data.source fails here, naming the known ones
    run_dir = Path(cfg.run_dir)
    setup_logging(run_dir / "train.log")
    log.info("run dir: %s", run_dir.resolve())
    trainer = Trainer(cfg, run_dir)
    if own_process:
        tune_process(trainer)
    try:
        reason = trainer.train()
        if reason == "signal":
            log.warning("stopped by a signal; resume with the same run dir: python train.py %s",
                        f"hydra.run.dir={run_dir}")
            sys.exit(130)
        results = final_evaluation(trainer, reason)
    finally:
        trainer.close()
        dist.destroy_distributed()
    return results


def tune_process(trainer: Trainer) -> None:
    """Process-wide settings for a process that only trains: on the CPU, glibc's malloc keeps freed
    memory for reuse (``trainer.keep_freed_memory``)."""
    if trainer.device.type == "cpu" and trainer.tc.keep_freed_memory and not keep_freed_memory():
        log.info("trainer.keep_freed_memory: no glibc malloc here; the allocator is left as it is")


def final_evaluation(trainer: Trainer, reason: str) -> dict:
    """Write results.json: how training ended (steps, time, the bound that stopped it, the best valid
    score) and, with ``trainer.test_at_end``, the test scores of the model chosen on valid between
    best.pt and the average of the last N step checkpoints (``mt.train.final``). Every rank decodes a
    share of the test sentences; rank 0 scores them, writes results.json and returns the results."""
    test = score_test(trainer.eval_context, trainer.validator, trainer.ckpt_dir, trainer.best_score,
                      trainer.step, trainer.run_dir) if trainer.tc.test_at_end else {}
    results: dict = {}
    if trainer.info.is_main:
        stop = trainer.stop
        results = {"name": trainer.cfg.name, "steps": trainer.step, "epoch": trainer.epoch, "stop_reason": reason,
                   "stop_bound": stop.get("bound"), "schedule_progress": stop.get("schedule_progress"),
                   "schedule_cut_short": stop.get("schedule_cut_short"),
                   "train_time_s": round(trainer.train_time_s, 1), "best_valid": trainer.best_score,
                   "best_metric": trainer.tc.best_metric, "budget_dropout": trainer.dropout_choice, **test}
        write_json(trainer.run_dir / "results.json", results)
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results
