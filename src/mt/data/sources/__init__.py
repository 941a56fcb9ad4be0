"""Where parallel text comes from: ``SOURCES`` maps each value of ``data.source`` to its reader.

Every source yields raw ``(src, tgt)`` string pairs for one split (``train``, ``valid`` or ``test``),
lazily: large corpora are read chunk by chunk from Arrow or from disk, never held as Python lists.
Each is one module here, a subclass of ``base.Source``; adding one is that module plus its line in
``SOURCES``: its keys are the values ``data.source`` accepts (``source_for`` rejects any other,
naming them; train.py asks it first, before any work).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from mt.config import DataConfig
from mt.data.errors import DataError
from mt.data.sources.base import SPLITS, Source
from mt.data.sources.demo import DemoSource
from mt.data.sources.hf import HFSource
from mt.data.sources.local import LocalSource
from mt.data.sources.multi import MultiPairSource
from mt.data.sources.synthetic import BacktranslateSource, DistillSource, SyntheticSource

SOURCES: dict[str, type[Source]] = {
    "demo": DemoSource,
    "hf": HFSource,
    "local": LocalSource,
    "backtranslate": BacktranslateSource,
    "distill": DistillSource,
}
"""``data.source`` value -> its source class; the keys are the values ``data.source`` accepts."""

__all__ = ["SOURCES", "SPLITS", "Source", "SyntheticSource", "iter_pairs", "source_for", "split_size_hint"]


def source_for(cfg: DataConfig, work_dir: Path | None = None) -> Source:
    """The source ``cfg.source`` names, reading ``cfg``; relative local paths are resolved against
    ``work_dir``. An unknown name raises DataError listing the known ones."""
    cls = SOURCES.get(cfg.source)
    if cls is None:
        raise DataError(f"data.source={cfg.source!r} is not one of {', '.join(SOURCES)}")
    if cfg.pairs:  # several directions: each read by this source (mt.data.sources.multi)
        return MultiPairSource(cfg, work_dir, lambda one: source_for(one, work_dir))
    source = cls(cfg, work_dir)
    if source.wraps:  # a source that adds to another: data.base_source names that one
        if SOURCES.get(cfg.base_source, SyntheticSource).wraps:
            plain = ", ".join(name for name, c in SOURCES.items() if not c.wraps)
            raise DataError(f"data.base_source={cfg.base_source!r} is not one of {plain}")
        source.wrap(source_for(dataclasses.replace(cfg, source=cfg.base_source), work_dir))
    return source


def iter_pairs(cfg: DataConfig, split: str, work_dir: Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield the raw ``(src, tgt)`` pairs of ``split`` from the source ``cfg.source`` names.

    Relative ``cfg.local_dir`` / local ``cfg.hf_path`` are resolved against ``work_dir``.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return source_for(cfg, work_dir).pairs(split)


def split_size_hint(cfg: DataConfig, split: str, work_dir: Path | None = None) -> int | None:
    """Number of pairs of ``split`` if cheaply known (for progress bars), else None."""
    try:
        return source_for(cfg, work_dir).size_hint(split)
    except DataError:
        return None
