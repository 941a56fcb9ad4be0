"""TensorBoard logging: opened at the first write, never needed by code that does not log."""

from __future__ import annotations

import subprocess
import sys

from mt.train import metrics
from mt.train.metrics import MetricsWriter
from tests.conftest import ROOT

NO_WRITE = """
import sys
from mt.train.metrics import MetricsWriter
writer = MetricsWriter(sys.argv[1])
writer.flush()
writer.close()
print(sorted(m for m in ("tensorboard", "torch.utils.tensorboard") if m in sys.modules))
"""


def test_a_writer_that_never_writes_imports_no_tensorboard_and_makes_no_directory(tmp_path):
    """The benchmarks and the GPU check build a Trainer (and so a writer) but never log."""
    out = subprocess.run([sys.executable, "-c", NO_WRITE, str(tmp_path / "tb")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]"] and not (tmp_path / "tb").exists()


def test_first_write_opens_the_event_file_and_close_ends_writing(tmp_path):
    writer = MetricsWriter(tmp_path / "tb")
    writer.scalars("train", {"loss": 2.5}, step=1)
    writer.close()
    files = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(files) == 1
    writer.scalars("train", {"loss": 2.0}, step=2)  # after close: dropped, no second file
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")) == files


def test_without_tensorboard_training_logs_on_after_one_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # its import now fails
    warnings: list[str] = []
    monkeypatch.setattr(metrics.log, "warning", lambda msg, *args: warnings.append(msg % args))
    writer = MetricsWriter(tmp_path / "tb")
    writer.scalars("train", {"loss": 2.5}, step=1)
    writer.text("valid/samples", "a b c", step=1)
    writer.hparams({"lr": 1e-3}, {"test_bleu": 1.0})
    writer.close()
    assert len(warnings) == 1 and f"no TensorBoard logs in {tmp_path / 'tb'}" in warnings[0]
    assert "pip install tensorboard" in warnings[0]
    assert not (tmp_path / "tb").exists()
