"""Normalization of every split and filtering of the train split.

Valid and test are only normalized (their pairs and order are what the BLEU scores refer to); train
pairs additionally pass a chain of filters, each counted in ``CleanStats`` under the first filter
that rejected the pair.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from mt.config import DataConfig
from mt.data.download import DataError

SHORT_PAIR_WORDS = 3
"""Pairs whose longer side has at most this many words are exempt from the length-ratio filter."""


def normalize_text(text: str, form: str | None) -> str:
    """Unicode-normalize ``text`` (``form`` = NFC/NFKC/NFD/NFKD or None) and collapse whitespace.

    Runs of whitespace (including tabs and line breaks) become one space; ends are stripped.
    """
    if form is not None:
        text = unicodedata.normalize(form, text)
    return " ".join(text.split())


@dataclass
class CleanStats:
    """How many train pairs each filter removed (a pair counts under the first filter it fails)."""

    total: int = 0
    kept: int = 0
    empty: int = 0
    copy: int = 0
    too_many_words: int = 0
    length_ratio: int = 0
    duplicate: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict of the counts (for logs and meta.json)."""
        return asdict(self)

    @property
    def removed(self) -> int:
        """Total number of pairs dropped."""
        return self.total - self.kept


class PairFilter:
    """Stateful train-pair filter; call ``reason(src, tgt)`` on normalized pairs in corpus order.

    Duplicates are remembered as 8-byte blake2b digests held as Python ints, about 70 bytes per
    distinct pair: ~300 MB for 4.5M pairs, instead of keeping the strings themselves.
    """

    def __init__(self, cfg: DataConfig) -> None:
        self.max_words = cfg.max_words
        self.max_length_ratio = cfg.max_length_ratio
        self.dedup = cfg.dedup
        self.remove_copies = cfg.remove_copies
        self.stats = CleanStats()
        self._seen: set[int] = set()

    def reason(self, src: str, tgt: str) -> str | None:
        """The name of the filter that rejects the pair (a CleanStats field), or None to keep it."""
        if not src or not tgt:
            return "empty"
        if self.remove_copies and src == tgt:
            return "copy"
        n_src, n_tgt = src.count(" ") + 1, tgt.count(" ") + 1  # inputs are whitespace-collapsed
        if n_src > self.max_words or n_tgt > self.max_words:
            return "too_many_words"
        longer, shorter = max(n_src, n_tgt), min(n_src, n_tgt)
        if longer > SHORT_PAIR_WORDS and longer > self.max_length_ratio * shorter:
            return "length_ratio"
        if self.dedup:
            key = pair_digest(src, tgt)
            if key in self._seen:
                return "duplicate"
            self._seen.add(key)
        return None

    def keep(self, src: str, tgt: str) -> bool:
        """Update the counts and say whether the pair survives every filter."""
        self.stats.total += 1
        why = self.reason(src, tgt)
        if why is None:
            self.stats.kept += 1
            return True
        setattr(self.stats, why, getattr(self.stats, why) + 1)
        return False


def pair_digest(src: str, tgt: str) -> int:
    """Stable 64-bit digest of a pair (the tab cannot occur inside whitespace-collapsed text)."""
    data = f"{src}\t{tgt}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def normalize_pairs(pairs: Iterable[tuple[str, str]], form: str | None) -> Iterator[tuple[str, str]]:
    """Normalize both sides of every pair; nothing is dropped (used for valid/test)."""
    for src, tgt in pairs:
        yield normalize_text(src, form), normalize_text(tgt, form)


def clean_pairs(
    pairs: Iterable[tuple[str, str]], cfg: DataConfig, stats_out: list[CleanStats] | None = None
) -> Iterator[tuple[str, str]]:
    """Normalize and filter train pairs lazily.

    The final counts are appended to ``stats_out`` once the input is exhausted. A corpus that no pair
    survives raises DataError, naming the filter that removed the most.
    """
    flt = PairFilter(cfg)
    for src, tgt in pairs:
        src, tgt = normalize_text(src, cfg.normalize), normalize_text(tgt, cfg.normalize)
        if flt.keep(src, tgt):
            yield src, tgt
    check_not_empty(flt.stats)
    if stats_out is not None:
        stats_out.append(flt.stats)


def check_not_empty(stats: CleanStats) -> None:
    """Raise DataError when cleaning left no train pairs, pointing at the responsible setting."""
    if stats.kept:
        return
    if stats.total == 0:
        raise DataError("the train split is empty: the source produced no pairs")
    counts = {k: v for k, v in stats.as_dict().items() if k not in ("total", "kept")}
    worst = max(counts, key=counts.get)
    setting = {
        "empty": "the data itself (every pair has an empty side)",
        "copy": "data.remove_copies",
        "too_many_words": "data.max_words",
        "length_ratio": "data.max_length_ratio",
        "duplicate": "data.dedup",
    }[worst]
    raise DataError(
        f"cleaning removed all {stats.total} train pairs (counts per filter: {counts}); "
        f"most were dropped by '{worst}': relax {setting}"
    )
