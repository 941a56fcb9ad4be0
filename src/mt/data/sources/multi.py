"""``data.pairs``: several directions in one corpus, each read by the source ``data.source`` names.

Every source sentence starts with the token of the language to translate into (``<2de>``; Johnson
et al. 2017), which the tokenizer keeps as one piece, so one model learns every direction and is told
at each sentence which one is asked. The pairs follow each other in the order of ``data.pairs`` in
every split; ``pair_sizes`` says how many sentences each holds, which is how validation and the test
score each pair apart.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mt.config import DataConfig
from mt.data.clean import labelled
from mt.data.errors import DataError
from mt.data.sources.base import Source
from mt.utils.languages import same_language

logger = logging.getLogger(__name__)

TAG = "<2{}>"


def target_tag(lang: str) -> str:
    """The token that asks for ``lang`` (``<2de>``)."""
    return TAG.format(lang)


def tag_language(text: str) -> str | None:
    """The language a sentence's leading tag asks for (``<2de> ...`` -> ``de``), else None."""
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    return head[2:-1] if head.startswith("<2") and head.endswith(">") and len(head) > 3 else None


def pair_config(cfg: DataConfig, src: str, tgt: str) -> DataConfig:
    """The single-pair config of one of ``cfg.pairs``. A hub dataset's config is the pair's name as WMT
    writes it (``de-en``: English second)."""
    hub = f"{src if tgt == 'en' else tgt}-en" if "en" in (src, tgt) else f"{src}-{tgt}"
    return dataclasses.replace(cfg, pairs=[], src_lang=src, tgt_lang=tgt,
                               hf_config=hub if cfg.source == "hf" else cfg.hf_config)


class MultiPairSource(Source):
    """The pairs of ``data.pairs`` one after another, sources tagged with their target language."""

    def __init__(self, cfg: DataConfig, work_dir: Path | None, make: Callable[[DataConfig], Source]) -> None:
        super().__init__(cfg, work_dir)
        self.parts = [(pair, make(pair_config(cfg, *pair.split("-")))) for pair in cfg.pairs]
        self._sizes: dict[str, list[tuple[str, int]]] = {}

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Every pair's sentences in turn, as ``LabelledPair``s: cleaning measures each in its pair's
        languages (``de+zh`` names no language)."""
        sizes = []
        for pair, source in self.parts:
            tag, n = target_tag(pair.split("-")[1]), 0
            for src, tgt in source.pairs(split):
                n += 1
                yield labelled(f"{tag} {src}", tgt, pair)
            sizes.append((pair, n))
        self._sizes[split] = sizes  # a full pass: pair_sizes need not read the split again

    def pair_sizes(self, split: str) -> list[tuple[str, int]]:
        """``(pair, sentences)`` of ``split`` in order: as counted by the last full pass of ``pairs``,
        else by reading it (meant for valid/test)."""
        if split not in self._sizes:
            for _ in self.pairs(split):
                pass
        return self._sizes[split]

    def size_hint(self, split: str) -> int | None:
        sizes = [source.size_hint(split) for _, source in self.parts]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]

    def input_files(self, split: str) -> list[Path]:
        return [path for _, source in self.parts for path in source.input_files(split)]

    def resolved_config(self) -> DataConfig:
        first = self.parts[0][1].resolved_config()
        return dataclasses.replace(first, pairs=list(self.cfg.pairs), src_lang=self.cfg.src_lang,
                                   tgt_lang=self.cfg.tgt_lang, hf_config=self.cfg.hf_config)

    def user_symbols(self) -> list[str]:
        return sorted({target_tag(pair.split("-")[1]) for pair in self.cfg.pairs})

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        return f"the pairs {', '.join(data.get('pairs') or [])}"


def with_target(lines: list[str], pairs: list[str], tgt_lang: str | None, src_lang: str | None = None) -> list[str]:
    """The lines a model trained on ``pairs`` should translate into ``tgt_lang``: each line gets the tag
    of ``tgt_lang`` unless it starts with a tag of its own (a per-line choice). Without ``tgt_lang``
    every line must carry a tag. A direction the model never trained on is still translated (zero-shot),
    with a warning. ``tgt_lang`` and ``src_lang`` may be spelt otherwise than in ``pairs`` (``deu``,
    ``zho``, ``cmn_Hans``): the tag is the model's own (``<2de>``). For a single-pair model (``pairs``
    empty) the lines are returned unchanged."""
    if not pairs:
        return lines
    targets = sorted({pair.split("-")[1] for pair in pairs})
    tgt_lang = next((t for t in targets if same_language(t, tgt_lang)), tgt_lang) if tgt_lang else None
    if tgt_lang is None:
        untagged = next((i for i, line in enumerate(lines) if line.strip() and tag_language(line) is None), None)
        if untagged is not None:
            raise DataError(f"this model translates into {', '.join(targets)} (data.pairs={pairs}): choose with "
                            f"tgt_lang=XX, or start each line with <2XX> (line {untagged + 1} has no tag)")
    asked = {tag_language(line) or tgt_lang for line in lines if line.strip()}
    for lang in sorted(x for x in asked if x):
        trained = [p for p in pairs if same_language(p.split("-")[1], lang)
                   and (src_lang is None or same_language(p.split("-")[0], src_lang))]
        if not trained:
            direction = f"{src_lang or '?'}->{lang}"
            unknown = "" if lang in targets else f"; it never produced {lang} at all, so expect little"
            logger.warning("%s was never trained (data.pairs=%s): translating zero-shot%s", direction, pairs,
                           unknown)
    if tgt_lang is None:
        return lines
    tag = target_tag(tgt_lang)
    return [line if not line.strip() or tag_language(line) else f"{tag} {line}" for line in lines]
