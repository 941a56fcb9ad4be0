"""scripts/sweep.py: the stage-by-stage choice on valid, with a fake runner, and the real sweep file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def sweep():
    sys.path.insert(0, str(SCRIPTS))  # sweep.py reads runs with compare_runs.py, its neighbour
    try:
        spec = importlib.util.spec_from_file_location("sweep", SCRIPTS / "sweep.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["sweep"] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


SPEC = {
    "experiment": "x", "sweep_id": "s", "base": ["trainer.budget_min=30"],
    "stages": [
        {"name": "lr", "runs": {"lr2": [], "lr1": ["optim.lr=1"], "lr3": ["optim.lr=3"]}},
        {"name": "drop", "runs": {"d1": [], "d2": ["model.dropout=0.2"]}},
        {"name": "decode", "decode": True, "runs": {"lp06": ["decode.length_penalty=0.6"]}},
    ],
}
# Valid BLEU by overrides: lr 3 wins the first stage; dropout 0.2 does worse than the incumbent, so
# the second stage keeps lr 3 as it is; the length penalty then helps. Decoding lr 3 again outside
# training (the decode stage's reference) scores 30.8, not the 31.0 of the training log.
SCORES = {("",): 30.0, ("optim.lr=1",): 28.0, ("optim.lr=3",): 31.0,
          ("optim.lr=3", "model.dropout=0.2"): 30.5,
          ("optim.lr=3", "decode.length_penalty=0.6"): 31.4}
DECODED = {("optim.lr=3",): 30.8}


def fake_runner(calls, scores=SCORES, decoded=DECODED):
    def run(spec, run, best, extra, valid, dry_run):
        calls.append((run.stage, run.name, list(run.overrides), best.name if best else None))
        key = tuple(run.overrides) or ("",)
        run.valid_bleu = decoded[key] if run.decode_only and key in decoded else scores[key]
    return run


def test_each_stage_starts_from_the_best_so_far(sweep, tmp_path):
    calls = []
    runs, best = sweep.run_sweep(SPEC, tmp_path, [], {}, runner=fake_runner(calls))
    assert calls == [
        ("lr", "lr2", [], None), ("lr", "lr1", ["optim.lr=1"], None), ("lr", "lr3", ["optim.lr=3"], None),
        # d1 would repeat lr3 exactly: not rerun, lr3 competes with its score
        ("drop", "d2", ["optim.lr=3", "model.dropout=0.2"], "lr3"),
        # the decode stage decodes the best run unchanged too, and compares with that, not the log
        ("decode", "as-trained", ["optim.lr=3"], "lr3"),
        ("decode", "lp06", ["optim.lr=3", "decode.length_penalty=0.6"], "lr3"),
    ]
    assert best.overrides == ["optim.lr=3", "decode.length_penalty=0.6"] and best.valid_bleu == 31.4
    assert best.run_dir == tmp_path / "lr-lr3"  # a decode stage keeps the trained run's checkpoints
    text = sweep.table(runs, best, SPEC["base"])
    assert "| lr | lr3 | optim.lr=3 |" in text and "| decode | lp06 **(chosen)** |" in text


def test_a_decode_variant_must_beat_the_same_decoder_not_the_training_log(sweep, tmp_path):
    # The length penalty scores 30.9: below the training log's 31.0 for lr 3, above the 30.8 that
    # evaluate.py gives lr 3 unchanged. Against the log it would lose; against its twin it wins.
    scores = {**SCORES, ("optim.lr=3", "decode.length_penalty=0.6"): 30.9}
    _, best = sweep.run_sweep(SPEC, tmp_path, [], {}, runner=fake_runner([], scores))
    assert best.overrides == ["optim.lr=3", "decode.length_penalty=0.6"] and best.valid_bleu == 30.9
    # ...and when no variant beats the reference, the reference is the choice, with its own score
    scores[("optim.lr=3", "decode.length_penalty=0.6")] = 30.7
    _, best = sweep.run_sweep(SPEC, tmp_path, [], {}, runner=fake_runner([], scores))
    assert best.name == "as-trained" and best.overrides == ["optim.lr=3"] and best.valid_bleu == 30.8


def test_decode_stages_start_from_the_recipes_decoding(sweep, tmp_path):
    run_dir = tmp_path / "lr-lr3"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(
        "decode:\n  beam_size: 4\n  length_penalty: 1.0\n  no_repeat_ngram_size: 3\n  precision: fp32\n")
    trained = sweep.Run("lr", "lr3", ["optim.lr=3"], run_dir)
    variant = sweep.Run("decode", "lp06", ["optim.lr=3", "decode.length_penalty=0.6"], tmp_path / "d",
                        decode_only=True)
    command = sweep.decode_command(variant, trained, {"src": "val.en", "ref": "val.de"}, [])
    decode = [c for c in command if c.startswith("decode.")]
    assert decode == ["decode.beam_size=4", "decode.length_penalty=0.6", "decode.no_repeat_ngram_size=3"]


def test_training_after_a_decode_stage_is_refused(sweep, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: x\nsweep_id: y\nstages:\n"
                   "  - {name: lp, decode: true, runs: {a: [decode.length_penalty=0.6]}}\n"
                   "  - {name: lr, runs: {b: [optim.lr=1]}}\n")
    with pytest.raises(SystemExit) as e:
        sweep.main([str(bad), "--dry-run"])
    assert e.value.code == 2 and "put the decode-only stages last" in capsys.readouterr().err


def test_merge_overrides_replaces_keys_in_place(sweep):
    assert sweep.merge(["a=1", "b=2"], ["b=3", "c=4"]) == ["a=1", "b=3", "c=4"]


def test_the_multi30k_sweep_file_dry_runs(sweep, capsys):
    sweep.main([str(SCRIPTS / "sweeps" / "multi30k_budget.yaml"), "data.local_dir=/data/m30k", "--dry-run"])
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if "train.py" in line]
    assert len(commands) == 14
    assert all("trainer.budget_min=30" in c and "trainer.test_at_end=false" in c for c in commands)
    assert all("data.local_dir=/data/m30k" in c for c in commands)
    assert "test_2016" not in out  # the sweep never touches the test split
    decodes = [line for line in out.splitlines() if "evaluate.py" in line]
    assert decodes and all("val.en" in c and "val.de" in c for c in decodes)
    assert any("averaged_last3.pt" in c for c in decodes)


def test_the_short_multi30k_sweep_file_dry_runs(sweep, capsys):
    sweep.main([str(SCRIPTS / "sweeps" / "multi30k_budget_short.yaml"), "data.local_dir=/data/m30k", "--dry-run"])
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if "train.py" in line]) == 4  # base, 2048 tokens, lr 3e-3, BPE
    assert "test_2016" not in out and "average-as-trained" in out


def test_bad_sweep_file_is_a_clear_error(sweep, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: x\nsweep_id: y\n")
    with pytest.raises(SystemExit) as e:
        sweep.main([str(bad), "--dry-run"])
    assert e.value.code == 2
    assert "missing key 'stages'" in capsys.readouterr().err
