"""torchrun edges of a cluster run: data preparation longer than the process-group timeout, and
ranks that do not share the run directory or the data cache (2 gloo processes on CPU)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, TINY
from tests.smoke.test_resume_and_ddp import _losses

LAUNCHER = str(ROOT / "tests" / "smoke" / "rank_launcher.py")


def torchrun(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", LAUNCHER, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_preparation_longer_than_the_collective_timeout_still_trains(tmp_path):
    """Rank 0 prepares for 15 s more than usual while collectives time out after 6 s: rank 1 polls
    for the prepared directory instead of waiting in a barrier, and both ranks train."""
    run_dir, cache = tmp_path / "run", tmp_path / "cache"  # a fresh cache: rank 0 really prepares
    out = torchrun("--slow-prepare", "15", "--", *TINY, f"hydra.run.dir={run_dir}", f"data.cache_dir={cache}",
                   "trainer.dist_timeout_min=0.1", "trainer.max_steps=6", "trainer.save_every=6")
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(_losses(run_dir)) == 6
    log = (run_dir / "train.log").read_text()
    assert "prepared data in" in log
    assert not (run_dir / ".prepare-status.json").exists()  # rank 0 cleans up after itself
    assert not list(cache.glob(".mt-shared-check-*")) and not list(run_dir.glob(".mt-shared-check-*"))


def test_ranks_that_do_not_share_storage_fail_at_once_naming_the_path(tmp_path, tiny_cache):
    """Each rank starts in its own directory, so the relative run directory differs per rank: the
    start-up check stops the job before any data is prepared."""
    start = time.perf_counter()
    out = torchrun("--rank-dirs", str(tmp_path), "--", *TINY, "hydra.run.dir=run",
                   f"data.cache_dir={tiny_cache}", "trainer.max_steps=6")
    assert time.perf_counter() - start < 120
    assert out.returncode != 0
    assert "src/mt/" not in out.stderr  # one-line errors from our ranks (torchrun adds its own report)
    expected = (f"rank 1 (host {os.uname().nodename}) does not see the run directory (hydra.run.dir) of "
                f"rank 0 (host {os.uname().nodename}): it looked in {tmp_path / 'rank1' / 'run'}, while rank 0 "
                f"wrote {tmp_path / 'rank0' / 'run'}")
    assert expected in out.stderr, out.stderr[-3000:]
    assert "must be on storage that every node sees at the same path" in out.stderr
    assert not (tmp_path / "rank0" / "run" / "checkpoints").exists()
