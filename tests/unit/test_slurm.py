"""scripts/slurm/train.sbatch: valid bash, and the torchrun command it starts on each node."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "slurm" / "train.sbatch"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def fake_command(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_script_parses():
    out = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_one_torchrun_per_node_at_a_shared_rendezvous(tmp_path):
    """With Slurm's commands replaced by recorders, the script starts the documented command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_command(bin_dir, "scontrol", 'test "$1 $2 $3" = "show hostnames gpu[07-08]" && printf "gpu07\\ngpu08\\n"')
    fake_command(bin_dir, "srun", f'printf "%s\\n" "$@" > {tmp_path / "srun.args"}; pwd > {tmp_path / "cwd"}')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu[07-08]",
           "SLURM_NNODES": "2", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "mt", "SLURM_GPUS_ON_NODE": "4",
           "SLURM_SUBMIT_DIR": str(tmp_path)}
    env.pop("RUN_ID", None)
    out = subprocess.run(["bash", str(SCRIPT), "experiment=wmt14_en_de", "trainer.max_tokens=1600"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    args = (tmp_path / "srun.args").read_text().split("\n")[:-1]
    assert args == [
        "--ntasks-per-node=1", "--kill-on-bad-exit=1", "python", "-m", "torch.distributed.run",
        "--nnodes=2", "--nproc_per_node=4", "--rdzv_backend=c10d", "--rdzv_endpoint=gpu07:29500",
        "--rdzv_id=mt_4242", "train.py", "experiment=wmt14_en_de", "trainer.max_tokens=1600",
    ]
    assert (tmp_path / "cwd").read_text().strip() == str(tmp_path)  # started where the job was submitted
    assert "run mt_4242: 2 nodes x 4 GPUs, rendezvous at gpu07:29500" in out.stdout
