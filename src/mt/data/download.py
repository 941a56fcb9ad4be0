"""Sources of parallel text: the generated demo corpus, HF ``datasets``, and local files.

Every source yields raw ``(src, tgt)`` string pairs for one split (``train``, ``valid`` or ``test``),
lazily: large corpora are read chunk by chunk from Arrow or from disk, never held as Python lists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

from mt.config import DataConfig
from mt.data.hub import load_hub_dataset, offline_errors
from mt.utils.errors import MTError

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
HF_BATCH_SIZE = 10_000
"""Rows converted from Arrow to Python strings at a time."""


class DataError(MTError, ValueError):
    """Input data is missing or malformed. The message names the file (and line) and what to do."""


def iter_pairs(cfg: DataConfig, split: str, work_dir: Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield the raw ``(src, tgt)`` pairs of ``split`` from the source ``cfg.source`` names.

    Relative ``cfg.local_dir`` / local ``cfg.hf_path`` are resolved against ``work_dir``.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if cfg.source == "demo":
        return _demo_pairs(cfg, split)
    if cfg.source == "hf":
        return hf_pairs(cfg, split, work_dir)
    if cfg.source == "local":
        return local_pairs(cfg, split, work_dir)
    raise DataError(f"data.source={cfg.source!r} is not one of demo, hf, local")


def _demo_pairs(cfg: DataConfig, split: str) -> Iterator[tuple[str, str]]:
    # Imported lazily: the generator is optional for every other source.
    from mt.data.demo import generate_demo_corpus

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


def _resolve(path: str, work_dir: Path | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and work_dir is not None:
        p = Path(work_dir) / p
    return p


# --------------------------------------------------------------------------------------------- local


def local_paths(cfg: DataConfig, split: str, work_dir: Path | None = None) -> list[Path]:
    """The file(s) holding ``split`` for ``source=local``: ``[src, tgt]`` text files or ``[tsv]``."""
    if not cfg.local_dir:
        raise DataError("data.source=local needs data.local_dir (a directory with the parallel files)")
    root = _resolve(cfg.local_dir, work_dir)
    prefix = cfg.local_prefixes.get(split)
    if prefix is None:
        raise DataError(f"data.local_prefixes has no entry for split {split!r}")
    if cfg.local_format == "tsv":
        return [root / f"{prefix}.tsv"]
    if cfg.local_format == "text":
        return [root / f"{prefix}.{cfg.src_lang}", root / f"{prefix}.{cfg.tgt_lang}"]
    raise DataError(f"data.local_format={cfg.local_format!r} is not one of text, tsv")


def local_pairs(cfg: DataConfig, split: str, work_dir: Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield pairs from ``{local_dir}/{prefix}.{lang}`` text files or ``{prefix}.tsv``."""
    paths = local_paths(cfg, split, work_dir)
    for p in paths:
        if not p.is_file():
            raise DataError(f"{split} data file {p} does not exist (data.local_dir={cfg.local_dir})")
    if len(paths) == 1:
        return read_tsv_pairs(paths[0])
    return read_text_pairs(paths[0], paths[1])


def read_lines(path: Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file without their line ending, one at a time.

    Invalid UTF-8 raises DataError naming the file and the 1-based line number.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"file {path} does not exist") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}:{lineno}: invalid UTF-8 at byte {e.start} of the line; "
                    f"re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                ) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark is not part of the sentence
            yield line.rstrip("\r\n")


def read_text_pairs(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    """Yield line-aligned pairs from two text files; differing line counts raise DataError."""
    n_src = n_tgt = 0
    for src, tgt in zip_longest(read_lines(src_path), read_lines(tgt_path)):
        n_src += src is not None
        n_tgt += tgt is not None
        if src is None or tgt is None:
            continue  # keep counting the longer file so the error can report both counts
        yield src, tgt
    if n_src != n_tgt:
        raise DataError(
            f"parallel files differ in length: {src_path} has {n_src} lines but {tgt_path} has "
            f"{n_tgt}; every source line needs exactly one target line"
        )


def read_tsv_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """Yield pairs from a ``src<TAB>tgt`` file; a line without exactly one tab raises DataError."""
    for lineno, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path}:{lineno}: expected 'source<TAB>target' but found {len(fields)} tab-separated "
                f"field(s); remove or escape stray tabs"
            )
        yield fields[0], fields[1]


def count_lines(path: Path) -> int:
    """Number of lines in a file, counted in binary blocks (cheap even for millions of lines)."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


# ------------------------------------------------------------------------------------------------ hf


def _load_hf(cfg: DataConfig, split: str, work_dir: Path | None, streaming: bool) -> Any:
    hf_split = cfg.hf_splits.get(split)
    if hf_split is None:
        raise DataError(f"data.hf_splits has no entry for split {split!r} (have {sorted(cfg.hf_splits)})")
    kwargs: dict[str, Any] = {"split": hf_split, "streaming": streaming}
    path: str = cfg.hf_path
    local = _resolve(cfg.hf_path, work_dir)
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
        raise DataError(
            f"could not load {split} split {hf_split!r} of data.hf_path={cfg.hf_path!r} "
            f"(data.hf_config={cfg.hf_config!r}): {e}"
        ) from e


def hf_num_rows(cfg: DataConfig, split: str, work_dir: Path | None = None) -> int | None:
    """Rows of ``split`` when known without reading it (None when streaming)."""
    if cfg.hf_streaming:
        return None
    return _load_hf(cfg, split, work_dir, streaming=False).num_rows


def hf_pairs(cfg: DataConfig, split: str, work_dir: Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield pairs from a HF dataset whose rows are ``{"translation": {lang: text, ...}}``.

    The direction comes from ``src_lang``/``tgt_lang``, not from the config name. Rows are converted
    from Arrow ``HF_BATCH_SIZE`` at a time. With ``hf_streaming`` every split is streamed: loading
    even a small split unstreamed would download and convert every split of the dataset, train
    included.
    """
    ds = _load_hf(cfg, split, work_dir, streaming=cfg.hf_streaming)
    with offline_errors(f"{cfg.hf_path} (config {cfg.hf_config}, split {cfg.hf_splits[split]})"):
        yield from arrow_batches_to_pairs(
            ds.with_format("arrow").iter(batch_size=HF_BATCH_SIZE), cfg.src_lang, cfg.tgt_lang, cfg.hf_path
        )


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


def split_size_hint(cfg: DataConfig, split: str, work_dir: Path | None = None) -> int | None:
    """Number of pairs of ``split`` if cheaply known (for progress bars), else None."""
    try:
        if cfg.source == "demo":
            return int(cfg.demo_sizes.get(split, 0))
        if cfg.source == "hf":
            return hf_num_rows(cfg, split, work_dir)
        paths = local_paths(cfg, split, work_dir)
        return count_lines(paths[0]) if os.path.isfile(paths[0]) else None
    except DataError:
        return None
