"""A file translated by several processes: torchrun's ranks, or the tasks of a Slurm array
(``shard=i/n``), write the bytes one process writes; ``merge=true`` refuses missing chunks; a
synthetic corpus is built by every rank. Real processes, a tiny checkpoint, seconds each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from mt.config import ConfigError, DecodeConfig, TranslateConfig, translate_config
from mt.decode import synthetic
from mt.decode.run import translate_file
from mt.decode.synthetic import build_synthetic
from mt.utils import dist
from tests.conftest import ROOT
from tests.unit.test_synthetic import MONO, _cfg, corpus  # noqa: F401 - the fixture
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences

ARGS = ["input=in.txt", "chunk_lines=40", "decode.beam_size=2", "decode.max_len_b=8", "decode.device=cpu",
        "progress=false", "threads=1"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A tiny checkpoint, 300 input lines (one empty), and one process's translation of them."""
    root = tmp_path_factory.mktemp("shards")
    checkpoint = make_checkpoint(root / "best.pt", make_tokenizer(root / "spm"))
    lines = sentences(300, seed=5)
    lines[17] = ""
    (root / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    threads = torch.get_num_threads()
    try:
        translate_file(TranslateConfig(checkpoint=[str(checkpoint)], input="in.txt", output="reference.txt",
                                       chunk_lines=40, progress=False, threads=1, work_dir=str(root),
                                       decode=DecodeConfig(beam_size=2, max_len_b=8, device="cpu")))
    finally:
        torch.set_num_threads(threads)
    return root


def run(args: list[str], cwd: Path, *, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")}
    return subprocess.run([*(launcher or [sys.executable]), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "OMP_NUM_THREADS": "1"})


def test_shard_must_be_i_of_n_counted_from_zero():
    with pytest.raises(ConfigError, match=r"shard=4/4: the index counts from 0, so 4 jobs are shard=0/4 to "
                                          r"shard=3/4 \(Slurm: --array=0-3\)"):
        translate_config({"checkpoint": "a.pt", "shard": "4/4"})
    with pytest.raises(ConfigError, match="must be i/n"):
        translate_config({"checkpoint": "a.pt", "shard": "half"})
    assert translate_config({"checkpoint": "a.pt", "shard": "1/4"}).shard == "1/4"


def test_threads_default_to_the_cores_of_this_node_shared_by_its_processes(monkeypatch):
    monkeypatch.setattr(dist, "usable_cores", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert dist.threads_per_process() == 5
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert dist.threads_per_process() == 1


def test_two_torchrun_ranks_write_the_bytes_of_one_process(workdir, tmp_path):
    for name in ("in.txt", "best.pt"):
        (tmp_path / name).symlink_to(workdir / name)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = run([str(ROOT / "translate.py"), "checkpoint=best.pt", "output=out/hyp.txt", *ARGS], tmp_path,
               launcher=torchrun)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shard 0/2 translated 160 of 300 lines" in proc.stderr  # chunks 0, 2, 4, 6 (rank 1 logs no INFO)
    assert (tmp_path / "out" / "hyp.txt").read_bytes() == (workdir / "reference.txt").read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hyp.txt"]


def test_a_slurm_array_writes_the_bytes_of_one_process_and_merge_names_missing_chunks(workdir, tmp_path):
    """scripts/slurm/translate_array.sbatch with srun replaced by running its command here: task 1 of
    2 alone leaves no output, and merge=true refuses, naming the chunks of task 0; task 0 completes it."""
    for name in ("in.txt", "best.pt", "translate.py", "conf"):
        (tmp_path / name).symlink_to(workdir / name if name in ("in.txt", "best.pt") else ROOT / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f'#!/bin/bash\ntest "$1" = python && shift\nexec {sys.executable} "$@"\n')
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_SUBMIT_DIR": str(tmp_path),
           "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_CPUS_PER_TASK": "1", "OMP_NUM_THREADS": "1"}
    args = ["checkpoint=best.pt", "output=hyp.txt", *[a for a in ARGS if not a.startswith(("progress", "threads"))]]

    def task(index: int) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(ROOT / "scripts" / "slurm" / "translate_array.sbatch"), *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**env, "SLURM_ARRAY_TASK_ID": str(index)})

    first = task(1)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "task 1 of 2" in first.stdout and not (tmp_path / "hyp.txt").exists()
    merge = run([str(ROOT / "translate.py"), *args, "merge=true"], tmp_path)
    assert merge.returncode == 2
    assert "4 of 8 chunks are not translated yet (chunk 0, 2, 4, 6;" in merge.stderr
    second = task(0)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (tmp_path / "hyp.txt").read_bytes() == (workdir / "reference.txt").read_bytes()


def _synthetic_rank(rank: int, root: Path, calls: dict) -> None:
    """One torchrun rank, as far as build_synthetic can tell, with an upper-casing model."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2")
    starts: list[int] = []

    def translator(job, syn):
        def translate(lines, start, progress):
            starts.append(start)
            return [line.upper() for line in lines]
        return translate, "upper-case"
    synthetic._translator = translator
    out = build_synthetic(_cfg(root, "backtranslate", mono=str(root / "mono.de"), chunk_lines=2), root,
                          progress=False)
    calls[rank] = {"starts": starts, "complete": out.is_file()}


def test_two_ranks_build_a_synthetic_corpus_together(corpus):  # noqa: F811 - the fixture
    with mp.Manager() as manager:
        calls = manager.dict()
        mp.spawn(_synthetic_rank, args=(corpus, calls), nprocs=2, join=True)
        calls = dict(calls)
    assert calls[0] == {"starts": [0, 4], "complete": True}  # MONO: 6 lines, 3 chunks
    assert calls[1] == {"starts": [2], "complete": True}  # each rank returns with the whole corpus
    (built,) = (corpus / "cache").rglob("translations.txt")
    assert built.read_text(encoding="utf-8").splitlines() == [m.upper() for m in MONO]
