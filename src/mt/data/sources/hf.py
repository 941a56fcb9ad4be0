"""``data.source=hf``: a HF ``datasets`` dataset, from the hub or from a local copy in the hub's layout.

Rows are ``{"translation": {lang: text, ...}}`` or one column per language; the direction comes from
``src_lang``/``tgt_lang``, not from the config name. ``datasets`` (and ``pyarrow``) are imported only
when a split is loaded, so configs of other sources never pay for them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mt.config import DataConfig
from mt.data.errors import DataError
from mt.data.hub import load_hub_dataset, offline_errors
from mt.data.sources.base import Source

_MISSING_CONFIG = re.compile(r"BuilderConfig '([^']+)' not found\. Available: \[([^\]]*)\]")
_MISSING_LIST = re.compile(r"'([^']+)'")
HF_BATCH_SIZE = 10_000
"""Rows converted from Arrow to Python strings at a time."""


class HFSource(Source):
    """A HF ``datasets`` dataset: ``data.hf_path``, ``data.hf_config``, ``data.hf_splits``."""

    fields = frozenset({"hf_path", "hf_config", "hf_splits"})

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Pairs converted from Arrow ``HF_BATCH_SIZE`` rows at a time. With ``hf_streaming`` every split
        is streamed: loading even a small split unstreamed would download and convert every split of
        the dataset, train included."""
        cfg = self.cfg
        ds = self._load(split, streaming=cfg.hf_streaming)
        with offline_errors(f"{cfg.hf_path} (config {cfg.hf_config}, split {cfg.hf_splits[split]})"):
            yield from arrow_batches_to_pairs(
                ds.with_format("arrow").iter(batch_size=HF_BATCH_SIZE), cfg.src_lang, cfg.tgt_lang, cfg.hf_path
            )

    def size_hint(self, split: str) -> int | None:
        """Rows of ``split`` from the dataset's metadata (None when streaming)."""
        if self.cfg.hf_streaming:
            return None
        return self._load(split, streaming=False).num_rows

    def resolved_config(self) -> DataConfig:
        """The config with ``hf_path`` absolute when it names a local directory (a hub id stays as is)."""
        local = self.canonical_path(self.cfg.hf_path)
        if not local.is_dir():
            return self.cfg
        return dataclasses.replace(self.cfg, hf_path=str(local))

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        """The dataset, its config and the split mapping."""
        config = f", config `{data.get('hf_config')}`" if data.get("hf_config") else ""
        return f"the Hugging Face dataset `{data.get('hf_path')}`{config}, splits {data.get('hf_splits')}"

    def _load(self, split: str, streaming: bool) -> Any:
        cfg = self.cfg
        hf_split = cfg.hf_splits.get(split)
        if hf_split is None:
            raise DataError(f"data.hf_splits has no entry for split {split!r} (have {sorted(cfg.hf_splits)})")
        kwargs: dict[str, Any] = {"split": hf_split, "streaming": streaming}
        path: str = cfg.hf_path
        local = self.input_path(cfg.hf_path)
        if local.is_dir():
            path = str(local)
            # A copy of the hub repository has its dataset card (README.md), whose YAML maps each config
            # to its files: the config is selected by name, as on the hub. A bare copy of the parquet
            # files (<dir>/<config>/<split>-*.parquet) has no card, so the config names the sub-directory.
            has_card = (local / "README.md").is_file()
            if cfg.hf_config and (local / cfg.hf_config).is_dir() and not has_card:
                kwargs["data_dir"] = cfg.hf_config
            elif cfg.hf_config:
                kwargs["name"] = cfg.hf_config
        elif cfg.hf_config:
            kwargs["name"] = cfg.hf_config
        try:
            return load_hub_dataset(path, dataset=f"{cfg.hf_path} (config {cfg.hf_config}, split {hf_split})",
                                    remote=not local.is_dir(), **kwargs)
        except (FileNotFoundError, ValueError) as e:
            missing = _MISSING_CONFIG.search(str(e))
            if missing:  # the pair is not in this dataset: say which pairs are
                raise DataError(f"{cfg.hf_path} has no language pair {missing[1]} (data.hf_config); it has "
                                f"{', '.join(_MISSING_LIST.findall(missing[2]))}") from None
            raise DataError(
                f"could not load {split} split {hf_split!r} of data.hf_path={cfg.hf_path!r} "
                f"(data.hf_config={cfg.hf_config!r}): {e}"
            ) from e


def arrow_batches_to_pairs(
    tables: Iterable[Any], src_lang: str, tgt_lang: str, name: str
) -> Iterator[tuple[str, str]]:
    """Turn Arrow tables with a ``translation`` struct column (or one column per language) into pairs."""
    import pyarrow.compute as pc

    for table in tables:
        if "translation" in table.column_names:
            column = table.column("translation")
            fields = {f.name for f in column.type}
            if src_lang not in fields or tgt_lang not in fields:
                raise DataError(
                    f"{name}: the translation column has languages {sorted(fields)}, not "
                    f"{src_lang!r} and {tgt_lang!r}; check data.src_lang/data.tgt_lang/data.hf_config"
                )
            src_col, tgt_col = pc.struct_field(column, src_lang), pc.struct_field(column, tgt_lang)
        elif src_lang in table.column_names and tgt_lang in table.column_names:
            src_col, tgt_col = table.column(src_lang), table.column(tgt_lang)
        else:
            raise DataError(
                f"{name}: rows need a 'translation' column or columns {src_lang!r} and {tgt_lang!r}; "
                f"found columns {table.column_names}"
            )
        for src, tgt in zip(src_col.to_pylist(), tgt_col.to_pylist(), strict=True):
            yield src or "", tgt or ""
