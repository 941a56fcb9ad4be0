"""The train.py job: init -> train -> test -> results.json, always closing down cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.decode.run import read_text_lines, write_text_lines
from mt.eval.metrics import character_loop_lines
from mt.train.trainer import Trainer
from mt.train.validate import score_split, validation_score
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
    best.pt and the average of the last N step checkpoints (``choose_on_valid``). Every rank decodes a share of the test sentences; rank 0
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
            "budget_dropout": trainer.dropout_choice,
            **test,
        }
        write_json(trainer.run_dir / "results.json", results)
        log.info("wrote %s", trainer.run_dir / "results.json")
    dist.barrier()
    return results


@dataclass
class Candidate:
    """A model the final test may score: a checkpoint file and its validation score (higher is better;
    None until validated)."""

    path: Path
    load: Callable[[], dict]
    valid: float | None = None


def _score_test(trainer: Trainer) -> dict:
    """Score on the test split the model chosen on valid (``choose_on_valid``); a collective: every
    rank decodes its share. The scores on rank 0, an empty dict elsewhere."""
    chosen, choice = choose_on_valid(trainer)
    _load_weights(trainer, chosen.load)
    test = score_split(trainer, "test")
    if not trainer.info.is_main:
        return {}
    s = test["scores"]
    results = {
        "checkpoint": str(chosen.path), "chosen": choice, "split": "test",
        "bleu": s["bleu"], "chrf": s["chrf"], "ter": s["ter"], "bleu_tokenized": s["bleu_tokenized"],
        "signatures": s["signatures"], "num_sentences": s["num_sentences"],
        "character_loops": _character_loops(trainer, "test", test["hypotheses"]),
    }
    write_text_lines(str(trainer.run_dir / "test.hyp.txt"), test["hypotheses"])
    trainer.writer.scalars("test", {k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized")}, trainer.step)
    trainer.writer.hparams(_hparams(trainer), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
    log.info("test BLEU %.2f chrF %.2f (%s); tokenized BLEU %.2f (%s)", s["bleu"], s["chrf"],
             s["signatures"]["bleu"], s["bleu_tokenized"], s["signatures"]["bleu_tokenized"])
    return results


def choose_on_valid(trainer: Trainer) -> tuple[Candidate, dict]:
    """The model to test: best.pt (else last.pt) or, with ``trainer.average_last=N``, the average of
    the last N step checkpoints, whichever scores higher on valid by ``trainer.best_metric`` (a tie
    keeps best.pt). best.pt's score is the one it was kept for; the others are validated here, on
    every rank. Returns the chosen candidate and what results.json records of the choice."""
    ckpt_dir, metric = trainer.ckpt_dir, trainer.tc.best_metric
    best = ckpt_dir / ckpt.BEST
    candidates = [Candidate(best, lambda: ckpt.load_checkpoint(best)["model"], trainer.best_score)
                  if best.is_file() and trainer.best_score is not None else
                  Candidate(ckpt_dir / ckpt.LAST, lambda: ckpt.load_checkpoint(ckpt_dir / ckpt.LAST)["model"])]
    if trainer.tc.average_last > 1:
        averaged = dist.broadcast_object(_average_last(trainer) if trainer.info.is_main else None)
        if averaged is not None:
            candidates.append(Candidate(averaged, lambda: ckpt.load_checkpoint(averaged)["model"]))
    if len(candidates) == 1:
        return candidates[0], {"checkpoint": candidates[0].path.name, "why": "the only candidate"}
    for candidate in candidates:
        if candidate.valid is None:
            _load_weights(trainer, candidate.load)
            candidate.valid = validation_score(trainer.validator.evaluate(), metric)
    chosen = max(candidates, key=lambda c: c.valid)  # the first of equals: best.pt
    by = "BLEU" if metric == "bleu" and trainer.tc.valid_bleu else "loss"
    shown = {c.path.name: round(c.valid if by == "BLEU" else -c.valid, 4) for c in candidates}
    others = ", ".join(f"{name}'s {value:.4g}" for name, value in shown.items() if name != chosen.path.name)
    why = f"{chosen.path.name} scored {shown[chosen.path.name]:.4g} valid {by} against {others}"
    log.info("final model, chosen on valid: %s", why)
    return chosen, {"checkpoint": chosen.path.name, "by": f"valid {by}", "valid": shown, "why": why}


def _average_last(trainer: Trainer) -> Path | None:
    """Average the last ``trainer.average_last`` step checkpoints into averaged_last<N>.pt (rank 0);
    None with fewer than two."""
    paths = ckpt.list_step_checkpoints(trainer.ckpt_dir)[-trainer.tc.average_last:]
    if len(paths) < 2:
        return None
    out = trainer.ckpt_dir / f"averaged_last{len(paths)}.pt"
    ckpt.save_checkpoint(ckpt.average_checkpoints(paths), out)
    log.info("averaged the last %d checkpoints into %s", len(paths), out)
    return out


def _character_loops(trainer: Trainer, split: str, hyps: list[str]) -> int:
    """Hypotheses that repeat a character 5+ times where their source does not (decoder loops)."""
    src = read_text_lines(str(trainer.data.text_path(split, trainer.cfg.data.src_lang)))
    return len(character_loop_lines(src, hyps))


def _load_weights(trainer: Trainer, load: Callable[[], dict]) -> None:
    """Rank 0 loads the weights (only it is sure to see the checkpoints) and sends them to the others."""
    if trainer.info.is_main:
        trainer.model.load_state_dict(load())
    dist.broadcast_tensors(trainer.model.state_dict().values())


def _hparams(trainer: Trainer) -> dict:
    flat: dict = {}
    for group in ("model", "optim", "trainer"):
        for key, value in to_dict(getattr(trainer.cfg, group)).items():
            flat[f"{group}.{key}"] = value
    flat["name"] = trainer.cfg.name
    return flat
