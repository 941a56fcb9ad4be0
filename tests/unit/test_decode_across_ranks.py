"""Validation and test decoding split across ranks (2 gloo processes on CPU): each rank decodes a
strided share of the sentences, rank 0 gets every translation in input order."""

from __future__ import annotations

import torch
import torch.distributed as td
import torch.multiprocessing as mp

from mt.config import DecodeConfig
from mt.decode.run import translate_lines
from mt.train.validate import translate_across_ranks
from tests.unit.test_search import BOS, EOS, PAD, random_model

LINES = [" ".join("abcdefgh"[: (3 * i) % 8 + 1]) for i in range(11)] + [""]  # one empty line too


class LetterTokenizer:
    """One id per letter; enough of the Tokenizer interface for translate_lines."""

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, seen: list[str] | None = None):
        self.seen = seen if seen is not None else []

    def encode_batch(self, lines: list[str]) -> list[list[int]]:
        self.seen.extend(lines)
        return [[4 + "abcdefgh".index(c) for c in line.split()] for line in lines]

    def decode_batch(self, ids: list[list[int]]) -> list[str]:
        return [" ".join(str(i) for i in row) for row in ids]


def _rank(rank: int, init_file: str, out: dict) -> None:
    td.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    seen: list[str] = []
    hyps = translate_across_ranks(random_model(5), LetterTokenizer(seen), LINES, DecodeConfig(beam_size=3))
    out[rank] = {"hyps": hyps, "seen": seen}
    td.destroy_process_group()


def test_two_ranks_decode_disjoint_shares_and_rank0_gets_all_in_order(tmp_path):
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_rank, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
        out = dict(out)
    expected = translate_lines([random_model(5)], LetterTokenizer(), LINES, DecodeConfig(beam_size=3))
    assert out[0]["hyps"] == expected
    assert out[1]["hyps"] is None
    non_empty = [line for line in LINES if line]
    assert out[0]["seen"] == [line for line in LINES[0::2] if line]  # rank 0: lines 0, 2, 4, ...
    assert out[1]["seen"] == [line for line in LINES[1::2] if line]
    assert sorted(out[0]["seen"] + out[1]["seen"]) == sorted(non_empty)


def test_one_process_decodes_everything():
    seen: list[str] = []
    hyps = translate_across_ranks(random_model(5), LetterTokenizer(seen), LINES, DecodeConfig(beam_size=3))
    assert hyps == translate_lines([random_model(5)], LetterTokenizer(), LINES, DecodeConfig(beam_size=3))
    assert seen == [line for line in LINES if line]
