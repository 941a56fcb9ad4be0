"""Prepare a corpus once and cache it: clean, train SentencePiece, binarize, write ``meta.json``.

The prepared directory ``<cache_dir>/<name>-<src>-<tgt>-<hash12>`` is named by a hash of every
setting that shapes its content, so changing e.g. ``tokenizer.vocab_size`` prepares a new one while
``data.num_workers`` reuses the old. It is built in a hidden temporary directory next to it and
renamed into place only after ``meta.json`` is written: a directory with that name is always
complete. Builders take a file lock, so concurrent runs wait instead of racing, and the temporary
directories of killed runs are removed by the next one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mt.config import DataConfig, TokenizerConfig
from mt.data.binarize import BinarizeStats, binarize_pairs, token_dtype
from mt.data.clean import CleanStats, clean_pairs, normalize_pairs
from mt.data.dataset import TokenPairDataset
from mt.data.errors import DataError
from mt.data.sources import SOURCES, Source, source_for
from mt.data.sources.multi import MultiPairSource
from mt.data.subwords import build_tokenizer, tokenizer_key, tokenizer_paths
from mt.data.text_files import read_text_pairs
from mt.data.tokenizer import Tokenizer
from mt.utils.fingerprint import file_fingerprint, file_sha256

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
"""Bump when the layout of prepared directories changes; old caches are then rebuilt.
2: valid/test references kept as the source holds them (``{split}.{tgt}.ref.txt``).
3: references of both sides, so that one directory serves both directions of a pair."""
META_FILE = "meta.json"
EVAL_SPLITS = ("valid", "test")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n]")

# Fields that never change the prepared content (or only select where it goes).
_NEUTRAL_FIELDS = {"num_workers", "cache_dir", "hf_streaming"}


@dataclass
class PreparedData:
    """A prepared corpus: its directory, tokenizer, and splits."""

    directory: Path
    tokenizer: Tokenizer
    src_lang: str
    tgt_lang: str
    meta: dict
    """Contents of meta.json: counts, cleaning statistics, cache key and configs."""

    def pair_slices(self, split: str) -> list[tuple[str, int, int]]:
        """``(pair, start, end)`` of each pair's sentences in a valid/test split of a ``data.pairs``
        corpus, in order; one ``(src-tgt, 0, n)`` entry otherwise."""
        sizes = self.meta.get("pairs", {}).get(split)
        if not sizes:
            n = self.meta["splits"][split]["raw_pairs"]
            return [(f"{self.src_lang}-{self.tgt_lang}", 0, n)]
        out, start = [], 0
        for pair, n in sizes:
            out.append((pair, start, start + n))
            start += n
        return out

    def split(self, name: str) -> TokenPairDataset:
        """The binarized pairs of split ``name`` (train, valid or test)."""
        return TokenPairDataset(self.directory, name, self.src_lang, self.tgt_lang)

    def text_path(self, split: str, lang: str) -> Path:
        """The normalized (unfiltered) text of a valid/test side: what the model reads as source."""
        if split not in EVAL_SPLITS:
            raise DataError(f"text is kept only for {' and '.join(EVAL_SPLITS)}, not {split!r}")
        path = self.directory / f"{split}.{lang}.txt"
        if not path.is_file():
            raise DataError(f"{path} does not exist; languages of {self.directory} are "
                            f"{self.src_lang} and {self.tgt_lang}")
        return path

    def reference_path(self, split: str) -> Path:
        """The target side of a valid/test split exactly as the source holds it: the BLEU references.

        Scores against it match the ``sacrebleu`` command line on the original files; the normalized
        text of ``text_path`` would not (NFKC folds e.g. ligatures and non-breaking spaces).
        """
        if split not in EVAL_SPLITS:
            raise DataError(f"references are kept only for {' and '.join(EVAL_SPLITS)}, not {split!r}")
        path = self.directory / reference_file(split, self.tgt_lang)
        if not path.is_file():
            raise DataError(f"{path} does not exist; delete {self.directory} and prepare the data again")
        return path


def reference_file(split: str, lang: str) -> str:
    """File name of the unnormalized references of a valid/test split."""
    return f"{split}.{lang}.ref.txt"


def cache_key(data_cfg: DataConfig, tok_cfg: TokenizerConfig, work_dir: Path | None = None) -> str:
    """Hex SHA-256 of every setting that shapes the prepared data (not workers or cache location).

    Local input paths count as absolute paths with symlinks resolved (relative ones against
    ``work_dir``, default the current directory): every spelling of one directory shares one cache.
    """
    asked = source_for(data_cfg, work_dir).resolved_config()
    data_cfg = _one_direction(asked)
    active = {data_cfg.source, data_cfg.base_source} if SOURCES[data_cfg.source].wraps else {data_cfg.source}
    other_sources = set().union(*(s.fields for name, s in SOURCES.items() if name not in active)) - \
        set().union(*(SOURCES[name].fields for name in active))
    data = {
        k: v for k, v in dataclasses.asdict(data_cfg).items()
        if k not in _NEUTRAL_FIELDS and k not in other_sources
    }
    payload = {"format": FORMAT_VERSION, "data": data, "tokenizer": tokenizer_key(tok_cfg, asked, work_dir)}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_root(data_cfg: DataConfig, work_dir: Path) -> Path:
    """``data.cache_dir``, relative to ``work_dir`` unless absolute: where prepared directories go."""
    root = Path(data_cfg.cache_dir).expanduser()
    return root if root.is_absolute() else Path(work_dir) / root


def symmetric(data_cfg: DataConfig) -> bool:
    """Whether the prepared corpus serves both directions: plain parallel text (not ``data.pairs``,
    whose sources carry tags, nor translated corpora, made for one direction)."""
    return not data_cfg.pairs and not SOURCES[data_cfg.source].wraps


def _one_direction(data_cfg: DataConfig) -> DataConfig:
    """The config in the direction its corpus is built in, where one corpus serves both directions:
    English first, else alphabetical order. en->de and de->en then share one cache key and one
    content, whichever is asked for first (cleaning is symmetric, each side is stored per language,
    and the joint SentencePiece model is trained on the sides in this order)."""
    if not symmetric(data_cfg):
        return data_cfg
    first = "en" if "en" in (data_cfg.src_lang, data_cfg.tgt_lang) else min(data_cfg.src_lang, data_cfg.tgt_lang)
    if data_cfg.src_lang == first:
        return data_cfg
    return dataclasses.replace(data_cfg, src_lang=data_cfg.tgt_lang, tgt_lang=data_cfg.src_lang)


def prepared_dir(data_cfg: DataConfig, tok_cfg: TokenizerConfig, work_dir: Path) -> Path:
    """Where ``prepare_data`` puts (or finds) the prepared corpus for these settings: one directory
    for both directions of a plain pair, named in its build direction (``wmt14-en-de-...``)."""
    key = cache_key(data_cfg, tok_cfg, work_dir)[:12]
    one = _one_direction(data_cfg)
    return cache_root(data_cfg, work_dir) / f"{one.name}-{one.src_lang}-{one.tgt_lang}-{key}"


def find_prepared(data_cfg: DataConfig, tok_cfg: TokenizerConfig, work_dir: Path) -> Path | None:
    """The complete prepared directory for these settings, or None while it does not exist (yet):
    what processes that wait for another one's ``prepare_data`` poll."""
    directory = prepared_dir(data_cfg, tok_cfg, work_dir)
    return directory if _is_complete(directory, cache_key(data_cfg, tok_cfg, work_dir)) else None


def prepare_data(
    data_cfg: DataConfig, tok_cfg: TokenizerConfig, work_dir: Path, *, progress: bool = True
) -> Path:
    """Return the prepared directory for these settings, building it first if it does not exist.

    Call from one process only (rank 0); the others poll ``find_prepared``, then ``load_prepared``.
    """
    final = prepared_dir(data_cfg, tok_cfg, work_dir)
    key = cache_key(data_cfg, tok_cfg, work_dir)
    if _is_complete(final, key):
        _log_reuse(final, data_cfg, work_dir)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(final.parent / f".{final.name}.lock"):
        if _is_complete(final, key):  # another process built it while we waited
            _log_reuse(final, data_cfg, work_dir)
            return final
        _remove_leftovers(final)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            started = time.time()
            # In the build direction, so that the content does not depend on which direction came first.
            meta = _build(tmp, _one_direction(data_cfg), tok_cfg, Path(work_dir), key, progress,
                          data_cfg.src_lang)
            meta["build_seconds"] = round(time.time() - started, 1)
            _write_json(tmp / META_FILE, meta)  # last: its presence marks a complete directory
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("prepared data in %s (%.0f s)", final, meta["build_seconds"])
    return final


def load_prepared(directory: Path, src_lang: str | None = None, tgt_lang: str | None = None) -> PreparedData:
    """Open a prepared directory (fast: token files are memory-mapped on first use), in the direction
    ``src_lang`` -> ``tgt_lang`` (default: the one it was prepared for; a pair's reverse reads the same
    files)."""
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise DataError(f"{directory} is not a prepared data directory (no {META_FILE}); run prepare first")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{directory} was prepared by an incompatible version; delete it and prepare again")
    src, tgt = meta["src_lang"], meta["tgt_lang"]
    if src_lang is not None and (src_lang, tgt_lang) != (src, tgt):
        if (src_lang, tgt_lang) != (tgt, src) or meta.get("pairs") or not meta.get("both_directions"):
            raise DataError(f"{directory} holds {src}->{tgt}, not {src_lang}->{tgt_lang}")
        src, tgt = tgt, src
    src_model, tgt_model = tokenizer_paths(directory, src, tgt)
    tokenizer = Tokenizer.from_file(src_model, None if tgt_model == src_model else tgt_model)
    return PreparedData(directory, tokenizer, src, tgt, meta)


# ------------------------------------------------------------------------------------- building


def _build(
    tmp: Path, data_cfg: DataConfig, tok_cfg: TokenizerConfig, work_dir: Path, key: str, progress: bool,
    source_lang: str,
) -> dict:
    """Build the corpus in ``data_cfg``'s direction; ``source_lang`` is the source language of the
    direction asked for (a separate ``tokenizer.from_model``'s source model is that language's)."""
    src, tgt = data_cfg.src_lang, data_cfg.tgt_lang
    source = source_for(data_cfg, work_dir)
    # valid/test first: they are small, and a missing file should fail before minutes of work.
    eval_text = {split: [tmp / f"{split}.{src}.txt", tmp / f"{split}.{tgt}.txt"] for split in EVAL_SPLITS}
    eval_sizes = {}
    for split, paths in eval_text.items():
        raw = keep_references(source.pairs(split), tmp / reference_file(split, tgt),
                              tmp / reference_file(split, src))
        eval_sizes[split] = write_pairs(normalize_pairs(raw, data_cfg.normalize), *paths)
        if eval_sizes[split] == 0:
            logger.warning("the %s split is empty", split)

    scratch = tmp / "scratch"
    scratch.mkdir()
    train_text = [scratch / f"train.{src}", scratch / f"train.{tgt}"]
    clean = _clean_train(data_cfg, source, train_text, progress)
    tokenizer = build_tokenizer(tmp, train_text, data_cfg, tok_cfg, work_dir, source.user_symbols(), source_lang)
    models = tokenizer_paths(tmp, src, tgt)
    dropped: list[np.ndarray] = []  # input positions of the train pairs binarization drops
    splits = {"train": _binarize_train(data_cfg, tmp, train_text, clean, progress, models, dropped)}
    shutil.rmtree(scratch)
    for split, paths in eval_text.items():
        stats = binarize_pairs(read_text_pairs(*paths), models, tmp, split, src, tgt,
                               num_workers=data_cfg.num_workers, total=eval_sizes[split], progress=False)
        splits[split] = {"raw_pairs": eval_sizes[split], **stats.as_dict()}
        _log_split(split, stats)

    return {
        "format_version": FORMAT_VERSION,
        "cache_key": key,
        "name": data_cfg.name,
        "src_lang": src,
        "tgt_lang": tgt,
        "vocab_size": tokenizer.vocab_size,
        "vocab_sizes": {src: tokenizer.src_vocab_size, tgt: tokenizer.vocab_size},
        "joint_vocab": tokenizer.joint,
        "token_dtype": token_dtype(max(tokenizer.vocab_size, tokenizer.src_vocab_size)).name,
        "splits": splits,
        "clean": clean.as_dict(),
        "inputs": _input_fingerprint(data_cfg, work_dir),
        "pairs": _pair_sizes(source, _train_pair_sizes(data_cfg.pairs, clean.pairs, dropped)),
        "both_directions": symmetric(data_cfg),
        "data_config": dataclasses.asdict(data_cfg),
        "tokenizer_config": dataclasses.asdict(tok_cfg),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _pair_sizes(source: Source, train: list[list]) -> dict[str, list[list]]:
    """With ``data.pairs``: ``{split: [[pair, sentences], ...]}`` of valid and test, in file order (as
    counted while they were written), and ``train``'s."""
    if not isinstance(source, MultiPairSource):
        return {}
    sizes = {split: [[pair, n] for pair, n in source.pair_sizes(split)] for split in EVAL_SPLITS}
    return {"train": train, **sizes}


def _train_pair_sizes(pairs: list[str], kept: dict[str, int], dropped: list[np.ndarray]) -> list[list]:
    """``[[pair, sentences], ...]`` of the binarized train split of a ``data.pairs`` corpus: the pairs
    that cleaning kept of each (they follow each other in the order of ``pairs``), less those that
    binarization dropped (``dropped``: their positions in the cleaned text). Temperature sampling
    draws by these."""
    counts = np.array([kept.get(pair, 0) for pair in pairs], dtype=np.int64)
    positions = np.concatenate(dropped) if dropped else np.zeros(0, np.int64)
    lost = np.bincount(np.searchsorted(np.cumsum(counts), positions, side="right"), minlength=len(pairs))
    return [[pair, int(n - d)] for pair, n, d in zip(pairs, counts, lost[:len(pairs)], strict=True)]


def _clean_train(data_cfg: DataConfig, source: Source, train_text: list[Path], progress: bool) -> CleanStats:
    try:
        total = source.size_hint("train")
    except DataError:
        total = None  # only a progress bar's total: a missing input fails when it is read
    raw = _progress(source.pairs("train"), progress, "clean train", total)
    clean_out: list[CleanStats] = []
    write_pairs(clean_pairs(raw, data_cfg, clean_out), *train_text)
    clean = clean_out[0]
    removed = {k: v for k, v in clean.as_dict().items() if k not in ("total", "kept")}
    logger.info("train: %d of %d pairs kept after cleaning; removed per filter: %s",
                clean.kept, clean.total, removed)
    return clean


def _binarize_train(
    data_cfg: DataConfig, tmp: Path, train_text: list[Path], clean: CleanStats, progress: bool,
    models: tuple[Path, Path], dropped_out: list[np.ndarray] | None = None,
) -> dict:
    limit = data_cfg.max_tokens_per_sentence
    stats = binarize_pairs(
        read_text_pairs(*train_text), models, tmp, "train", data_cfg.src_lang,
        data_cfg.tgt_lang, max_tokens_per_sentence=limit, num_workers=data_cfg.num_workers,
        total=clean.kept, progress=progress, dropped_out=dropped_out,
    )
    if stats.pairs == 0:
        raise DataError(f"all {clean.kept} cleaned train pairs exceed data.max_tokens_per_sentence="
                        f"{limit} subword tokens; raise it")
    _log_split("train", stats)
    if stats.dropped_too_long:
        logger.info("train: %d pairs dropped as longer than data.max_tokens_per_sentence=%d tokens",
                    stats.dropped_too_long, limit)
    return {"raw_pairs": clean.total, **stats.as_dict()}


def write_pairs(pairs: Iterable[tuple[str, str]], src_path: Path, tgt_path: Path) -> int:
    """Write pairs as two line-aligned UTF-8 files; returns the number of pairs.

    The texts must not contain line breaks (normalized text never does).
    """
    n = 0
    with open(src_path, "w", encoding="utf-8") as fs, open(tgt_path, "w", encoding="utf-8") as ft:
        for src, tgt in pairs:
            fs.write(src + "\n")
            ft.write(tgt + "\n")
            n += 1
    return n


def keep_references(pairs: Iterable[tuple[str, str]], path: Path,
                    source_path: Path | None = None) -> Iterator[tuple[str, str]]:
    """Pass ``pairs`` through, writing each target to ``path`` as it is, one per line (and each source
    to ``source_path``: the references of the reverse direction).

    Only a line break inside a sentence (which no line-based reference file can hold) becomes a space.
    """
    with open(path, "w", encoding="utf-8", newline="\n") as f, \
            open(source_path or os.devnull, "w", encoding="utf-8", newline="\n") as g:
        for src, tgt in pairs:
            f.write(_LINE_BREAKS.sub(" ", tgt) + "\n")
            g.write(_LINE_BREAKS.sub(" ", src) + "\n")
            yield src, tgt


def _progress(pairs: Iterable, enabled: bool, desc: str, total: int | None) -> Iterator:
    bar = tqdm(pairs, total=total, unit=" pairs", unit_scale=True, desc=desc, disable=not enabled)
    with bar:
        yield from bar


def _log_split(split: str, stats: BinarizeStats) -> None:
    logger.info("%s: %d pairs, %d source and %d target tokens", split, stats.pairs,
                stats.src_tokens, stats.tgt_tokens)


# ---------------------------------------------------------------------------------- cache upkeep


def _is_complete(directory: Path, key: str) -> bool:
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    return meta.get("format_version") == FORMAT_VERSION and meta.get("cache_key") == key


def _log_reuse(directory: Path, data_cfg: DataConfig, work_dir: Path) -> None:
    logger.info("reusing prepared data in %s", directory)
    meta = json.loads((directory / META_FILE).read_text())
    changed = _changed_inputs(meta.get("inputs", []), _input_fingerprint(data_cfg, work_dir, digest=False))
    if changed:
        logger.warning(
            "the input files changed since %s was prepared (%s); delete that directory to prepare again",
            directory, ", ".join(changed),
        )


def _input_fingerprint(data_cfg: DataConfig, work_dir: Path, digest: bool = True) -> list[list]:
    """[path, size, mtime_ns, sha256] of every local input (without the digest when ``digest`` is off)."""
    # Local files can be edited in place without any setting changing; remember what was read.
    source = source_for(data_cfg, work_dir)
    found = []
    for split in ("train", *EVAL_SPLITS):
        for p in source.input_files(split):
            with contextlib.suppress(OSError):
                found.append(file_fingerprint(p, digest=digest))
    return found


def _changed_inputs(recorded: list[list], current: list[list]) -> list[str]:
    """Paths whose size or content differs from what was prepared, and inputs added or gone. A new
    modification time alone (a copy, a sync) is checked against the recorded content digest."""
    before = {entry[0]: entry for entry in recorded}
    now = {entry[0]: entry for entry in current}
    changed = sorted(set(before) ^ set(now))
    for path in sorted(set(before) & set(now)):
        old, new = before[path], now[path]
        if old[1] != new[1]:
            changed.append(path)
        elif old[2] != new[2] and (len(old) < 4 or old[3] != file_sha256(path)):
            changed.append(path)  # meta files from before the digest: the time is all there is
    return changed


def _remove_leftovers(final: Path) -> None:
    # Called under the lock: any temporary directory now belongs to a run that died.
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        logger.info("removing %s left by an interrupted prepare", stale)
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists():  # complete directories are never rebuilt in place; this one is not
        logger.info("removing incomplete %s", final)
        shutil.rmtree(final, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: single-builder assumption
        yield
        return
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("another process is preparing %s; waiting for it", path.name[1:-5])
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
