"""A request's text as the model reads it, and back: lines, then sentences, and the space around them.

Models are trained on sentences, one per line; a request carries paragraphs. ``split`` cuts a text into
lines (on ``\\n``, as ``translate.py`` reads a file) and each line into sentences with ``sentencex``
(Wikimedia's segmenter, rules for some 300 languages), keeping the whitespace around each sentence
apart; ``Layout.join`` puts the translations back in the same places. Text in, text out: a line with
one sentence is sent exactly as ``translate.py`` would send it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mt.utils.extras import require

_EDGES = re.compile(r"^(\s*)(.*?)(\s*)$", re.S)


@dataclass
class Layout:
    """Where the translated sentences of one text go: ``parts`` alternates fixed text (whitespace and
    line breaks) with ``None`` for each sentence, in order."""

    parts: list[str | None]

    def join(self, translations: list[str]) -> str:
        """The text with each sentence replaced by its translation."""
        it = iter(translations)
        out = [next(it) if part is None else part for part in self.parts]
        if next(it, None) is not None:
            raise ValueError("more translations than sentences")
        return "".join(out)


Segmenter = Callable[[str], list[str]]
"""A line -> its sentences, which concatenate back to the line."""


def segmenter(language: str | None) -> Segmenter:
    """``sentencex``'s segmenter for ``language`` (its fallback rules for a language it lacks)."""
    sentencex = require("sentencex", "serve", "serve.py split_sentences=true")
    lang = (language or "en").split("-")[0]
    return lambda line: list(sentencex.segment(lang, line))


def split(text: str, segment: Segmenter | None) -> tuple[list[str], Layout]:
    """The sentences of ``text`` (each without surrounding whitespace) and the layout to join their
    translations back with. ``segment`` None keeps each line whole. A line the segmenter would
    rewrite (its pieces do not concatenate back to it) is kept whole too."""
    sentences: list[str] = []
    parts: list[str | None] = []
    for number, line in enumerate(text.split("\n")):
        if number:
            parts.append("\n")
        pieces = segment(line) if segment is not None and line.strip() else [line]
        if "".join(pieces) != line:
            pieces = [line]
        for piece in pieces:
            lead, core, trail = _EDGES.match(piece).groups()
            if not core:
                parts.append(piece)
                continue
            parts.extend(p for p in (lead, None, trail) if p != "")
            sentences.append(core)
    return sentences, Layout(parts)
