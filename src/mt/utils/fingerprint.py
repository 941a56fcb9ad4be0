"""What identifies a file's version: its path, size and modification time, and optionally its content.

Recorded next to work derived from a file (a prepared corpus, a half-translated output), they tell a
later run whether the file is still the one that was used: a checkpoint rewritten in place
(``last.pt``) or an edited corpus file differs in size or time.
"""

from __future__ import annotations

import hashlib
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
