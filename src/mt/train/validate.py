"""Validation during training (loss, perplexity, beam-search BLEU) and the final test scoring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from mt.config import DecodeConfig, TrainConfig
from mt.data.batching import batch_by_tokens
from mt.data.collate import collate
from mt.data.prepare import PreparedData
from mt.data.tokenizer import Tokenizer
from mt.decode.run import translate_lines
from mt.eval.metrics import score_corpus
from mt.model.transformer import Transformer
from mt.train.loss import perplexity, projected_label_smoothed_nll
from mt.train.metrics import MetricsWriter
from mt.utils import dist
from mt.utils.logging import get_logger
from mt.utils.text import read_text_lines

log = get_logger(__name__)


@dataclass
class EvalContext:
    """What validation and the final test need of a run, and nothing of the training loop."""

    cfg: TrainConfig
    model: Transformer
    """The plain model (not a DDP or compile wrapper): decoding calls its encode/decode."""
    tokenizer: Tokenizer
    data: PreparedData
    device: torch.device
    autocast: Callable[[], AbstractContextManager]
    writer: MetricsWriter
    pad_to_multiple: int
    elapsed_s: Callable[[], float]
    """Seconds of training so far (the x of the quality-against-time curve)."""


class Validator:
    """Scores the model on the valid split: every rank computes the loss of a share of the batches
    and decodes a share of the BLEU sentences; the loss sums are added across ranks and rank 0's
    BLEU is sent to all, so every rank holds the same metrics and takes the same patience decision."""

    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        data, lang, tc = ctx.data, ctx.cfg.data, ctx.cfg.trainer
        self.valid = data.split("valid")
        self.batches = batch_by_tokens(self.valid.src_lengths, self.valid.tgt_lengths, tc.max_tokens,
                                       pad_to_multiple=ctx.pad_to_multiple)
        slices = data.pair_slices("valid")
        n = max(1, tc.valid_bleu_max_sentences // len(slices))  # an equal share of each pair
        src = read_text_lines(str(data.text_path("valid", lang.src_lang)))
        ref = read_text_lines(str(data.reference_path("valid")))
        self.src_lines, self.ref_lines, self.parts = [], [], []
        for pair, start, end in slices:
            take = min(end, start + n)
            self.parts.append((pair, len(self.src_lines), len(self.src_lines) + take - start))
            self.src_lines += src[start:take]
            self.ref_lines += ref[start:take]

    @torch.no_grad()
    def loss(self) -> dict[str, float]:
        """Loss, nll and perplexity per target token of the valid split; rank r of W scores batches
        r, r + W, ... and the sums are reduced, so all ranks return the same numbers."""
        ctx, tok = self.ctx, self.ctx.tokenizer
        ctx.model.eval()
        sums, tokens = torch.zeros(2, device=ctx.device), 0  # loss, nll: read once at the end
        for indices in self.batches[dist.get_rank()::dist.get_world_size()]:
            batch = collate([self.valid[int(i)] for i in indices], indices, pad_id=tok.pad_id, bos_id=tok.bos_id,
                            eos_id=tok.eos_id, pad_to_multiple=ctx.pad_to_multiple).to(ctx.device)
            with ctx.autocast():
                hidden = ctx.model(batch.src_tokens, batch.tgt_in, features_only=True)
                loss, nll = projected_label_smoothed_nll(hidden, ctx.model.output_weight, batch.tgt_out,
                                                         bias=ctx.model.output_bias,
                                                         rows=batch.tgt_rows, pad_id=tok.pad_id,
                                                         epsilon=ctx.cfg.optim.label_smoothing)
            sums += torch.stack([loss, nll])
            tokens += batch.num_tgt_tokens
        loss_sum, nll_sum, tokens = dist.all_reduce_sum([*sums.tolist(), tokens])
        return {"loss": loss_sum / tokens, "nll": nll_sum / tokens, "ppl": perplexity(nll_sum / tokens)}

    def run(self, step: int) -> dict[str, float]:
        """Valid loss/ppl (and BLEU/chrF when enabled), logged to TensorBoard and the console, with the
        minutes of training (validation and checkpoints included) that the model took to get here."""
        minutes = self.ctx.elapsed_s() / 60
        metrics = self.evaluate(samples_step=step)
        metrics["minutes"] = minutes  # x of the quality-against-time curve (compare_runs.py --curve)
        self.ctx.writer.scalars("valid", metrics, step)
        log.info("valid step %d | %s", step, " | ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        return metrics

    def evaluate(self, samples_step: int | None = None) -> dict[str, float]:
        """The model's valid loss/ppl, and BLEU/chrF when enabled; the same on every rank (all must
        call it). With ``samples_step``, sample translations go to TensorBoard at that step."""
        ctx, metrics = self.ctx, self.loss()
        if ctx.cfg.trainer.valid_bleu:
            hyps = translate_across_ranks(ctx.model, ctx.tokenizer, self.src_lines, ctx.cfg.decode)
            scores = None
            if hyps is not None:  # rank 0
                scores = score_pairs(hyps, self.ref_lines, self.parts, ctx.cfg.data.tgt_lang, tokenized=False)
                if samples_step is not None:
                    self._samples(hyps, samples_step)
            scores = dist.broadcast_object(scores)
            metrics.update(bleu=scores["bleu"], chrf=scores["chrf"])
            if len(self.parts) > 1:  # each pair's, beside their mean
                metrics.update({f"{m}_{pair}": s[m] for pair, s in scores["pairs"].items() for m in ("bleu", "chrf")})
        return metrics

    def _samples(self, hyps: list[str], step: int) -> None:
        k = self.ctx.cfg.trainer.num_sample_translations
        rows = [f"**src:** {s}  \n**ref:** {r}  \n**hyp:** {h}"
                for s, r, h in zip(self.src_lines[:k], self.ref_lines[:k], hyps[:k], strict=False)]
        if rows:
            self.ctx.writer.text("valid/samples", "\n\n".join(rows), step)


def score_pairs(hyps: Sequence[str], refs: Sequence[str], parts: Sequence[tuple[str, int, int]], tgt_lang: str,
                *, tokenized: bool) -> dict:
    """sacreBLEU scores of ``hyps``: for one pair, ``score_corpus``'s; for several (``data.pairs``), each
    pair's ``(pair, start, end)`` slice scored with its target language under ``pairs``, and the mean
    BLEU and chrF of the pairs (what ranks models on valid) at the top."""
    if len(parts) == 1:
        return score_corpus(hyps, refs, tgt_lang, tokenized=tokenized)
    pairs = {pair: score_corpus(hyps[a:b], refs[a:b], pair.split("-")[1], tokenized=tokenized)
             for pair, a, b in parts}
    means = {m: sum(s[m] for s in pairs.values()) / len(pairs) for m in ("bleu", "chrf", "ter")}
    return {**means, "pairs": pairs, "signatures": {"bleu": "mean over pairs of each pair's sacreBLEU"}}


def validation_score(metrics: dict[str, float], best_metric: str) -> float:
    """The number that ranks models on valid, higher is better: BLEU with ``best_metric=bleu`` (when
    BLEU was computed), else the negated loss."""
    return metrics["bleu"] if best_metric == "bleu" and "bleu" in metrics else -metrics["loss"]


def translate_across_ranks(model: torch.nn.Module, tokenizer: Tokenizer, lines: Sequence[str],
                           decode_cfg: DecodeConfig, *, progress: bool = False) -> list[str] | None:
    """Translate ``lines`` with every rank decoding a share; rank 0 gets all translations in input
    order, the other ranks ``None``. Every rank must call it.

    Rank ``r`` of ``W`` decodes lines ``r, r + W, r + 2W, ...``: a strided share mixes short and long
    sentences, so the ranks finish at about the same time.
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    mine = translate_lines([model], tokenizer, list(lines[rank::world_size]), decode_cfg,
                           progress=progress and rank == 0)
    shares = dist.all_gather_object(mine)
    if rank != 0:
        return None
    hyps: list[str] = [""] * len(lines)
    for r, share in enumerate(shares):
        hyps[r::world_size] = share
    return hyps


def score_split(ctx: EvalContext, split: str) -> dict | None:
    """Decode a whole split with the beam decoder, a share on every rank (all must call it), and score
    it on rank 0 against the split's references as the source holds them (sacreBLEU BLEU, chrF, TER +
    signatures, and the papers' tokenized BLEU). Returns the scores and hypotheses on rank 0, else None."""
    data, lang = ctx.data, ctx.cfg.data
    src = read_text_lines(str(data.text_path(split, lang.src_lang)))
    hyps = translate_across_ranks(ctx.model, ctx.tokenizer, src, ctx.cfg.decode, progress=ctx.cfg.trainer.progress)
    if hyps is None:
        return None
    ref = read_text_lines(str(data.reference_path(split)))
    scores = score_pairs(hyps, ref, data.pair_slices(split), lang.tgt_lang, tokenized=True)
    scores["num_sentences"] = len(src)
    return {"scores": scores, "hypotheses": hyps}
