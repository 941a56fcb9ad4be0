"""What identifies a file's version: its path, size and modification time, and optionally its content.

Recorded next to work derived from a file (a prepared corpus, a half-translated output), they tell a
later run whether the file is still the one that was used: a checkpoint rewritten in place
(``last.pt``) or an edited corpus file differs in size or time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path


def file_fingerprint(path: str | Path, *, digest: bool = False) -> list:
    """``[resolved path, size, mtime_ns]``, plus the content's SHA-256 (``file_sha256``) when ``digest``
    is on. A JSON-ready list; raises OSError when the file cannot be read."""
    path = Path(path)
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns, *([file_sha256(path)] if digest else [])]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def version_of(path: str | Path) -> tuple:
    """``(name, size, mtime_ns)`` of a file, or of every file of a directory (sorted): what changes
    when it is rewritten."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


_REMEMBERED: dict[tuple, str] = {}


def once_per_version(path: str | Path, compute: Callable[[Path], str]) -> str:
    """``compute(path)``, remembered per version of ``path`` (``version_of``) for the life of the
    process: digests of large checkpoints and corpora that several parts of one run ask for are read
    once. ``path`` must exist."""
    path = Path(path)
    key = (compute, str(path.resolve()), version_of(path))
    if key not in _REMEMBERED:
        _REMEMBERED[key] = compute(path)
    return _REMEMBERED[key]


def _path_sha256(path: Path) -> str:
    if path.is_file():
        return file_sha256(path)
    files = sorted(p for p in path.iterdir() if p.is_file())
    return hashlib.sha256("".join(f"{p.name}:{file_sha256(p)}" for p in files).encode()).hexdigest()


def path_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory's files (their names and digests), once per version."""
    return once_per_version(path, _path_sha256)
