"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
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
    """Score best.pt (and the average of the last N step checkpoints) on the test split."""
    results: dict = {}
    if trainer.info.is_main:
        ckpt_dir, tc = trainer.ckpt_dir, trainer.tc
        best = ckpt_dir / ckpt.BEST if (ckpt_dir / ckpt.BEST).is_file() else ckpt_dir / ckpt.LAST
        trainer.model.load_state_dict(ckpt.load_checkpoint(best)["model"])
        test = score_split(trainer, "test")
        s = test["scores"]
        results = {
            "name": trainer.cfg.name, "checkpoint": str(best), "split": "test",
            "bleu": s["bleu"], "chrf": s["chrf"], "ter": s["ter"], "bleu_tokenized": s["bleu_tokenized"],
            "signatures": s["signatures"],
            "num_sentences": s["num_sentences"], "steps": trainer.step, "epoch": trainer.epoch,
            "stop_reason": reason, "train_time_s": round(trainer.train_time_s, 1),
            "best_valid": trainer.best_score, "best_metric": tc.best_metric,
        }
        write_text_lines(str(trainer.run_dir / "test.hyp.txt"), test["hypotheses"])
        if tc.average_last > 1:
            results["averaged"] = _score_average(trainer)
        trainer.writer.scalars("test", {k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized")}, trainer.step)
        trainer.writer.hparams(_hparams(trainer), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
        write_json(trainer.run_dir / "results.json", results)
        log.info("test BLEU %.2f chrF %.2f (%s); tokenized BLEU %.2f (%s)", s["bleu"], s["chrf"],
                 s["signatures"]["bleu"], s["bleu_tokenized"], s["signatures"]["bleu_tokenized"])
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results


def _score_average(trainer: Trainer) -> dict:
    paths = ckpt.list_step_checkpoints(trainer.ckpt_dir)[-trainer.tc.average_last:]
    averaged = ckpt.average_checkpoints(paths)
    out = trainer.ckpt_dir / f"averaged_last{len(paths)}.pt"
    ckpt.save_checkpoint(averaged, out)
    trainer.model.load_state_dict(averaged["model"])
    s = score_split(trainer, "test")["scores"]
    log.info("averaged last %d checkpoints: test BLEU %.2f chrF %.2f tokenized BLEU %.2f", len(paths),
             s["bleu"], s["chrf"], s["bleu_tokenized"])
    return {"checkpoint": str(out), "num_checkpoints": len(paths),
            **{k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized")}}


def _hparams(trainer: Trainer) -> dict:
    flat: dict = {}
    for group in ("model", "optim", "trainer"):
        for key, value in to_dict(getattr(trainer.cfg, group)).items():
            flat[f"{group}.{key}"] = value
    flat["name"] = trainer.cfg.name
    return flat
