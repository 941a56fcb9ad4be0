"""Validation during training (loss, perplexity, beam-search BLEU) and the final test scoring."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mt.data.batching import batch_by_tokens
from mt.data.collate import collate
from mt.decode.run import read_text_lines, translate_lines
from mt.eval.metrics import score_corpus
from mt.train.loss import perplexity, projected_label_smoothed_nll
from mt.utils import dist
from mt.utils.logging import get_logger

if TYPE_CHECKING:
    from mt.train.trainer import Trainer

log = get_logger(__name__)


class Validator:
    """Scores the model on the valid split; every rank computes the loss, rank 0 decodes for BLEU."""

    def __init__(self, trainer: Trainer):
        self.t = trainer
        data, lang = trainer.data, trainer.cfg.data
        self.valid = data.split("valid")
        self.batches = batch_by_tokens(self.valid.src_lengths, self.valid.tgt_lengths, trainer.tc.max_tokens)
        n = trainer.tc.valid_bleu_max_sentences
        self.src_lines = read_text_lines(str(data.text_path("valid", lang.src_lang)))[:n]
        self.ref_lines = read_text_lines(str(data.reference_path("valid")))[:n]

    @torch.no_grad()
    def loss(self) -> dict[str, float]:
        t, tok = self.t, self.t.tokenizer
        t.model.eval()
        loss_sum = nll_sum = tokens = 0.0
        for indices in self.batches:
            batch = collate([self.valid[int(i)] for i in indices], indices, pad_id=tok.pad_id,
                            bos_id=tok.bos_id, eos_id=tok.eos_id).to(t.device)
            with t.autocast():
                hidden = t.model(batch.src_tokens, batch.tgt_in, features_only=True)
                loss, nll = projected_label_smoothed_nll(hidden, t.model.output_weight, batch.tgt_out,
                                                         epsilon=t.cfg.optim.label_smoothing, pad_id=tok.pad_id)
            loss_sum, nll_sum, tokens = loss_sum + loss.item(), nll_sum + nll.item(), tokens + batch.num_tgt_tokens
        return {"loss": loss_sum / tokens, "nll": nll_sum / tokens, "ppl": perplexity(nll_sum / tokens)}

    def run(self, step: int) -> dict[str, float]:
        """Valid loss/ppl (and BLEU/chrF when enabled), logged to TensorBoard and the console."""
        metrics = self.loss()
        if self.t.tc.valid_bleu:
            scores = None
            if self.t.info.is_main:
                hyps = translate_lines([self.t.model], self.t.tokenizer, self.src_lines, self.t.cfg.decode)
                scores = score_corpus(hyps, self.ref_lines)
                self._samples(hyps, step)
            scores = dist.broadcast_object(scores)
            metrics.update(bleu=scores["bleu"], chrf=scores["chrf"])
        self.t.writer.scalars("valid", metrics, step)
        log.info("valid step %d | %s", step, " | ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        return metrics

    def _samples(self, hyps: list[str], step: int) -> None:
        k = self.t.tc.num_sample_translations
        rows = [f"**src:** {s}  \n**ref:** {r}  \n**hyp:** {h}"
                for s, r, h in zip(self.src_lines[:k], self.ref_lines[:k], hyps[:k], strict=False)]
        if rows:
            self.t.writer.text("valid/samples", "\n\n".join(rows), step)


def score_split(trainer: Trainer, split: str, model: torch.nn.Module | None = None) -> dict:
    """Decode a whole split with the beam decoder and score it against the split's references as the
    source holds them (sacreBLEU BLEU, chrF, TER + signatures, and the papers' tokenized BLEU)."""
    data, lang = trainer.data, trainer.cfg.data
    src = read_text_lines(str(data.text_path(split, lang.src_lang)))
    ref = read_text_lines(str(data.reference_path(split)))
    hyps = translate_lines([model or trainer.model], trainer.tokenizer, src, trainer.cfg.decode,
                           progress=trainer.tc.progress)
    scores = score_corpus(hyps, ref, lang=lang.tgt_lang)
    scores["num_sentences"] = len(src)
    return {"scores": scores, "hypotheses": hyps}
