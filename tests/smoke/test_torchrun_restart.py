"""torchrun --max-restarts: a worker killed mid-run is restarted in place with its peers, the new
ranks meet again, and the run resumes from last.pt to the weights of an uninterrupted run (gloo, 2
processes on CPU).

torchrun keeps one key-value store across the restarts of its workers; before mt gave each attempt a
store of its own, the restarted ranks could read the dead ranks' addresses from it and hang in
init_process_group, past the process-group timeout.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TINY

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

# Rank 1 dies by SIGKILL right after the first collective of the first attempt.
WORKER = """
import os, signal
from mt.utils import dist

info = dist.init_distributed("cpu", timeout_min=0.5)
total = dist.all_reduce_sum([1.0])[0]
attempt = os.environ["TORCHELASTIC_RESTART_COUNT"]
if attempt == "0" and info.rank == 1:
    os.kill(os.getpid(), signal.SIGKILL)
dist.barrier()
print(f"rank {info.rank} attempt {attempt} summed {total:g}", flush=True)
dist.destroy_distributed()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(rendezvous: str) -> list[str]:
    launch = ["--standalone"] if rendezvous == "standalone" else \
        ["--rdzv-backend=static", "--master-addr=127.0.0.1", f"--master-port={_free_port()}"]
    return [sys.executable, "-m", "torch.distributed.run", *launch, "--nproc-per-node=2", "--max-restarts=1"]


@pytest.mark.parametrize("rendezvous", ["standalone", "static"])
def test_restarted_workers_meet_again(tmp_path, rendezvous):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    start = time.perf_counter()
    out = subprocess.run([*_torchrun(rendezvous), str(script)], cwd=ROOT, capture_output=True, text=True,
                         timeout=90, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rank 0 attempt 1 summed 2" in out.stdout and "rank 1 attempt 1 summed 2" in out.stdout, out.stdout
    assert time.perf_counter() - start < 60


def test_rank_that_cannot_reach_rank_0_stops_naming_its_address(monkeypatch):
    """torchrun's store still holds the port of a rank 0 that is gone, and no new one arrives: rank 1
    skips the dead port and, after the process-group timeout, stops with a message instead of hanging."""
    from torch.distributed import TCPStore

    from mt.utils import dist
    from mt.utils.errors import MTError

    agent = TCPStore("127.0.0.1", 0, 2, is_master=True, wait_for_workers=False)
    dead = _free_port()
    agent.set("mt/attempt_store_port", f"127.0.0.1 {dead}")
    for key, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(agent.port), "TORCHELASTIC_USE_AGENT_STORE": "True"}.items():
        monkeypatch.setenv(key, value)
    start = time.perf_counter()
    with pytest.raises(MTError, match=f"rank 1 could not reach the store of rank 0 at 127.0.0.1:{dead} .*"
                                      f"run the same command again; it resumes from checkpoints/last.pt"):
        dist.init_distributed("cpu", timeout_min=0.05)
    assert 2 < time.perf_counter() - start < 10


def _train(run_dir: Path, cache: Path) -> list[str]:
    steps = ["trainer.max_steps=40", "trainer.save_every=10",
             "model.dropout=0.1"]  # dropout on: each rank's RNG state must come back from last.pt too
    return [*_torchrun("standalone"), "train.py", *TINY, *steps, f"hydra.run.dir={run_dir}",
            f"data.cache_dir={cache}"]


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _worker_pid(parent: int, rank: int) -> int | None:
    """The pid of the first-attempt worker of ``rank`` among the children of torchrun (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (proc / "environ").read_bytes().split(b"\0") if ppid == parent else []
        except (OSError, ValueError, IndexError):  # not a pid, or it has exited meanwhile
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RESTART_COUNT=0" in env:
            return int(proc.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker to kill through /proc")
def test_worker_killed_mid_run_resumes_in_place_to_the_same_weights(tmp_path, tiny_cache):
    reference = tmp_path / "reference"
    out = subprocess.run(_train(reference, tiny_cache), cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]

    killed, log = tmp_path / "killed", tmp_path / "killed.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(_train(killed, tiny_cache), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
                                env=ENV, start_new_session=True)
        try:
            deadline = time.time() + 120
            while not (killed / "checkpoints" / "last.pt").exists() and time.time() < deadline \
                    and proc.poll() is None:
                time.sleep(0.05)
            rank1 = _worker_pid(proc.pid, rank=1)
            assert rank1 is not None and proc.poll() is None, "the run ended before its worker could be killed"
            os.kill(rank1, signal.SIGKILL)  # as the kernel's OOM killer would
            returncode = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:  # torchrun and its workers, in a session of their own
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = log.read_text()
    assert returncode == 0, text[-3000:]
    assert "resumed from" in text, text[-3000:]
    expected, got = _weights(reference), _weights(killed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
