"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.decode.run import read_text_lines, write_text_lines
from mt.eval.metrics import character_loop_lines
from mt.train.trainer import Trainer
from mt.train.validate import score_split
from mt.utils import dist
from mt.utils.cpu import keep_freed_memory
from mt.utils.io import write_json
from mt.utils.logging import get_logger, setup_logging

log = get_logger(__name__)


def run(cfg: TrainConfig, *, own_process: bool = False) -> dict:
    """Train (or resume) the run in ``cfg.run_dir``, then score the test split with the best model
    (``trainer.test_at_end``) and write results.json.

    ``own_process``: the process exists for this run (train.py), so process-wide settings apply too
    (``trainer.keep_freed_memory``); a notebook or a library caller keeps its process as it was."""
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
    score) and, with ``trainer.test_at_end``, best.pt (and the average of the last N step
    checkpoints) scored on the test split. Every rank decodes a share of the test sentences; rank 0
    scores them, writes results.json and returns the results."""
    test = _score_test(trainer) if trainer.tc.test_at_end else {}
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
            **test,
        }
        write_json(trainer.run_dir / "results.json", results)
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results


def _score_test(trainer: Trainer) -> dict:
    """best.pt (else last.pt) and the average of the last N step checkpoints on the test split; a
    collective: every rank decodes its share. The scores on rank 0, an empty dict elsewhere."""
    ckpt_dir = trainer.ckpt_dir
    best = ckpt_dir / ckpt.BEST if (ckpt_dir / ckpt.BEST).is_file() else ckpt_dir / ckpt.LAST
    _load_weights(trainer, lambda: ckpt.load_checkpoint(best)["model"])
    test = score_split(trainer, "test")
    averaged = _score_average(trainer) if trainer.tc.average_last > 1 else None
    if not trainer.info.is_main:
        return {}
    s = test["scores"]
    results = {
        "checkpoint": str(best), "split": "test",
        "bleu": s["bleu"], "chrf": s["chrf"], "ter": s["ter"], "bleu_tokenized": s["bleu_tokenized"],
        "signatures": s["signatures"], "num_sentences": s["num_sentences"],
        "character_loops": _character_loops(trainer, "test", test["hypotheses"]),
    }
    write_text_lines(str(trainer.run_dir / "test.hyp.txt"), test["hypotheses"])
    if averaged is not None:
        results["averaged"] = averaged
    trainer.writer.scalars("test", {k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized")}, trainer.step)
    trainer.writer.hparams(_hparams(trainer), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
    log.info("test BLEU %.2f chrF %.2f (%s); tokenized BLEU %.2f (%s)", s["bleu"], s["chrf"],
             s["signatures"]["bleu"], s["bleu_tokenized"], s["signatures"]["bleu_tokenized"])
    return results


def _character_loops(trainer: Trainer, split: str, hyps: list[str]) -> int:
    """Hypotheses that repeat a character 5+ times where their source does not (decoder loops)."""
    src = read_text_lines(str(trainer.data.text_path(split, trainer.cfg.data.src_lang)))
    return len(character_loop_lines(src, hyps))


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
