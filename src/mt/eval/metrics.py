"""Corpus-level BLEU, chrF and TER with sacreBLEU, each with its signature (what makes it comparable).

Scores are computed on detokenized text against raw references, sacreBLEU's default settings: BLEU
with its ``13a`` tokenizer, chrF with character 6-grams, TER case-insensitive. The signature records
these settings and the sacreBLEU version; report it next to every score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER

from mt.utils.errors import MTError


def score_corpus(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, Any]:
    """Score hypotheses against one reference per line.

    Returns ``{"bleu", "chrf", "ter": float, "signatures": {"bleu", "chrf", "ter": str},
    "bleu_detail": str}`` where ``bleu_detail`` is sacreBLEU's one-line summary (n-gram precisions,
    brevity penalty, lengths).
    """
    if len(hyps) != len(refs):
        raise MTError(f"cannot score {len(hyps)} hypotheses against {len(refs)} references; "
                      f"the files must have one line per sentence")
    if not hyps:
        raise MTError("cannot score an empty test set (no lines to compare)")
    hyps, streams = list(hyps), [list(refs)]
    scores: dict[str, Any] = {"signatures": {}}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        result = metric.corpus_score(hyps, streams)
        scores[name] = float(result.score)
        scores["signatures"][name] = str(metric.get_signature())
        if name == "bleu":
            scores["bleu_detail"] = str(result)
    return scores
