"""The final test: the model chosen on valid, between best.pt and the average of the last step
checkpoints, decoded and scored on the test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mt import checkpoint as ckpt
from mt.config import TrainConfig, to_dict
from mt.eval.metrics import character_loop_lines
from mt.train.validate import EvalContext, Validator, score_split, validation_score
from mt.utils import dist
from mt.utils.logging import get_logger
from mt.utils.text import read_text_lines, write_text_lines

log = get_logger(__name__)


@dataclass
class Candidate:
    """A model the final test may score: a checkpoint file and its validation score (higher is better;
    None until validated)."""

    path: Path
    valid: float | None = None


def score_test(ctx: EvalContext, validator: Validator, ckpt_dir: Path, best_score: float | None,
               step: int, run_dir: Path) -> dict:
    """Score on the test split the model chosen on valid (``choose_on_valid``), write its hypotheses
    to ``run_dir/test.hyp.txt``; a collective: every rank decodes its share. The scores on rank 0,
    an empty dict elsewhere."""
    chosen, choice = choose_on_valid(ctx, validator, ckpt_dir, best_score)
    _load_weights(ctx, chosen.path)
    test = score_split(ctx, "test")
    if not dist.is_main():
        return {}
    s = test["scores"]
    results = {
        "checkpoint": str(chosen.path), "chosen": choice, "split": "test",
        **{k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized", "signatures", "num_sentences") if k in s},
        "character_loops": _character_loops(ctx, "test", test["hypotheses"]),
    }
    write_text_lines(str(run_dir / "test.hyp.txt"), test["hypotheses"])
    ctx.writer.scalars("test", {k: s[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized") if k in s}, step)
    ctx.writer.hparams(_hparams(ctx.cfg), {"test_bleu": s["bleu"], "test_chrf": s["chrf"]})
    if "pairs" in s:  # data.pairs: each pair's scores, and their mean above
        results["pairs"] = {pair: {k: p[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized", "signatures")}
                            for pair, p in s["pairs"].items()}
        for pair, p in s["pairs"].items():
            ctx.writer.scalars(f"test/{pair}", {k: p[k] for k in ("bleu", "chrf")}, step)
            log.info("test %s: BLEU %.2f chrF %.2f (%s)", pair, p["bleu"], p["chrf"], p["signatures"]["bleu"])
        log.info("test, mean of %d pairs: BLEU %.2f chrF %.2f", len(s["pairs"]), s["bleu"], s["chrf"])
        return results
    log.info("test BLEU %.2f chrF %.2f (%s); tokenized BLEU %.2f (%s)", s["bleu"], s["chrf"],
             s["signatures"]["bleu"], s["bleu_tokenized"], s["signatures"]["bleu_tokenized"])
    return results


def choose_on_valid(ctx: EvalContext, validator: Validator, ckpt_dir: Path,
                    best_score: float | None) -> tuple[Candidate, dict]:
    """The model to test: best.pt (else last.pt) or, with ``trainer.average_last=N``, the average of
    the last N step checkpoints, whichever scores higher on valid by ``trainer.best_metric`` (a tie
    keeps best.pt). best.pt's score is the one it was kept for; the others are validated here, on
    every rank. Returns the chosen candidate and what results.json records of the choice."""
    tc = ctx.cfg.trainer
    best = ckpt_dir / ckpt.BEST
    candidates = [Candidate(best, best_score) if best.is_file() and best_score is not None else
                  Candidate(ckpt_dir / ckpt.LAST)]
    if tc.average_last > 1:
        averaged = dist.broadcast_object(_average_last(ckpt_dir, tc.average_last) if dist.is_main() else None)
        if averaged is not None:
            candidates.append(Candidate(averaged))
    if len(candidates) == 1:
        return candidates[0], {"checkpoint": candidates[0].path.name, "why": "the only candidate"}
    for candidate in candidates:
        if candidate.valid is None:
            _load_weights(ctx, candidate.path)
            candidate.valid = validation_score(validator.evaluate(), tc.best_metric)
    chosen = max(candidates, key=lambda c: c.valid)  # the first of equals: best.pt
    by = "BLEU" if tc.best_metric == "bleu" and tc.valid_bleu else "loss"
    shown = {c.path.name: round(c.valid if by == "BLEU" else -c.valid, 4) for c in candidates}
    others = ", ".join(f"{name}'s {value:.4g}" for name, value in shown.items() if name != chosen.path.name)
    why = f"{chosen.path.name} scored {shown[chosen.path.name]:.4g} valid {by} against {others}"
    log.info("final model, chosen on valid: %s", why)
    return chosen, {"checkpoint": chosen.path.name, "by": f"valid {by}", "valid": shown, "why": why}


def _average_last(ckpt_dir: Path, n: int) -> Path | None:
    """Average the last ``n`` step checkpoints into averaged_last<n>.pt (rank 0); None with fewer
    than two."""
    paths = ckpt.list_step_checkpoints(ckpt_dir)[-n:]
    if len(paths) < 2:
        return None
    out = ckpt_dir / f"averaged_last{len(paths)}.pt"
    ckpt.save_checkpoint(ckpt.average_checkpoints(paths), out)
    log.info("averaged the last %d checkpoints into %s", len(paths), out)
    return out


def _character_loops(ctx: EvalContext, split: str, hyps: list[str]) -> int:
    """Hypotheses that repeat a character 5+ times where their source does not (decoder loops)."""
    src = read_text_lines(str(ctx.data.text_path(split, ctx.cfg.data.src_lang)))
    return len(character_loop_lines(src, hyps))


def _load_weights(ctx: EvalContext, path: Path) -> None:
    """Rank 0 loads the weights of checkpoint ``path`` (only it is sure to see the checkpoints) and
    sends them to the others."""
    if dist.is_main():
        ctx.model.load_state_dict(ckpt.load_checkpoint(path)["model"])
    dist.broadcast_tensors(ctx.model.state_dict().values())


def _hparams(cfg: TrainConfig) -> dict:
    flat: dict = {}
    for group in ("model", "optim", "trainer"):
        for key, value in to_dict(getattr(cfg, group)).items():
            flat[f"{group}.{key}"] = value
    flat["name"] = cfg.name
    return flat
