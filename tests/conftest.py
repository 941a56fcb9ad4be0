"""Shared fixtures: compose the real Hydra configs with tiny overrides."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mt.utils.compose import compose_config

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def compose_train(overrides: list[str], run_dir: Path, work_dir: Path) -> dict:
    """The resolved plain-dict train config, as train.py would see it."""
    return compose_config("config", overrides, run_dir=run_dir, work_dir=work_dir, config_dir=CONF)


@pytest.fixture
def compose_cfg():
    return compose_train


def run_cli(args: list[str], cwd: Path, *, stdin: str | None = None, timeout: int = 600, env=None):
    """Run ``python <script> ...`` from the repo root with a clean thread setting."""
    import subprocess

    full_env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


# A tiny model on a reduced demo corpus: each training run takes seconds.
TINY = [
    "data.demo_sizes={train:3000,valid:50,test:50}", "tokenizer.vocab_size=500",
    "model.encoder_layers=1", "model.decoder_layers=1", "model.d_model=64", "model.n_heads=2",
    "model.ffn_dim=128", "optim.warmup_steps=20", "trainer.max_tokens=512", "trainer.log_every=1",
    "trainer.progress=false", "trainer.threads=1", "trainer.valid_bleu=false", "trainer.test_at_end=false",
    "trainer.best_metric=loss",
    "trainer.precision=fp32",  # auto is bf16 on CPUs with native bf16: numerical tests would depend on the CPU
    "trainer.budget_min=0",  # a step schedule: runs and resumes must be exact, however loaded the machine
]


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """The TINY corpus, prepared once for every test that trains on it."""
    path = tmp_path_factory.mktemp("cache")
    out = run_cli(["scripts/prepare_data.py", *TINY, f"data.cache_dir={path}", "--no-progress"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return path
