"""``data.source=demo``: the English-German corpus generated offline by ``mt.data.demo.corpus``.

The corpus is a pure function of ``data.demo_sizes`` and ``data.demo_seed``; ``src_lang``/``tgt_lang``
pick the direction (en->de or de->en).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mt.data.errors import DataError
from mt.data.sources.base import Source


class DemoSource(Source):
    """The generated demo corpus."""

    fields = frozenset({"demo_sizes", "demo_seed"})

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """The pairs of ``split``, generated (the whole corpus, every split) when first asked for."""
        # Imported lazily: the generator is optional for every other source.
        from mt.data.demo.corpus import generate_demo_corpus

        cfg = self.cfg
        corpus = generate_demo_corpus(cfg.demo_sizes, cfg.demo_seed)
        if split not in corpus:
            raise DataError(f"the demo corpus has no {split!r} split (data.demo_sizes={cfg.demo_sizes})")
        # The demo generator produces en->de; swap when the config asks for de->en.
        pair = (cfg.src_lang, cfg.tgt_lang)
        if pair not in (("en", "de"), ("de", "en")):
            raise DataError(f"the demo corpus is English-German; data.src_lang/tgt_lang={pair} is not en/de")
        swap = pair == ("de", "en")
        for src, tgt in corpus[split]:
            yield (tgt, src) if swap else (src, tgt)

    def size_hint(self, split: str) -> int | None:
        """The configured size of ``split``."""
        return int(self.cfg.demo_sizes.get(split, 0))

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        """The sizes and the seed, which determine the corpus."""
        return f"the generated offline demo corpus (sizes {data.get('demo_sizes')}, seed {data.get('demo_seed')})"
