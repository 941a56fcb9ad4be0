"""scripts/compare_runs.py on fake run directories with real TensorBoard event files."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"


@pytest.fixture(scope="module")
def compare_runs():
    spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_scalars(run_dir: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.add_text("valid/samples", "**src:** a  \n**hyp:** b", 1)  # non-scalar data is ignored
    writer.close()


def make_run(run_dir: Path, *, results=None, overrides=None, name=None, scalars=None) -> Path:
    run_dir.mkdir(parents=True)
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps(results))
    if overrides is not None or name is not None:
        (run_dir / ".hydra").mkdir()
    if overrides is not None:
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if name is not None:
        (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"trainer": {"seed": 1}, "name": name}))
    if scalars is not None:
        write_scalars(run_dir, scalars)
    return run_dir


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    """outputs/wmt14/a: finished (results.json); outputs/demo/b: still training (no results, no BLEU)."""
    monkeypatch.chdir(tmp_path)
    finished = make_run(
        Path("outputs/wmt14/a"),
        results={"name": "wmt14_en_de", "bleu": 26.456, "chrf": 57.123, "ter": 60.0, "steps": 100000,
                 "train_time_s": 3723.4, "best_valid": 25.75, "best_metric": "bleu", "stop_reason": "max_time",
                 "schedule_cut_short": True},
        overrides=["experiment=wmt14_en_de", "run_id=a", "trainer.max_tokens=8192", "optim.lr=1e-3",
                   "hydra.run.dir=elsewhere"],
        name="wmt14_en_de",
        # mean tok/s = (1000 + 2000 + 3500) / 3 = 2166.67; best BLEU is the middle point, not the last
        scalars={"train/tgt_tok_per_s": [(50, 1000.0), (100, 2000.0), (150, 3500.0)],
                 "valid/bleu": [(1000, 24.5), (2000, 25.75), (3000, 25.25)],
                 "train/loss": [(50, 5.0), (150, 4.0)]},
    )
    training = make_run(
        Path("outputs/demo/b"),
        overrides=["run_id=b", "trainer.max_steps=10", "trainer.progress=false"],
        name="demo",
        scalars={"train/tgt_tok_per_s": [(5, 100.0), (10, 300.0)], "train/loss": [(5, 7.0), (10, 6.5)]},
    )
    return finished, training


ROW_A = ["outputs/wmt14/a", "wmt14_en_de", "trainer.max_tokens=8192 optim.lr=1e-3", "100000", "1:02:03",
         "max_time (cut)", "2167", "25.75", "26.46", "57.12"]
ROW_B = ["outputs/demo/b", "demo", "trainer.max_steps=10", "10", "-", "-", "200", "-", "-", "-"]
HEADER = ["run", "experiment", "overrides", "steps", "wall time", "stopped by", "tgt tok/s", "best valid BLEU",
          "test BLEU", "test chrF"]


def markdown_cells(text: str) -> list[list[str]]:
    lines = text.strip().splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]


def test_parent_dir_gives_markdown_table_of_every_run(compare_runs, two_runs, capsys):
    compare_runs.main(["outputs"])
    cells = markdown_cells(capsys.readouterr().out)
    assert cells[0] == HEADER
    assert set(cells[1][3]) == {"-", ":"}  # numeric columns are right-aligned
    assert cells[2:] == [ROW_B, ROW_A]  # found below outputs/, sorted by path


def test_markdown_layout_is_exact(compare_runs, two_runs, capsys):
    compare_runs.main(["outputs/demo/b"])
    assert capsys.readouterr().out == (
        "| run            | experiment | overrides            | steps | wall time | stopped by | tgt tok/s "
        "| best valid BLEU | test BLEU | test chrF |\n"
        "|----------------|------------|----------------------|------:|----------:|------------|----------:"
        "|----------------:|----------:|----------:|\n"
        "| outputs/demo/b | demo       | trainer.max_steps=10 |    10 |         - | -          |       200 "
        "|               - |         - |         - |\n"
    )


def test_curve_lists_every_validation_with_its_minutes(compare_runs, tmp_path, capsys):
    make_run(tmp_path / "budget", name="multi30k_en_de",
             scalars={"valid/bleu": [(200, 12.25), (400, 24.5)], "valid/chrf": [(200, 33.0), (400, 46.0)],
                      "valid/minutes": [(200, 3.44), (400, 7.01)], "train/loss": [(50, 5.0)]})
    make_run(tmp_path / "old", name="multi30k_en_de", scalars={"valid/bleu": [(800, 34.5)]})
    compare_runs.main([str(tmp_path), "--curve"])
    cells = markdown_cells(capsys.readouterr().out)
    assert cells[0] == ["run", "step", "minutes", "valid BLEU", "valid chrF"]
    assert cells[2:] == [[str(tmp_path / "budget"), "200", "3.4", "12.25", "33.00"],
                         [str(tmp_path / "budget"), "400", "7.0", "24.50", "46.00"],
                         [str(tmp_path / "old"), "800", "-", "34.50", "-"]]  # a run from before the minutes


def test_csv_to_file_keeps_the_given_order(compare_runs, two_runs, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    compare_runs.main(["outputs/wmt14/a", "outputs/demo/b", "outputs/wmt14/a", "--format", "csv",
                       "--output", str(out)])
    assert capsys.readouterr().out == ""
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows == [HEADER, ROW_A, ROW_B]  # the repeated run appears once


def test_best_valid_falls_back_to_results_json(compare_runs, tmp_path):
    run = make_run(tmp_path / "r", results={"name": "x", "best_valid": 30.5, "best_metric": "bleu"})
    assert compare_runs.summarize_run(run)["best_valid_bleu"] == "30.50"
    loss_run = make_run(tmp_path / "s", results={"name": "x", "best_valid": -2.5, "best_metric": "loss"})
    assert compare_runs.summarize_run(loss_run)["best_valid_bleu"] == "-"  # a negated loss is no BLEU


def test_damaged_files_show_dashes_and_warn(compare_runs, tmp_path, capsys):
    run = tmp_path / "broken"
    (run / ".hydra").mkdir(parents=True)
    (run / "results.json").write_text('{"bleu": 3')  # truncated
    (run / ".hydra" / "overrides.yaml").write_text("- [unclosed\n")
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "events.out.tfevents.1.host.1.0").write_bytes(b"\x00garbage")
    row = compare_runs.summarize_run(run, label="broken")
    assert row == {key: "-" for key in compare_runs.COLUMNS} | {"run": "broken"}
    err = capsys.readouterr().err
    assert "results.json is not readable JSON" in err
    assert "overrides.yaml is not readable YAML" in err


def test_not_a_run_dir_is_a_one_line_error(compare_runs, tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(SystemExit) as exc:
        compare_runs.main([str(tmp_path / "empty")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / 'empty'} is not a run directory")


def test_missing_path_is_a_one_line_error(compare_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        compare_runs.main([str(tmp_path / "nope")])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'nope'} does not exist; pass a run directory (outputs/<name>/<run_id>) "
        f"or a directory above runs (e.g. outputs/)\n"
    )


def test_help_names_the_sources(compare_runs, capsys):
    with pytest.raises(SystemExit) as exc:
        compare_runs.main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "RUN_DIR" in text and "--format {markdown,csv}" in text and "--output FILE" in text
    assert "results.json" in text and "train/tgt_tok_per_s" in text and "valid/bleu" in text


def test_format_duration(compare_runs):
    assert compare_runs.format_duration(3723.4) == "1:02:03"
    assert compare_runs.format_duration(59.6) == "0:01:00"
    assert compare_runs.format_duration(90061) == "25:01:01"


def test_key_overrides_drop_bookkeeping(compare_runs):
    overrides = ["experiment=demo", "run_id=x", "hydra.run.dir=y", "+trainer.progress=false",
                 "model=transformer_big", "~optim.fused"]
    assert compare_runs.key_overrides(overrides, "demo") == "model=transformer_big ~optim.fused"
    assert compare_runs.key_overrides(["experiment=demo"], "demo_lr") == "experiment=demo"
    assert compare_runs.key_overrides(["run_id=x"], "demo") == "-"


def test_markdown_escapes_pipes(compare_runs):
    row = {key: "-" for key in compare_runs.COLUMNS} | {"run": "a|b"}
    assert "a\\|b" in compare_runs.to_markdown([row]).splitlines()[2]
