"""One translation request from texts to texts: directions checked, paragraphs split into sentences,
sentences steered to the target, decoded by the batcher with other requests, and joined back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mt.serve import sentences
from mt.serve.batcher import Batcher
from mt.serve.detect import Identifier
from mt.serve.engine import Engine, LanguageError, display_code
from mt.utils.errors import MTError


@dataclass
class Service:
    """The model, the batcher that feeds it, and how texts are cut into sentences."""

    engine: Engine
    batcher: Batcher
    split_sentences: bool = True
    identify: Identifier | None = None

    _segmenters: dict[str, sentences.Segmenter] = field(default_factory=dict, repr=False)

    def _segmenter(self, source: str) -> sentences.Segmenter | None:
        if not self.split_sentences:
            return None
        if source not in self._segmenters:
            self._segmenters[source] = sentences.segmenter(display_code(source))
        return self._segmenters[source]

    def detect(self, text: str) -> list[dict[str, Any]]:
        """The model's source languages ``text`` may be in, most likely first, as LibreTranslate's
        ``/detect`` answers (``confidence`` in [0, 100])."""
        if self.identify is None:
            raise LanguageError("no language identifier is configured on this server (language_id=null), so "
                                "it cannot detect languages: name the source language (GET /languages lists "
                                "them), or start it with language_id=langid")
        return [{"confidence": conf, "language": display_code(code)} for code, conf in self.identify(text)]

    def source_of(self, text: str, source: str) -> tuple[str, dict[str, Any] | None]:
        """``source``, or for ``auto`` the detected language and LibreTranslate's ``detectedLanguage``."""
        if source != "auto":
            return source, None
        if self.identify is None:
            raise LanguageError(f"source=auto needs a language identifier, and this server has none "
                                f"(language_id=null): name the source language, one of "
                                f"{', '.join(map(display_code, self.engine.sources()))}, or start the "
                                f"server with language_id=langid")
        best = self.detect(text)[0]
        return best["language"], best

    async def translate(self, texts: Sequence[str], sources: Sequence[str], target: str) -> list[str]:
        """The translation of each text from its source into ``target``; the sentences of all texts go
        to the batcher as one request. LanguageError for a direction the model does not translate."""
        lines: list[str] = []
        layouts: list[tuple[sentences.Layout, int]] = []
        for text, source in zip(texts, sources, strict=True):
            src, tgt = self.engine.resolve(source, target)
            found, layout = sentences.split(text, self._segmenter(src))
            try:
                lines.extend(self.engine.steer(found, src, tgt))
            except MTError as e:
                raise LanguageError(str(e)) from None
            layouts.append((layout, len(found)))
        translations = await self.batcher.submit(lines) if lines else []
        out, start = [], 0
        for layout, count in layouts:
            out.append(layout.join(translations[start:start + count]))
            start += count
        return out
