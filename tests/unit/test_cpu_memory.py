"""``keep_freed_memory``: with it, a loop that allocates and frees activation-sized tensors stops
page-faulting its memory in afresh. The loop runs in its own process: the setting is process-wide."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = """
import resource, sys, torch
from mt.utils.cpu import keep_freed_memory
if not keep_freed_memory():
    print("unsupported")
    sys.exit(0)
def step():  # tensors of 4-24 MiB, made and freed in another order, as a training step does
    a = [torch.ones(n << 18) for n in (4, 16, 8, 24, 2, 12)]
    b = [t * 2 for t in a]
    del a
    return sum(float(t[0]) for t in b)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_with_the_setting() -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_freed_memory_is_reused_instead_of_faulted_in_again():
    on = _faults_with_the_setting()
    if on == "unsupported":
        pytest.skip("no glibc malloc in this process")
    # 20 steps each make 132 MiB of tensors: 675,840 pages of 4 KiB if none were reused. glibc's own
    # default reuses all or part of them depending on the address layout (about 40k or 675k faults
    # here); with the setting only a few are new (1-18k measured).
    touched = 20 * 2 * 66 * (1 << 20) // 4096
    assert int(on) < touched // 10, (on, touched)
