"""Reading and writing text files of one sentence per line, as every command does.

Lines split on ``\\n`` only (as ``wc -l`` counts them), a leading byte-order mark and a trailing
``\\r`` are dropped, ``-`` means stdin or stdout, and files are written atomically.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Sequence
from pathlib import Path

from mt.utils.errors import MTError
from mt.utils.io import atomic_open


def resolve_path(path: str | Path, work_dir: str | Path = ".") -> Path:
    """``path`` relative to ``work_dir`` (the directory the command was started from) unless absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(work_dir) / p


def decode_utf8_lines(data: bytes, name: str) -> list[str]:
    """Split UTF-8 ``data`` into lines on ``\\n`` only (as ``wc -l`` counts them; a final line
    break is optional, a trailing ``\\r`` and a leading byte-order mark are dropped). Invalid UTF-8
    raises MTError naming ``name`` and the 1-based line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise MTError(f"{name}, line {line}: invalid UTF-8 (byte 0x{data[e.start]:02x}); the input must be "
                      f"UTF-8 text (convert it first, e.g. iconv -f LATIN1 -t UTF-8)") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_text_lines(path: str, work_dir: str | Path = ".") -> list[str]:
    """The lines of text file ``path`` (``-`` reads stdin), see ``decode_utf8_lines``."""
    if path == "-":
        return decode_utf8_lines(sys.stdin.buffer.read(), "<stdin>")
    file = resolve_path(path, work_dir)
    if not file.is_file():
        raise MTError(f"input file not found: {file}")
    return decode_utf8_lines(file.read_bytes(), str(file))


def write_text_lines(path: str, lines: Sequence[str], work_dir: str | Path = ".") -> None:
    """Write ``lines`` to ``path`` atomically (a crash leaves no half-written file); ``-`` is stdout."""
    text = "".join(line + "\n" for line in lines)
    if path == "-":
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    with atomic_open(resolve_path(path, work_dir), "w", encoding="utf-8") as f:
        f.write(text)
