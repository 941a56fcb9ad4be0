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


def character_runs(text: str, min_run: int) -> dict[str, int]:
    """The longest run of each non-space character repeated at least ``min_run`` times in a row."""
    runs: dict[str, int] = {}
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        if j - i >= min_run and not text[i].isspace():
            runs[text[i]] = max(runs.get(text[i], 0), j - i)
        i = j
    return runs


def character_loop_lines(srcs: Sequence[str], hyps: Sequence[str], min_run: int = 5) -> list[int]:
    """Indices of the hypotheses that repeat a character ``min_run`` or more times in a row where the
    source has no such run of that character (``Die Wönnnnnnnnnt``, ``GEEEEEE``): decoder loops, not
    copies of a source's ``zzzzz`` or ``!!!!!``."""
    if len(srcs) != len(hyps):
        raise MTError(f"cannot compare {len(hyps)} hypotheses with {len(srcs)} sources; "
                      f"the files must have one line per sentence")
    return [i for i, (src, hyp) in enumerate(zip(srcs, hyps, strict=True))
            if set(character_runs(hyp, min_run)) - set(character_runs(src, min_run))]
