"""Chunked, resumable translation of files: a crash costs one chunk, a rerun resumes, settings guard."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mt.decode.chunks import (
    Shard,
    chunk_dir,
    iter_line_chunks,
    merge_chunks,
    partial_paths,
    scan_input,
    shard_for,
    translate_resumable,
)
from mt.utils.dist import DistInfo
from mt.utils.errors import MTError


class Crash(Exception):
    pass


def reverse_words(calls: list[int], crash_at: int | None = None):
    """A stand-in translator: reverses the words of each line and records each chunk's first line."""

    def translate(lines, start, bar):
        if start == crash_at:
            raise Crash(f"crash at line {start}")
        calls.append(start)
        return [" ".join(reversed(line.split())) for line in lines]

    return translate


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("\ufeffa b\r\n\nc d e\nf\ng h\n", encoding="utf-8")  # BOM, CRLF, an empty line
    return path


EXPECTED = "b a\n\ne d c\nf\nh g\n"


def test_chunks_split_lines_like_the_whole_file_reader(text):
    assert scan_input(text).lines == 5
    assert list(iter_line_chunks(text, 2)) == [["a b", ""], ["c d e", "f"], ["g h"]]
    assert list(iter_line_chunks(text, 2, skip=4)) == [["g h"]]
    (text.parent / "no_newline.txt").write_text("x\ny", encoding="utf-8")
    assert scan_input(text.parent / "no_newline.txt").lines == 2


def test_invalid_utf8_is_found_before_any_translation(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nfine\nd\xe9j\xe0 vu\n")
    calls: list[int] = []
    with pytest.raises(MTError, match=r"bad\.txt, line 3: invalid UTF-8"):
        translate_resumable(bad, tmp_path / "out.txt", reverse_words(calls), {}, chunk_lines=1)
    assert calls == []


def test_crash_then_rerun_resumes_after_the_last_finished_chunk(text, tmp_path, caplog):
    out = tmp_path / "out" / "hyp.txt"
    first: list[int] = []
    with pytest.raises(Crash):
        translate_resumable(text, out, reverse_words(first, crash_at=4), {"beam": 4}, chunk_lines=2)
    assert first == [0, 2] and not out.exists()  # the output appears only when complete
    partial, state = partial_paths(out)
    assert json.loads(state.read_text())["lines_done"] == 4
    with partial.open("ab") as f:
        f.write(b"half a chunk written when the crash came")  # never counted: must be dropped

    second: list[int] = []
    with caplog.at_level(logging.INFO, logger="mt"):
        assert translate_resumable(text, out, reverse_words(second), {"beam": 4}, chunk_lines=2) == 5
    assert second == [4]  # only the chunk that was not finished
    assert "resuming" in caplog.text and "after line 4 of 5" in caplog.text
    assert out.read_text(encoding="utf-8") == EXPECTED
    assert sorted(p.name for p in out.parent.iterdir()) == ["hyp.txt"]


@pytest.mark.parametrize("change", ["settings", "input", "chunk_lines"])
def test_other_settings_or_input_start_over(text, tmp_path, caplog, change):
    out = tmp_path / "hyp.txt"
    with pytest.raises(Crash):
        translate_resumable(text, out, reverse_words([], crash_at=2), {"checkpoint": "a"}, chunk_lines=2)
    settings, chunk_lines = {"checkpoint": "a"}, 2
    if change == "settings":
        settings = {"checkpoint": "b"}
    elif change == "input":
        text.write_text("z y\n", encoding="utf-8")
    else:
        chunk_lines = 3
    calls: list[int] = []
    with caplog.at_level(logging.WARNING, logger="mt"):
        translate_resumable(text, out, reverse_words(calls), settings, chunk_lines=chunk_lines)
    assert calls[0] == 0 and "translating from the start" in caplog.text
    assert out.read_text(encoding="utf-8") == ("y z\n" if change == "input" else EXPECTED)


def test_lost_partial_file_starts_over(text, tmp_path):
    out = tmp_path / "hyp.txt"
    with pytest.raises(Crash):
        translate_resumable(text, out, reverse_words([], crash_at=4), {}, chunk_lines=2)
    partial_paths(out)[0].unlink()
    calls: list[int] = []
    translate_resumable(text, out, reverse_words(calls), {}, chunk_lines=2)
    assert calls == [0, 2, 4] and out.read_text(encoding="utf-8") == EXPECTED


# ------------------------------------------------------------- shards: several processes, one file


def test_chunk_i_belongs_to_shard_i_mod_n_and_torchrun_splits_a_shard_again():
    alone, two_ranks = DistInfo(), DistInfo(rank=1, local_rank=1, world_size=2)
    assert shard_for(None, alone) is None and shard_for("0/1", alone) is None
    assert shard_for("1/4", alone) == Shard(1, 4)
    assert shard_for(None, two_ranks) == Shard(1, 2)
    assert shard_for("1/4", two_ranks) == Shard(3, 8)  # job 1 of 4, rank 1 of 2
    assert [i for i in range(10) if Shard(1, 4).owns(i)] == [1, 5, 9]


def sharded_run(text: Path, out: Path, count: int, chunk_lines: int = 2, **kwargs) -> list[list[int]]:
    """Each shard in turn, as independent jobs would; the chunks (first lines) each translated."""
    calls: list[list[int]] = []
    for index in range(count):
        calls.append([])
        translate_resumable(text, out, reverse_words(calls[-1]), {"beam": 4}, chunk_lines=chunk_lines,
                            shard=Shard(index, count), **kwargs)
    return calls


@pytest.fixture
def long_text(tmp_path) -> Path:
    path = tmp_path / "long.txt"
    path.write_text("\ufeffa b\r\n\n" + "".join(f"w{i} x{i} ü{i}\n" for i in range(21)), encoding="utf-8")
    return path


def test_shards_merge_into_the_bytes_of_one_process_in_order(long_text, tmp_path):
    single = tmp_path / "single.txt"
    translate_resumable(long_text, single, reverse_words([]), {"beam": 4}, chunk_lines=2)
    out = tmp_path / "out" / "hyp.txt"
    calls = sharded_run(long_text, out, 3)
    assert calls == [[0, 6, 12, 18], [2, 8, 14, 20], [4, 10, 16, 22]]  # 23 lines, 12 chunks
    assert out.read_bytes() == single.read_bytes()
    assert out.read_text(encoding="utf-8").splitlines()[:3] == ["b a", "", "ü0 x0 w0"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["hyp.txt"]  # the chunks are gone


def test_the_output_appears_only_when_the_last_shard_is_done(long_text, tmp_path):
    out = tmp_path / "hyp.txt"
    translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=5, shard=Shard(1, 2))
    assert not out.exists()
    (chunks,) = out.with_name(".hyp.txt.chunks").iterdir()
    assert sorted(p.name for p in chunks.iterdir()) == ["00000001.txt", "00000003.txt", "settings.json"]
    translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=5, shard=Shard(0, 2))
    assert out.is_file() and not chunks.exists()


def test_a_crashed_shard_resumes_its_own_chunks_only(long_text, tmp_path, caplog):
    out = tmp_path / "hyp.txt"
    crashed: list[int] = []
    with pytest.raises(Crash):  # shard 1/2 dies in its third chunk (lines 10-11)
        translate_resumable(long_text, out, reverse_words(crashed, crash_at=10), {}, chunk_lines=2,
                            shard=Shard(1, 2))
    assert crashed == [2, 6]
    (chunks,) = out.with_name(".hyp.txt.chunks").iterdir()
    (chunks / ".00000005.txt.x1y2.tmp").write_bytes(b"half a chunk")  # what a SIGKILL leaves
    other: list[int] = []
    translate_resumable(long_text, out, reverse_words(other), {}, chunk_lines=2, shard=Shard(0, 2))
    assert other == [0, 4, 8, 12, 16, 20] and not out.exists()  # chunks of shard 1 are missing

    resumed: list[int] = []
    with caplog.at_level(logging.INFO, logger="mt"):
        translate_resumable(long_text, out, reverse_words(resumed), {}, chunk_lines=2, shard=Shard(1, 2))
    assert resumed == [10, 14, 18, 22]  # not 2 and 6 again
    assert "shard 1/2: resuming; 2 of its 6 chunks are done" in caplog.text
    single = tmp_path / "single.txt"
    translate_resumable(long_text, single, reverse_words([]), {}, chunk_lines=2)
    assert out.read_bytes() == single.read_bytes()


def test_merge_refuses_missing_chunks_naming_them(long_text, tmp_path):
    out = tmp_path / "hyp.txt"
    translate_resumable(long_text, out, reverse_words([]), {"beam": 4}, chunk_lines=4, shard=Shard(0, 3))
    with pytest.raises(MTError, match=r"cannot merge .*hyp\.txt: 4 of 6 chunks are not translated yet "
                                      r"\(chunk 1, 2, 4, 5; .*shard i % n"):
        merge_chunks(long_text, out, {"beam": 4}, chunk_lines=4)
    assert not out.exists()
    with pytest.raises(MTError, match="no chunks were translated with these settings and this input; .* holds "
                                      "chunks made with different the checkpoint or decoding settings"):
        merge_chunks(long_text, out, {"beam": 5}, chunk_lines=4)  # other settings: not these chunks
    for index in (1, 2):
        translate_resumable(long_text, out, reverse_words([]), {"beam": 4}, chunk_lines=4, shard=Shard(index, 3))
    assert out.is_file()


def test_an_explicit_merge_writes_what_no_shard_merged(long_text, tmp_path):
    single = tmp_path / "single.txt"
    translate_resumable(long_text, single, reverse_words([]), {"beam": 4}, chunk_lines=2)
    out = tmp_path / "hyp.txt"
    directory = chunk_dir(out, _wanted_for(long_text, {"beam": 4}, 2))
    directory.mkdir(parents=True)
    # A claim by a process on another machine: the shards leave the merge to it.
    (directory / "merging").write_text(json.dumps({"host": "another-node", "pid": 1}))
    sharded_run(long_text, out, 2)
    assert not out.exists()
    merge_chunks(long_text, out, {"beam": 4}, chunk_lines=2)  # when that process is gone
    assert out.read_bytes() == single.read_bytes() and not directory.exists()


def _wanted_for(text: Path, settings: dict, chunk_lines: int) -> dict:
    scan = scan_input(text)
    return {"settings": settings, "input_sha256": scan.sha256, "input_lines": scan.lines, "chunk_lines": chunk_lines}


def test_a_dead_claim_on_this_machine_is_taken_over(long_text, tmp_path):
    out = tmp_path / "hyp.txt"
    directory = chunk_dir(out, _wanted_for(long_text, {}, 3))
    directory.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (directory / "merging").write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    for index in range(2):
        translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=3, shard=Shard(index, 2))
    assert out.is_file() and not directory.exists()


def test_one_process_finishes_a_sharded_translation(long_text, tmp_path, caplog):
    out = tmp_path / "hyp.txt"
    translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=4, shard=Shard(1, 2))
    calls: list[int] = []
    with caplog.at_level(logging.INFO, logger="mt"):
        translate_resumable(long_text, out, reverse_words(calls), {}, chunk_lines=4)  # no shard
    assert calls == [0, 8, 16] and "continuing the sharded translation" in caplog.text
    single = tmp_path / "single.txt"
    translate_resumable(long_text, single, reverse_words([]), {}, chunk_lines=4)
    assert out.read_bytes() == single.read_bytes()


def test_a_waiting_shard_returns_when_the_other_has_merged(long_text, tmp_path):
    out, errors = tmp_path / "hyp.txt", []

    def first() -> None:
        try:
            translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=2, shard=Shard(0, 2), wait=True)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    waiting = threading.Thread(target=first)
    waiting.start()
    waiting.join(timeout=1.0)
    assert waiting.is_alive() and not out.exists()  # its chunks are done; shard 1's are not
    translate_resumable(long_text, out, reverse_words([]), {}, chunk_lines=2, shard=Shard(1, 2))
    waiting.join(timeout=30)
    assert not waiting.is_alive() and errors == [] and out.is_file()
