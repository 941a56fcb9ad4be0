"""Steering a multi-target Marian model (OPUS-MT's ``opus-mt-en-mul``, ``opus-mt-tc-big-en-zle`` ...) to a
target language: such models read a ``>>xxx<<`` token before the source sentence (``>>deu<<``,
``>>cmn_Hans<<``, ``>>zho_Hant<<``), and their vocabulary lists the tokens they were trained with.

``tgt_lang`` is matched against those tokens by ``langcodes`` (``zh`` picks ``>>cmn_Hans<<`` where the
model has it, ``de`` picks ``>>deu<<``); a line that already starts with a ``>>xxx<<`` token keeps it
(a per-line choice). mt's own multilingual models use ``<2xx>`` tags instead (``mt.data.sources.multi``).
"""

from __future__ import annotations

from collections.abc import Sequence

import langcodes

from mt.utils.errors import MTError


def token_language(token: str) -> str:
    """The language code inside a ``>>xxx<<`` token (``>>cmn_Hans<<`` -> ``cmn_Hans``)."""
    return token[2:-2]


def language_token(tokens: Sequence[str], tgt_lang: str) -> str:
    """The token among ``tokens`` (``>>xxx<<``) that best names ``tgt_lang``; one line listing the
    model's languages when none does."""
    codes = {token_language(t): t for t in tokens}
    try:
        match = langcodes.closest_supported_match(tgt_lang, list(codes))
    except (ValueError, LookupError) as e:
        raise MTError(f"tgt_lang={tgt_lang!r} is not a language code ({e})") from None
    if match is None:
        raise MTError(f"tgt_lang={tgt_lang}: this model has no target token for it; its target languages are "
                      f"{', '.join(sorted(codes))}")
    return codes[match]


def with_language_token(lines: list[str], tokens: Sequence[str], tgt_lang: str | None) -> list[str]:
    """``lines`` as a multi-target Marian model reads them: each starts with the token of ``tgt_lang``
    unless it starts with a ``>>xxx<<`` token of its own. Without ``tgt_lang`` every non-empty line
    must carry its own."""
    token = None if tgt_lang is None else language_token(tokens, tgt_lang)
    out = []
    for number, line in enumerate(lines, 1):
        own = line.startswith(">>") and line.find("<<") > 2
        if own or not line.strip():
            out.append(line)
        elif token is None:
            raise MTError(f"this model translates into several languages ({len(tokens)} target tokens): set "
                          f"tgt_lang=XX, or start each line with a token such as {tokens[0]} (line {number} "
                          f"has none)")
        else:
            out.append(f"{token} {line}")
    return out
