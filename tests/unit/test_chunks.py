"""Chunked, resumable translation of files: a crash costs one chunk, a rerun resumes, settings guard."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mt.decode.chunks import iter_line_chunks, partial_paths, scan_input, translate_resumable
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
