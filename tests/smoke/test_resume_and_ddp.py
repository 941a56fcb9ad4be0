"""Exact resume after SIGKILL, and DDP (gloo, 2 processes) against a single process.

Both use a tiny model on a reduced demo corpus so each training run takes seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import ROOT, TINY, run_cli


def _train_args(run_dir: Path, cache: Path, *extra: str) -> list[str]:
    return ["train.py", *TINY, f"hydra.run.dir={run_dir}", f"data.cache_dir={cache}", *extra]


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _losses(run_dir: Path) -> list[float]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [e.value for e in sorted(events.Scalars("train/loss"), key=lambda e: e.step)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, tiny_cache, precision):
    steps = ["trainer.max_steps=40", "trainer.save_every=10", f"trainer.precision={precision}",
             "model.dropout=0.1"]  # dropout on: the RNG state must be restored too
    reference = tmp_path / "reference"
    out = run_cli(_train_args(reference, tiny_cache, *steps), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *_train_args(killed, tiny_cache, *steps)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    last = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more steps past the checkpoint, which the resumed run must redo
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), "the run never wrote a checkpoint before being killed"

    out = run_cli(_train_args(killed, tiny_cache, *steps), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resumed from" in out.stderr
    expected, got = _weights(reference), _weights(killed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert _losses(reference)[-5:] == _losses(killed)[-5:]


def test_ddp_two_processes_match_one_process_with_same_global_batch(tmp_path, tiny_cache):
    """2 ranks x 1 batch per update sees exactly the batches 1 rank x update_freq 2 sees, and the loss
    is normalised by the update's total target tokens in both; with dropout off the curves agree up to
    float summation order (gradient all-reduce vs. local accumulation): 1e-4 relative is ample for
    that and far below the step-to-step change of the loss (> 1e-2)."""
    common = ["trainer.max_steps=25", "trainer.save_every=25", "model.dropout=0.0", "trainer.precision=fp32"]
    single = tmp_path / "single"
    out = run_cli(_train_args(single, tiny_cache, *common, "trainer.update_freq=2"), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]

    ddp = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    # Validation BLEU and the test decode run with the sentences split across the two ranks.
    scored = ["trainer.valid_bleu=true", "trainer.test_at_end=true"]
    proc = subprocess.run([*torchrun, *_train_args(ddp, tiny_cache, *common, *scored)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = _losses(single), _losses(ddp)
    assert len(a) == len(b) == 25
    assert a == pytest.approx(b, rel=1e-4)
    assert a[0] - a[-1] > 0.5  # it did learn: the comparison is not between two flat lines
    assert sorted(p.name for p in ddp.iterdir() if not p.name.startswith(".")) == \
        ["checkpoints", "results.json", "tensorboard", "test.hyp.txt", "train.log"]  # rank 0 writes
    results = json.loads((ddp / "results.json").read_text())
    assert results["num_sentences"] == 50 and results["steps"] == 25
    assert len((ddp / "test.hyp.txt").read_text().splitlines()) == 50
    assert "valid step 25" in proc.stderr and "bleu" in proc.stderr


def test_ddp_ranks_agree_on_early_stopping(tmp_path, tiny_cache):
    """best_metric=loss, patience 1, and ranks whose own validation numbers disagree (rank 0's grow
    tenfold with each batch, rank 1's shrink): the valid loss is computed split across the ranks and
    reduced, so both hold the same value and stop together, at the second validation. (When each rank
    computed the whole loss itself, rank 0 stopped there and rank 1 trained on, until the collectives
    timed out.)"""
    run_dir = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                str(ROOT / "tests" / "smoke" / "rank_launcher.py"), "--skew-valid-loss", "--"]
    overrides = [*TINY, f"hydra.run.dir={run_dir}", f"data.cache_dir={tiny_cache}", "trainer.max_steps=40",
                 "trainer.valid_every=10", "trainer.save_every=10", "trainer.patience=1",
                 "trainer.best_metric=loss", "trainer.dist_timeout_min=0.5"]
    proc = subprocess.run([*torchrun, *overrides], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["stop_reason"] == "patience" and results["steps"] == 20, results
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["trainer"]["step"] == 20


def test_diverging_run_stops_with_a_clear_error(tmp_path, tiny_cache):
    """A huge learning rate blows the weights up; the non-finite updates are skipped, then the run
    stops with exit 2 and a message naming the last good checkpoint, without a traceback."""
    run_dir = tmp_path / "nan"
    out = run_cli(_train_args(run_dir, tiny_cache, "optim.lr=1e6", "optim.warmup_steps=1", "optim.clip_norm=0",
                              "trainer.max_steps=40", "trainer.max_bad_steps=3", "trainer.save_every=1"),
                  cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "consecutive non-finite updates" in out.stderr and "last.pt" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.count("update skipped") == 3
    torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)  # still a readable checkpoint
