"""Translating a large file in chunks that survive a crash.

The input is read ``chunk_lines`` lines at a time. Each translated chunk is appended to a hidden
partial file beside the output, made durable (fsync), and only then counted in a small state file
(``lines_done``, ``bytes_done``), also written atomically. Rerun with the same settings, the job
truncates the partial file to the last counted chunk and continues after it; with other settings
(checkpoint, decoding options, input content, chunk size) it starts over and says why. When every
chunk is done, the partial file is renamed to the output: the output appears complete or not at all,
in input order, and a crash at 90% of a ten-million-line file costs one chunk.

    <dir>/.<name>.partial        the translated chunks so far
    <dir>/.<name>.partial.json   settings, input fingerprint, lines_done, bytes_done
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mt.utils.errors import MTError
from mt.utils.io import write_json
from mt.utils.logging import get_logger

log = get_logger(__name__)

TranslateChunk = Callable[[list[str], int, tqdm], list[str]]
"""``(lines, index of the first line, progress bar) -> output lines`` for one chunk."""


@dataclass(frozen=True)
class InputScan:
    """What is known about an input file after one pass over it."""

    lines: int
    sha256: str


def scan_input(path: Path) -> InputScan:
    """Count the lines of ``path``, hash its bytes and check that it is UTF-8, in one pass (binary
    blocks: fast even for gigabytes). Invalid UTF-8 raises MTError naming the 1-based line."""
    digest, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")()
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as e:
                line = lines + block.count(b"\n", 0, max(e.start, 0)) + 1
                raise MTError(f"{path}, line {line}: invalid UTF-8; the input must be UTF-8 text "
                              f"(convert it first, e.g. iconv -f LATIN1 -t UTF-8)") from None
            lines += block.count(b"\n")
            last = block[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise MTError(f"{path}, line {lines + 1}: invalid UTF-8 (the file ends inside a character)") from None
    return InputScan(lines + (last != b"\n"), digest.hexdigest())


def iter_line_chunks(path: Path, chunk_lines: int, skip: int = 0) -> Iterator[list[str]]:
    """The lines of a UTF-8 file (checked by ``scan_input``) in lists of ``chunk_lines``, after the
    first ``skip`` lines. Lines split on ``\\n`` only; a trailing ``\\r`` and a leading byte-order
    mark are dropped, as ``read_text_lines`` does."""
    chunk: list[str] = []
    with open(path, "rb") as f:
        for index, raw in enumerate(f):
            if index < skip:
                continue
            line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            chunk.append(line.removeprefix("\ufeff") if index == 0 else line)
            if len(chunk) == chunk_lines:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def partial_paths(output: Path) -> tuple[Path, Path]:
    """The hidden partial output and its state file, beside ``output``."""
    return output.with_name(f".{output.name}.partial"), output.with_name(f".{output.name}.partial.json")


def translate_resumable(
    input_path: Path, output: Path, translate: TranslateChunk, settings: dict[str, Any], *,
    chunk_lines: int, progress: bool = False,
) -> int:
    """Translate ``input_path`` into ``output`` chunk by chunk, resuming a crashed run of the same
    ``settings`` (anything that changes the output: checkpoints, decoding options). Returns the number
    of input lines."""
    scan = scan_input(input_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial, state_path = partial_paths(output)
    wanted = {"settings": settings, "input_sha256": scan.sha256, "input_lines": scan.lines,
              "chunk_lines": chunk_lines}
    state = _resume_state(partial, state_path, wanted)
    if state["lines_done"]:
        log.info("resuming %s after line %d of %d (from %s)", output, state["lines_done"], scan.lines, partial)
    with open(partial, "r+b" if state["lines_done"] else "wb") as f, tqdm(
        total=scan.lines, initial=state["lines_done"], desc="translate", unit="sent", file=sys.stderr,
        disable=not progress, dynamic_ncols=True,
    ) as bar:
        f.truncate(state["bytes_done"])  # drop a chunk written but not yet counted when the crash came
        f.seek(state["bytes_done"])
        write_json(state_path, state)
        for chunk in iter_line_chunks(input_path, chunk_lines, skip=state["lines_done"]):
            data = "".join(line + "\n" for line in translate(chunk, state["lines_done"], bar)).encode("utf-8")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the chunk is on disk before the state counts it
            state["lines_done"] += len(chunk)
            state["bytes_done"] += len(data)
            write_json(state_path, state)
    os.replace(partial, output)
    state_path.unlink()
    return scan.lines


def _resume_state(partial: Path, state_path: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """The saved state when it matches ``wanted`` and the partial file holds what it counts; else a
    fresh one (with a warning naming what changed)."""
    fresh = {**wanted, "lines_done": 0, "bytes_done": 0}
    try:
        saved = json.loads(state_path.read_text())
    except FileNotFoundError:
        return fresh
    except (OSError, ValueError):
        log.warning("ignoring the unreadable %s; translating from the start", state_path)
        return fresh
    changed = [key for key in wanted if saved.get(key) != wanted[key]]
    if changed:
        names = {"settings": "the checkpoint or decoding settings", "input_sha256": "the input file",
                 "input_lines": "the input file", "chunk_lines": "chunk_lines"}
        what = ", ".join(dict.fromkeys(names[k] for k in changed))
        log.warning("a partial translation in %s was made with different %s; translating from the start",
                    partial, what)
        return fresh
    size = partial.stat().st_size if partial.is_file() else -1
    if size < saved.get("bytes_done", 0):
        log.warning("%s is shorter than %s records; translating from the start", partial, state_path)
        return fresh
    return {**fresh, "lines_done": int(saved["lines_done"]), "bytes_done": int(saved["bytes_done"])}
