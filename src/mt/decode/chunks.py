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

Several processes share a file by ``Shard``: chunk i belongs to shard ``i % count`` (the torchrun
rank, or ``translate.py shard=i/n`` in independent jobs such as a Slurm array). No process talks to
another: each writes its own chunks, whole, into a directory named by the same settings record, and
skips those already there when it is run again. The process that finds every chunk done (or an
explicit ``merge_chunks``) checks the record and that no chunk is missing, and concatenates them into
the output atomically: the bytes one process writes, since chunk boundaries, and so the batches
within them, do not depend on who translates them.

    <dir>/.<name>.chunks/<key>/settings.json   the settings record (``key``: its digest)
    <dir>/.<name>.chunks/<key>/00000012.txt    chunk 12, written whole (temporary file, fsync, rename)
    <dir>/.<name>.chunks/<key>/merging         host and pid of the process writing the output
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mt.utils.dist import DistInfo
from mt.utils.errors import MTError
from mt.utils.io import atomic_open, write_json
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
    chunk_lines: int, progress: bool = False, shard: Shard | None = None, wait: bool = False,
) -> int:
    """Translate ``input_path`` into ``output`` chunk by chunk, resuming a crashed run of the same
    ``settings`` (anything that changes the output: checkpoints, decoding options). Returns the number
    of input lines.

    With a ``shard``, only its chunks are translated; the output is written by the process that
    finds every chunk done, or, with ``wait``, by this one or another before it returns. A process
    without a shard continues a sharded translation of the same settings that it finds."""
    scan = scan_input(input_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    wanted = _wanted(settings, scan, chunk_lines)
    if shard is None and chunk_dir(output, wanted).is_dir():
        log.info("continuing the sharded translation of %s in this process", output)
        shard = Shard(0, 1)
    if shard is not None:
        _translate_shard(input_path, output, translate, wanted, shard, progress=progress)
        merged = _merge(output, wanted, explicit=False)
        if wait and not merged:
            _wait_for_output(output, wanted)
        return scan.lines
    partial, state_path = partial_paths(output)
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


def _wanted(settings: dict[str, Any], scan: InputScan, chunk_lines: int) -> dict[str, Any]:
    """The settings record: what must be equal for a chunk translated earlier to be reused."""
    return {"settings": settings, "input_sha256": scan.sha256, "input_lines": scan.lines,
            "chunk_lines": chunk_lines}


_CHANGED = {"settings": "the checkpoint or decoding settings", "input_sha256": "the input file",
            "input_lines": "the input file", "chunk_lines": "chunk_lines"}


def _changed(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    """What differs between two settings records, in words ("" when nothing does)."""
    return ", ".join(dict.fromkeys(_CHANGED[k] for k in wanted if saved.get(k) != wanted[k]))


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
    what = _changed(saved, wanted)
    if what:
        log.warning("a partial translation in %s was made with different %s; translating from the start",
                    partial, what)
        return fresh
    size = partial.stat().st_size if partial.is_file() else -1
    if size < saved.get("bytes_done", 0):
        log.warning("%s is shorter than %s records; translating from the start", partial, state_path)
        return fresh
    return {**fresh, "lines_done": int(saved["lines_done"]), "bytes_done": int(saved["bytes_done"])}


# ------------------------------------------------------------------ several processes, one file


@dataclass(frozen=True)
class Shard:
    """One of ``count`` processes sharing a chunked translation: it translates chunks ``index``,
    ``index + count``, ... of the file."""

    index: int
    count: int

    def owns(self, chunk: int) -> bool:
        return chunk % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_for(spec: str | None, info: DistInfo) -> Shard | None:
    """This process's shard: ``spec`` (``"i/n"``, validated by the config) and the torchrun rank
    combined, so that each of n jobs running torchrun splits its share again among its ranks (job i,
    rank r of w: shard ``i * w + r`` of ``n * w``). None for one process alone."""
    index, count = (int(x) for x in spec.split("/")) if spec else (0, 1)
    if info.distributed:
        index, count = index * info.world_size + info.rank, count * info.world_size
    return Shard(index, count) if count > 1 else None


def chunk_dir(output: Path, wanted: dict[str, Any]) -> Path:
    """Where the shards of ``output`` keep the chunks of one settings record."""
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return output.with_name(f".{output.name}.chunks") / key


def _chunk_path(directory: Path, index: int) -> Path:
    return directory / f"{index:08d}.txt"


def _chunk_count(wanted: dict[str, Any]) -> int:
    return -(-wanted["input_lines"] // wanted["chunk_lines"])


def _chunk_sizes(wanted: dict[str, Any], chunks: Collection[int]) -> int:
    """Input lines in ``chunks`` (every chunk is full but the last)."""
    lines, size = wanted["input_lines"], wanted["chunk_lines"]
    return sum(min(size, lines - i * size) for i in chunks)


def _iter_chosen_chunks(path: Path, chunk_lines: int, chosen: Collection[int]) -> Iterator[tuple[int, list[str]]]:
    """``(index, lines)`` of the chunks in ``chosen``, split as ``iter_line_chunks`` splits them; the
    lines of other chunks are read but not decoded."""
    chunk: list[str] = []
    with open(path, "rb") as f:
        for line_index, raw in enumerate(f):
            index = line_index // chunk_lines
            if index in chosen:
                line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
                chunk.append(line.removeprefix("\ufeff") if line_index == 0 else line)
                if len(chunk) == chunk_lines:
                    yield index, chunk
                    chunk = []
    if chunk:
        yield index, chunk


def _translate_shard(input_path: Path, output: Path, translate: TranslateChunk, wanted: dict[str, Any],
                     shard: Shard, *, progress: bool) -> None:
    """Translate the chunks of ``shard`` that are not done yet, each into its own file."""
    directory = chunk_dir(output, wanted)
    directory.mkdir(parents=True, exist_ok=True)
    _warn_other_records(directory, wanted)
    if not (directory / "settings.json").is_file():
        write_json(directory / "settings.json", wanted)  # identical from every shard: a race is harmless
    mine = [i for i in range(_chunk_count(wanted)) if shard.owns(i)]
    for i in mine:  # temporary files of a chunk whose writer crashed; only this shard writes them
        for leftover in directory.glob(f".{_chunk_path(directory, i).name}.*.tmp"):
            leftover.unlink(missing_ok=True)
    todo = {i for i in mine if not _chunk_path(directory, i).is_file()}
    if len(todo) < len(mine):
        log.info("shard %s: resuming; %d of its %d chunks are done (in %s)", shard, len(mine) - len(todo),
                 len(mine), directory)
    total = _chunk_sizes(wanted, mine)
    with tqdm(total=total, initial=total - _chunk_sizes(wanted, todo), desc=f"translate {shard}", unit="sent",
              file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        for index, chunk in _iter_chosen_chunks(input_path, wanted["chunk_lines"], todo) if todo else ():
            lines = translate(chunk, index * wanted["chunk_lines"], bar)
            with atomic_open(_chunk_path(directory, index), "wb") as f:  # whole or not at all
                f.write("".join(line + "\n" for line in lines).encode("utf-8"))


def _warn_other_records(directory: Path, wanted: dict[str, Any]) -> None:
    """Name the chunks of the same output made with other settings: they are not used, and the merge
    removes them."""
    for other in sorted(directory.parent.iterdir()):
        if other != directory and other.is_dir():
            log.warning("the chunks in %s were made with different %s; they are not used", other,
                        _record_difference(other, wanted))


def _record_difference(directory: Path, wanted: dict[str, Any]) -> str:
    """What the settings record in ``directory`` has that ``wanted`` has not, in words."""
    try:
        return _changed(json.loads((directory / "settings.json").read_text()), wanted) or "settings"
    except (OSError, ValueError):
        return "settings (unreadable record)"


def _missing(directory: Path, wanted: dict[str, Any]) -> list[int]:
    return [i for i in range(_chunk_count(wanted)) if not _chunk_path(directory, i).is_file()]


def merge_chunks(input_path: Path, output: Path, settings: dict[str, Any], *, chunk_lines: int) -> int:
    """Write ``output`` from the chunks that shards translated with these ``settings``: the explicit
    merge step (``translate.py merge=true``). Every chunk must be there and made with the same
    settings and input, or nothing is written (an MTError says which are missing). Returns the number
    of input lines."""
    scan = scan_input(input_path)
    _merge(output, _wanted(settings, scan, chunk_lines), explicit=True)
    return scan.lines


def _merge(output: Path, wanted: dict[str, Any], *, explicit: bool) -> bool:
    """Concatenate the chunks into ``output`` when all are done and no live process merges already;
    whether this call wrote it. ``explicit``: anything that stops the merge is an MTError."""
    directory = chunk_dir(output, wanted)
    missing = _missing(directory, wanted) if directory.is_dir() else None
    if missing is None or missing:
        if explicit:
            raise MTError(_missing_message(output, directory, wanted, missing))
        return False
    lock = _claim_merge(directory, explicit=explicit)
    if lock is None:
        return False
    try:
        saved = json.loads((directory / "settings.json").read_text())
    except (OSError, ValueError):
        saved = {}
    if saved != json.loads(json.dumps(wanted)):
        lock.unlink(missing_ok=True)
        raise MTError(f"cannot merge {output}: the settings record {directory / 'settings.json'} is missing or "
                      f"differs from this run's settings; translate again (its chunks are not used)")
    with atomic_open(output, "wb") as out:
        for i in range(_chunk_count(wanted)):
            with open(_chunk_path(directory, i), "rb") as f:
                shutil.copyfileobj(f, out)
    # Renamed before it is removed, so that no process can claim a merge in a half-removed directory.
    # The chunks of other settings go with it, as one process's partial file is replaced.
    trash = directory.parent.with_name(f"{directory.parent.name}.merged-{os.getpid()}")
    os.replace(directory.parent, trash)
    shutil.rmtree(trash)
    log.info("merged %d chunks into %s", _chunk_count(wanted), output)
    return True


def _missing_message(output: Path, directory: Path, wanted: dict[str, Any], missing: list[int] | None) -> str:
    """What stops an explicit merge, and what to do about it."""
    if missing is None:
        others = sorted(p for p in directory.parent.iterdir() if p.is_dir()) if directory.parent.is_dir() else []
        made = "".join(f"; {other} holds chunks made with different {_record_difference(other, wanted)}"
                       for other in others)
        return (f"cannot merge {output}: no chunks were translated with these settings and this input{made}; "
                f"run the shards first, with the same checkpoint, decoding settings, input and chunk_lines")
    shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
    size = wanted["chunk_lines"]
    return (f"cannot merge {output}: {len(missing)} of {_chunk_count(wanted)} chunks are not translated yet "
            f"(chunk {shown}; chunk i holds input lines i*{size}+1 to (i+1)*{size}, in {directory}). Chunk i "
            f"belongs to shard i % n of shard=k/n (the rank, under torchrun): run those shards again, or "
            f"run without shard= to translate the missing chunks in one process")


def _claim_merge(directory: Path, *, explicit: bool) -> Path | None:
    """Become the one process that merges: create ``merging`` exclusively. Another process's claim
    stands while it may be alive (None), unless ``explicit`` and that process is gone or elsewhere."""
    lock, me = directory / "merging", {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:  # the directory is gone: another process has merged
            return None
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
            except (OSError, ValueError):  # being written, or removed by a merge that just ended
                holder = {}
            here = holder.get("host") == me["host"]
            if here and _alive(holder.get("pid", -1)):
                if explicit:
                    raise MTError(f"process {holder['pid']} on this machine is merging {directory} now") from None
                return None
            if not (here or explicit):
                log.info("%s:%s merges the chunks in %s (if it is gone, merge with merge=true)",
                         holder.get("host", "?"), holder.get("pid", "?"), directory)
                return None
            log.warning("taking over the merge of %s from %s", directory, holder or "an unreadable claim")
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, TypeError):
        return True
    return True


WAIT_REPORT_S = 300.0


def _wait_for_output(output: Path, wanted: dict[str, Any], *, poll_s: float = 2.0) -> None:
    """Poll until the output is written, merging it here when every chunk is done first (the last
    shard may have looked before another's chunk reached the shared filesystem). No collective is
    pending: the other shards may take as long as they need."""
    directory, next_report = chunk_dir(output, wanted), time.monotonic() + WAIT_REPORT_S
    while not (output.is_file() and not directory.is_dir()):
        if _merge(output, wanted, explicit=False):
            return
        if time.monotonic() >= next_report:
            missing = _missing(directory, wanted) if directory.is_dir() else []
            log.info("waiting for the other shards: %d of %d chunks of %s still to translate", len(missing),
                     _chunk_count(wanted), output)
            next_report = time.monotonic() + WAIT_REPORT_S
        time.sleep(poll_s)
