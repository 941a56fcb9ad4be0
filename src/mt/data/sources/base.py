"""What every source of parallel text provides; ``mt.data.sources.SOURCES`` names one per ``data.source``.

A source is built per use from the data config and the directory that relative paths are resolved
against (the directory the command was started from). It yields the raw ``(src, tgt)`` string pairs
of a split lazily, may know a split's size without reading it, names the config fields that only it
reads, and tells the prepared-data cache which local inputs it reads, so that the cache key and the
check for edited files need no knowledge of any particular source.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from mt.config import DataConfig
from mt.utils.text import resolve_path

SPLITS = ("train", "valid", "test")


class Source:
    """One place parallel text comes from. Subclasses implement ``pairs`` and ``describe``; the
    other methods have defaults that suit a source without local files."""

    fields: ClassVar[frozenset[str]] = frozenset()
    """The ``DataConfig`` fields only this source reads. When another source is configured they do
    not shape the prepared data, so they stay out of its cache key."""

    wraps: ClassVar[bool] = False
    """True for a source that adds to another (``data.base_source``), handed to it by ``wrap``."""

    def __init__(self, cfg: DataConfig, work_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.work_dir = work_dir

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """The raw ``(src, tgt)`` pairs of ``split`` (one of ``SPLITS``), read lazily."""
        raise NotImplementedError

    def size_hint(self, split: str) -> int | None:
        """Number of pairs of ``split`` when known without reading it (for progress bars), else None."""
        return None

    def resolved_config(self) -> DataConfig:
        """The config with every local input as an absolute path, symlinks resolved: what the cache
        key hashes, so that every spelling of one directory shares one prepared directory."""
        return self.cfg

    def input_files(self, split: str) -> list[Path]:
        """The local files holding ``split``. The prepared directory records their size, time and
        digest, and warns when they change: an edit in place changes no setting."""
        return []

    def wrap(self, base: Source) -> None:
        """Take the source this one adds to (sources with ``wraps`` only)."""
        raise NotImplementedError

    def user_symbols(self) -> list[str]:
        """Strings the tokenizer must keep as single pieces (tags this source adds to the text)."""
        return []

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        """Where the corpus came from, as a phrase for the model card, from a recorded data config
        (``dataclasses.asdict`` of a ``DataConfig``, possibly from an older version: read with ``get``)."""
        raise NotImplementedError

    def input_path(self, path: str) -> Path:
        """``path`` with ``~`` expanded, relative to ``work_dir`` when relative and a work_dir is set."""
        return resolve_path(path, self.work_dir or ".")

    def canonical_path(self, path: str) -> Path:
        """``path`` as an absolute path with symlinks resolved (relative to ``work_dir``, default the
        current directory): the spelling of a local input that the cache key uses."""
        return resolve_path(path, self.work_dir or ".").resolve()
