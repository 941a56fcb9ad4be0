"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
from pathlib import Path

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.decode.run import read_text_lines, write_text_lines
from mt.eval.metrics import character_loop_lines
from mt.train.trainer import Trainer
from mt.train.validate import score_split
from mt.utils import dist
from mt.utils.io import write_json
from mt.utils.logging import get_logger, setup_logging

log = get_logger(__name__)


def run(cfg: TrainConfig) -> dict:
    """Train (or resume) the run in ``cfg.run_dir``, then score the test split with the best model
    (``trainer.test_at_end``) and write results.json."""
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
        results = final_evaluation(trainer, reason)
    finally:
        trainer.close()
        dist.destroy_distributed()
    return results


def final_evaluation(trainer: Trainer, reason: str) -> dict:
    """Write results.json: how training ended (steps, time, the bound that stopped it, the best valid
    score) and, with ``trainer.test_at_end``, best.pt (and the average of the last N step
    checkpoints) scored on the test split."""
    results: dict = {}
    if trainer.info.is_main:
        tc = trainer.tc
        results = {
            "name": trainer.cfg.name, "steps": trainer.step, "epoch": trainer.epoch,
            "stop_reason": reason, "stop_bound": trainer.stop.get("bound"),
            "schedule_progress": trainer.stop.get("schedule_progress"),
            "schedule_cut_short": trainer.stop.get("schedule_cut_short"),
            "train_time_s": round(trainer.train_time_s, 1),
            "best_valid": trainer.best_score, "best_metric": tc.best_metric,
        }
        if tc.test_at_end:
            results.update(_score_test(trainer))
        write_json(trainer.run_dir / "results.json", results)
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results


def _score_test(trainer: Trainer) -> dict:
    ckpt_dir = trainer.ckpt_dir
    best = ckpt_dir / ckpt.BEST if (ckpt_dir / ckpt.BEST).is_file() else ckpt_dir / ckpt.LAST
    trainer.model.load_state_dict(ckpt.load_checkpoint(best)["model"])
    test = score_split(trainer, "test")
    s = test["scores"]
    results = {
        "checkpoint": str(best), "split": "test",
        "bleu": s["bleu"], "chrf": s["chrf"], "ter": s["ter"], "signatures": s["signatures"],
        "num_sentences": s["num_sentences"],
        "character_loops": _character_loops(trainer, "test", test["hypotheses"]),
    }
    write_text_lines(str(trainer.run_dir / "test.hyp.txt"), test["hypotheses"])
    if trainer.tc.average_last > 1:
        results["averaged"] = _score_average(trainer)
    trainer.writer.scalars("test", {"bleu": s["bleu"], "chrf": s["chrf"]}, trainer.step)
    trainer.writer.hparams(_hparams(trainer), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
    log.info("test BLEU %.2f chrF %.2f (%s)", s["bleu"], s["chrf"], s["signatures"]["bleu"])
    return results


def _character_loops(trainer: Trainer, split: str, hyps: list[str]) -> int:
    """Hypotheses that repeat a character 5+ times where their source does not (decoder loops)."""
    src = read_text_lines(str(trainer.data.text_path(split, trainer.cfg.data.src_lang)))
    return len(character_loop_lines(src, hyps))


def _score_average(trainer: Trainer) -> dict:
    paths = ckpt.list_step_checkpoints(trainer.ckpt_dir)[-trainer.tc.average_last:]
    averaged = ckpt.average_checkpoints(paths)
    out = trainer.ckpt_dir / f"averaged_last{len(paths)}.pt"
    ckpt.save_checkpoint(averaged, out)
    trainer.model.load_state_dict(averaged["model"])
    s = score_split(trainer, "test")["scores"]
    log.info("averaged last %d checkpoints: test BLEU %.2f chrF %.2f", len(paths), s["bleu"], s["chrf"])
    return {"checkpoint": str(out), "num_checkpoints": len(paths), "bleu": s["bleu"], "chrf": s["chrf"]}


def _hparams(trainer: Trainer) -> dict:
    flat: dict = {}
    for group in ("model", "optim", "trainer"):
        for key, value in to_dict(getattr(trainer.cfg, group)).items():
            flat[f"{group}.{key}"] = value
    flat["name"] = trainer.cfg.name
    return flat
