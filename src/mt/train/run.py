"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.decode.run import write_text_lines
from mt.train.trainer import Trainer
from mt.train.validate import score_split
from mt.utils import dist
from mt.utils.io import write_json
from mt.utils.logging import get_logger, setup_logging

log = get_logger(__name__)


def run(cfg: TrainConfig) -> dict:
    """Train (or resume) the run in ``cfg.run_dir``, then score the test split with the best model."""
    run_dir = Path(cfg.run_dir)
    setup_logging(run_dir / "train.log")
    log.info("run dir: %s", run_dir.resolve())
    trainer = Trainer(cfg, run_dir)
    try:
        reason = trainer.train()
        if reason == "signal":
            log.warning("stopped by a signal; resume with the same run dir: python train.py %s",
                        f"hydra.run.dir={run_dir}")
            sys.exit(130)
        results = final_evaluation(trainer, reason) if cfg.trainer.test_at_end else {}
    finally:
        trainer.close()
        dist.destroy_distributed()
    return results


def final_evaluation(trainer: Trainer, reason: str) -> dict:
    """Score best.pt (and the average of the last N step checkpoints) on the test split. Every rank
    decodes a share of the sentences; rank 0 scores them, writes results.json and returns the results."""
    results: dict = {}
    ckpt_dir, tc = trainer.ckpt_dir, trainer.tc
    best = ckpt_dir / ckpt.BEST if (ckpt_dir / ckpt.BEST).is_file() else ckpt_dir / ckpt.LAST
    _load_weights(trainer, lambda: ckpt.load_checkpoint(best)["model"])
    test = score_split(trainer, "test")
    averaged = _score_average(trainer) if tc.average_last > 1 else None
    if trainer.info.is_main:
        s = test["scores"]
        results = {
            "name": trainer.cfg.name, "checkpoint": str(best), "split": "test",
            "bleu": s["bleu"], "chrf": s["chrf"], "ter": s["ter"], "signatures": s["signatures"],
            "num_sentences": s["num_sentences"], "steps": trainer.step, "epoch": trainer.epoch,
            "stop_reason": reason, "train_time_s": round(trainer.train_time_s, 1),
            "best_valid": trainer.best_score, "best_metric": tc.best_metric,
        }
        write_text_lines(str(trainer.run_dir / "test.hyp.txt"), test["hypotheses"])
        if averaged is not None:
            results["averaged"] = averaged
        trainer.writer.scalars("test", {"bleu": s["bleu"], "chrf": s["chrf"]}, trainer.step)
        trainer.writer.hparams(_hparams(trainer), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
        write_json(trainer.run_dir / "results.json", results)
        log.info("test BLEU %.2f chrF %.2f (%s)", s["bleu"], s["chrf"], s["signatures"]["bleu"])
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results


def _load_weights(trainer: Trainer, load: Callable[[], dict]) -> None:
    """Rank 0 loads the weights (only it is sure to see the checkpoints) and sends them to the others."""
    if trainer.info.is_main:
        trainer.model.load_state_dict(load())
    dist.broadcast_tensors(trainer.model.state_dict().values())


def _score_average(trainer: Trainer) -> dict | None:
    """Average the last N step checkpoints (rank 0 writes it) and score it; the scores on rank 0."""
    paths = ckpt.list_step_checkpoints(trainer.ckpt_dir)[-trainer.tc.average_last:] if trainer.info.is_main else []
    out = trainer.ckpt_dir / f"averaged_last{len(paths)}.pt"

    def average() -> dict:
        averaged = ckpt.average_checkpoints(paths)
        ckpt.save_checkpoint(averaged, out)
        return averaged["model"]

    _load_weights(trainer, average)
    test = score_split(trainer, "test")
    if test is None:
        return None
    s = test["scores"]
    log.info("averaged last %d checkpoints: test BLEU %.2f chrF %.2f", len(paths), s["bleu"], s["chrf"])
    return {"checkpoint": str(out), "num_checkpoints": len(paths), "bleu": s["bleu"], "chrf": s["chrf"]}


def _hparams(trainer: Trainer) -> dict:
    flat: dict = {}
    for group in ("model", "optim", "trainer"):
        for key, value in to_dict(getattr(trainer.cfg, group)).items():
            flat[f"{group}.{key}"] = value
    flat["name"] = trainer.cfg.name
    return flat
