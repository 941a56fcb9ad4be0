"""Every registry's keys are the one list of the values its config key accepts: the config layer
holds no copy, and a value outside the registry fails before any work, naming the keys."""

import mt.config as config
from mt.data.sources import SOURCES
from mt.export.run import FORMATS
from tests.conftest import ROOT, TINY, run_cli


def test_the_config_layer_keeps_no_copy_of_a_registry():
    assert "data.source" not in config._CHOICES and not hasattr(config, "_EXPORT_FORMATS")


def test_an_unknown_data_source_stops_train_py_naming_the_registry(tmp_path):
    out = run_cli(["train.py", *TINY, "data.source=bt", f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"data.source='bt' is not one of {', '.join(SOURCES)}" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run" / "checkpoints").exists()


def test_an_unknown_export_format_names_the_registry(tmp_path):
    out = run_cli(["scripts/export.py", "checkpoint=x.pt", f"output={tmp_path / 'out'}", "format=onnx"], cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"format='onnx' is not one of {', '.join(FORMATS)}" in out.stderr
    assert not (tmp_path / "out").exists()
