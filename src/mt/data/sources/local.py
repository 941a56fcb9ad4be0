"""``data.source=local``: parallel text files in ``data.local_dir``.

``text``: ``{prefix}.{src_lang}`` and ``{prefix}.{tgt_lang}``, aligned line by line; ``tsv``:
``{prefix}.tsv`` with ``source<TAB>target`` per line. ``data.local_prefixes`` maps each split to its prefix.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mt.config import DataConfig
from mt.data.errors import DataError
from mt.data.sources.base import Source
from mt.data.text_files import count_lines, read_text_pairs, read_tsv_pairs


class LocalSource(Source):
    """Local text or TSV files."""

    fields = frozenset({"local_dir", "local_format", "local_prefixes"})

    def input_files(self, split: str) -> list[Path]:
        """The file(s) holding ``split``: ``[src, tgt]`` text files or ``[tsv]``."""
        cfg = self.cfg
        if not cfg.local_dir:
            raise DataError("data.source=local needs data.local_dir (a directory with the parallel files)")
        root = self.input_path(cfg.local_dir)
        prefix = cfg.local_prefixes.get(split)
        if prefix is None:
            raise DataError(f"data.local_prefixes has no entry for split {split!r}")
        if cfg.local_format == "tsv":
            return [root / f"{prefix}.tsv"]
        if cfg.local_format == "text":
            return [root / f"{prefix}.{cfg.src_lang}", root / f"{prefix}.{cfg.tgt_lang}"]
        raise DataError(f"data.local_format={cfg.local_format!r} is not one of text, tsv")

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Pairs from ``{local_dir}/{prefix}.{lang}`` text files or ``{prefix}.tsv``; a missing file
        is an error at once, before the first pair is asked for."""
        paths = self.input_files(split)
        for p in paths:
            if not p.is_file():
                raise DataError(f"{split} data file {p} does not exist (data.local_dir={self.cfg.local_dir})")
        if len(paths) == 1:
            return read_tsv_pairs(paths[0])
        return read_text_pairs(paths[0], paths[1])

    def size_hint(self, split: str) -> int | None:
        """Lines of the (first) file of ``split``, counted in binary blocks; None while it is missing."""
        paths = self.input_files(split)
        return count_lines(paths[0]) if os.path.isfile(paths[0]) else None

    def resolved_config(self) -> DataConfig:
        """The config with ``local_dir`` absolute and its symlinks resolved."""
        if not self.cfg.local_dir:
            return self.cfg
        return dataclasses.replace(self.cfg, local_dir=str(self.canonical_path(self.cfg.local_dir)))

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        """The directory and the file prefix of each split."""
        prefixes = data.get("local_prefixes") or {}
        files = ", ".join(f"{split}: `{prefix}.*`" for split, prefix in prefixes.items())
        return f"local text files in `{data.get('local_dir')}` ({files})"
