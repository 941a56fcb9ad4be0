"""Reading parallel text files: UTF-8 lines, line-aligned pairs, ``source<TAB>target`` lines.

Every reader is lazy (one line at a time) and every malformed input is a DataError naming the file,
and the line where there is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from mt.data.errors import DataError


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
