"""``keep_freed_memory``: with it, a loop that allocates and frees activation-sized tensors stops
page-faulting its memory in afresh; without it (glibc's defaults) the same loop faults several times
more (each case in a fresh interpreter). It is process-wide, so it is train.py's to set: building a
Trainer in a process of one's own (a notebook) leaves the allocator alone."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, TINY

SCRIPT = """
import resource, sys, torch
from mt.utils.cpu import keep_freed_memory
mode = sys.argv[1]
if mode == "on" and not keep_freed_memory():
    print("unsupported")
    sys.exit(0)
def step():  # 64 activations of 1 MiB, freed together at the end of the step
    acts = [torch.ones(1 << 18) for _ in range(64)]
    return sum(float(t[0]) for t in acts)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

TOUCHED = 20 * 64 * (1 << 20) // 4096
"""Pages the loop touches: 327,680 of 4 KiB if none were reused."""


def _faults(*args: str) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "",
                                           "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def faults_on() -> int:
    on = _faults("on")
    if on == "unsupported":
        pytest.skip("no glibc malloc in this process")
    return int(on)


def test_freed_memory_is_reused_instead_of_faulted_in_again(faults_on):
    # glibc's defaults trim the freed top of the heap (more than twice the mmap threshold) after each
    # step, so the next step faults it in again: 16k-330k faults here, depending on the address
    # layout. With the setting the heap keeps it (about 2k measured).
    off = int(_faults("off"))
    assert faults_on < TOUCHED // 20, (faults_on, TOUCHED)
    assert 4 * faults_on < off, (faults_on, off)


def test_building_a_trainer_leaves_the_allocator_alone(tmp_path, tiny_cache, compose_cfg, monkeypatch):
    """The setting is train.py's (``run(cfg, own_process=True)``) and the benchmarks': a Trainer built
    in a notebook does not call it. Every loaded mt module's reference to it is replaced by a recorder
    (glibc's own thresholds move with what the process allocated, so the faults cannot tell)."""
    import mt.utils.cpu as cpu
    from mt.config import train_config
    from mt.train.run import tune_process
    from mt.train.trainer import Trainer

    calls: list[int] = []
    original = cpu.keep_freed_memory
    for module in [m for name, m in sys.modules.items() if name == "mt" or name.startswith("mt.")]:
        if getattr(module, "keep_freed_memory", None) is original:
            monkeypatch.setattr(module, "keep_freed_memory", lambda: calls.append(1) or True)
    cfg = train_config(compose_cfg([*TINY, f"data.cache_dir={tiny_cache}", "trainer.device=cpu",
                                    "trainer.keep_freed_memory=true"], tmp_path / "run", ROOT))
    trainer = Trainer(cfg, tmp_path / "run")
    try:
        assert calls == []
        tune_process(trainer)
        assert calls == [1]
    finally:
        trainer.close()
