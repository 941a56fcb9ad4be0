"""Corpus-level BLEU, chrF and TER with sacreBLEU, each with its signature, and the papers' tokenized BLEU.

Primary scores are computed on detokenized hypotheses against the references exactly as the test set
holds them, with sacreBLEU's default settings for the target language: BLEU with its ``13a`` tokenizer,
or ``zh``, ``ja-mecab``, ``ko-mecab`` for Chinese, Japanese and Korean (``mt.utils.languages``; what
``sacrebleu -l en-zh`` picks), chrF with character 6-grams, TER case-insensitive. The signature
records these settings and the sacreBLEU version; report it next to every score.

``tokenized_bleu`` is the figure most Transformer papers report (Vaswani et al. 2017, Ott et al. 2018):
hypothesis and reference are tokenized with the Moses tokenizer (``tokenizer.perl -l LANG``, here its
port ``sacremoses``), German compounds are split as ``a ##AT##-##AT## b`` (tensor2tensor's
``get_ende_bleu.sh``, fairseq's ``compound_split_bleu.sh``), and BLEU is taken over whitespace tokens,
case-sensitive and unsmoothed, as ``multi-bleu.perl`` does. It runs 0.5-1 point above sacreBLEU on
newstest2014 en-de and is comparable only with other tokenized figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER

from mt.utils.errors import MTError
from mt.utils.languages import Language, language

_COMPOUND = re.compile(r"(\S)-(\S)")


CORPUS_METRICS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
"""The sacreBLEU corpus metrics ``score_corpus`` computes, by the name its result carries the score and
signature under (a sacreBLEU ``Metric`` class: ``corpus_score``, ``get_signature``)."""


def score_corpus(hyps: Sequence[str], refs: Sequence[str], lang: str | None = None, *,
                 tokenized: bool = True) -> dict[str, Any]:
    """Score hypotheses against one reference per line (the references as the test set has them).

    Returns ``{"bleu", "chrf", "ter": float, "signatures": {"bleu", "chrf", "ter": str},
    "bleu_detail": str}`` where ``bleu_detail`` is sacreBLEU's one-line summary (n-gram precisions,
    brevity penalty, lengths). The target language ``lang`` picks BLEU's tokenizer; with it (and
    ``tokenized``) the result also holds ``bleu_tokenized`` (see ``tokenized_bleu``) and its signature
    under ``signatures["bleu_tokenized"]``.
    """
    _check_lines(hyps, refs)
    hyps, streams = list(hyps), [list(refs)]
    scores: dict[str, Any] = {"signatures": {}}
    target = language(lang)
    options = {"bleu": {"tokenize": target.bleu_tokenizer}}  # what `sacrebleu -l SRC-TGT` picks
    for name, metric_class in CORPUS_METRICS.items():
        metric = _metric(metric_class, target, **options.get(name, {}))
        result = metric.corpus_score(hyps, streams)
        scores[name] = float(result.score)
        scores["signatures"][name] = str(metric.get_signature())
        if name == "bleu":
            scores["bleu_detail"] = str(result)
    if lang is not None and tokenized:
        score, signature = tokenized_bleu(hyps, refs, lang)
        scores["bleu_tokenized"] = score
        scores["signatures"]["bleu_tokenized"] = signature
    return scores


def _metric(metric_class: type, target: Language, **options: Any) -> Any:
    """A sacreBLEU metric; a tokenizer whose package is missing is a one-line error naming the extra."""
    try:
        return metric_class(**options)
    except (ImportError, ModuleNotFoundError, RuntimeError) as e:
        hint = f'pip install -e ".[{target.extra}]"' if target.extra else "its package"
        detail = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise MTError(f"BLEU for {target.code!r} targets uses sacreBLEU's {options.get('tokenize')!r} tokenizer, "
                      f"which needs {hint} ({detail})") from None


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


def tokenized_bleu(hyps: Sequence[str], refs: Sequence[str], lang: str) -> tuple[float, str]:
    """The papers' BLEU of detokenized ``hyps`` against ``refs`` in language ``lang``, and its signature.

    Both sides are Moses-tokenized (with its default escaping, e.g. ``"`` -> ``&quot;``, which renames
    tokens identically on both sides), compounds are split for German targets, and BLEU counts
    whitespace tokens. The signature is sacreBLEU's for ``tok:none`` prefixed with what was done
    before it, e.g. ``moses(de)+compound-split|nrefs:1|case:mixed|eff:no|tok:none|smooth:none|...``.
    """
    _check_lines(hyps, refs)
    lang = language(lang).code or lang  # Moses knows ISO 639-1 codes: ``deu`` -> ``de``
    split = language(lang).compound_split
    tok_hyps = [paper_tokenize(h, lang, split) for h in hyps]
    tok_refs = [paper_tokenize(r, lang, split) for r in refs]
    metric = BLEU(tokenize="none", smooth_method="none", force=True)
    score = float(metric.corpus_score(tok_hyps, [tok_refs]).score)
    steps = f"moses({lang})" + ("+compound-split" if split else "")
    return score, f"{steps}|{metric.get_signature()}"


def paper_tokenize(text: str, lang: str, compound_split: bool) -> str:
    """Moses-tokenize one sentence (``tokenizer.perl -l lang``) and optionally split its compounds.

    E.g. ``'Das Rich-Text-Format, "neu".'`` in German gives
    ``'Das Rich ##AT##-##AT## Text ##AT##-##AT## Format , &quot; neu &quot; .'``. Like the Perl
    one-liner ``s{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g`` the split does not overlap: ``a-b-c`` gives
    ``a ##AT##-##AT## b-c``.
    """
    tokens = _moses(lang).tokenize(text, return_str=True, escape=True)
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", tokens) if compound_split else tokens


@lru_cache(maxsize=8)
def _moses(lang: str):
    from sacremoses import MosesTokenizer  # only the tokenized score needs it

    return MosesTokenizer(lang=lang)


def _check_lines(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise MTError(f"cannot score {len(hyps)} hypotheses against {len(refs)} references; "
                      f"the files must have one line per sentence")
    if not hyps:
        raise MTError("cannot score an empty test set (no lines to compare)")
