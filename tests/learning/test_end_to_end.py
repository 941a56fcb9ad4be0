"""The whole pipeline as a user runs it: train.py -> resume -> translate.py -> evaluate.py, plus the
errors a user meets first (missing input, missing checkpoint, misspelt key).

One short demo training run (module-scoped) feeds every test here. It trains a small Transformer on
a reduced demo corpus for a couple of minutes on 2 CPU cores.
"""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import ROOT, run_cli

TRAIN_ARGS = [
    "data.demo_sizes={train:12000,valid:200,test:300}",
    "tokenizer.vocab_size=600",
    "model.encoder_layers=2", "model.decoder_layers=2", "model.d_model=128", "model.n_heads=4",
    "model.ffn_dim=512", "model.dropout=0.0",
    "optim.lr=3e-3", "optim.warmup_steps=100", "optim.schedule=inverse_sqrt",  # cosine would follow max_steps
    "trainer.max_time_min=0", "trainer.budget_min=0",  # stop by steps only, however loaded the machine is
    "trainer.max_tokens=2048", "trainer.max_steps=500", "trainer.valid_every=250", "trainer.save_every=250",
    "trainer.log_every=50", "trainer.keep_last=2", "trainer.progress=false", "trainer.threads=2",
    "trainer.precision=fp32",
]

# After 500 updates of 2048 tokens (~3 epochs of the reduced corpus) this model translates the demo
# test set at well over 60 BLEU (measured ~80-90); an untrained or broken model scores below 5. The
# threshold sits far from both so that thread-count noise cannot flip it, yet a real regression in
# data, model, loss, schedule or beam search does.
MIN_TEST_BLEU = 50.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    run_dir = work / "run"
    args = ["train.py", *TRAIN_ARGS, f"hydra.run.dir={run_dir}", f"data.cache_dir={work / 'cache'}"]
    first = run_cli([*args, "trainer.max_steps=250"], cwd=ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli(args, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"run_dir": run_dir, "first": first, "resumed": resumed, "work": work}


def test_training_learned_the_demo(trained):
    results = json.loads((trained["run_dir"] / "results.json").read_text())
    assert results["bleu"] >= MIN_TEST_BLEU, results
    assert results["steps"] == 500
    assert results["signatures"]["bleu"].startswith("nrefs:1")
    assert results["signatures"]["bleu_tokenized"].startswith("moses(de)+compound-split|")
    assert results["bleu_tokenized"] > 0
    assert (trained["run_dir"] / "test.hyp.txt").read_text().count("\n") == 300


def test_second_run_resumed_from_last_checkpoint(trained):
    assert "resumed from" in trained["resumed"].stderr
    assert "at step 250" in trained["resumed"].stderr
    ckpts = trained["run_dir"] / "checkpoints"
    assert {"last.pt", "best.pt"} <= {p.name for p in ckpts.iterdir()}
    assert sorted(p.name for p in ckpts.glob("step_*.pt")) == ["step_00000250.pt", "step_00000500.pt"]
    assert (trained["run_dir"] / ".hydra" / "config.yaml").is_file()


def test_tensorboard_holds_the_curves(trained):
    events = EventAccumulator(str(trained["run_dir"] / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "valid/loss", "valid/bleu", "valid/minutes", "test/bleu", "test/bleu_tokenized"} <= tags


def test_translate_stdin_to_stdout_keeps_lines(trained):
    ckpt = trained["run_dir"] / "checkpoints" / "best.pt"
    text = "the green box\n\nthree red apples\n"
    out = run_cli(["translate.py", f"checkpoint={ckpt}", "progress=false"], cwd=ROOT, stdin=text)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
    assert lines[0] == "die grüne Kiste"


def test_evaluate_writes_report(trained):
    ckpt = trained["run_dir"] / "checkpoints" / "best.pt"
    prepared = next((trained["work"] / "cache").glob("demo-en-de-*"))
    out = run_cli(["evaluate.py", f"checkpoint={ckpt}", f"src={prepared / 'test.en.txt'}",
                   f"ref={prepared / 'test.de.ref.txt'}", "progress=false"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "BLEU" in out.stdout and "nrefs:1" in out.stdout and "tokenized BLEU" in out.stdout
    reports = list((trained["run_dir"] / "checkpoints").glob("best.*.json"))
    assert reports and json.loads(reports[0].read_text())["bleu"] >= MIN_TEST_BLEU


@pytest.mark.parametrize("args, message", [
    (["translate.py", "checkpoint=CKPT", "input=/nonexistent/in.txt"], "/nonexistent/in.txt"),
    (["translate.py", "checkpoint=/nonexistent/model.pt", "input=-"], "checkpoint not found"),
    (["train.py", "trainer.max_stepz=3"], "max_stepz"),
])
def test_user_errors_are_short_and_fail(trained, args, message):
    ckpt = trained["run_dir"] / "checkpoints" / "best.pt"
    args = [a.replace("CKPT", str(ckpt)) for a in args]
    out = run_cli(args, cwd=ROOT, stdin="")
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 8, out.stderr  # a few lines, no wall


def test_missing_demo_free_paths(tmp_path):
    """A local corpus that does not exist is a one-line error naming the path."""
    out = run_cli(["train.py", "data=local", f"data.local_dir={tmp_path / 'nope'}",
                   f"hydra.run.dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}"], cwd=ROOT)
    assert out.returncode == 2
    assert str(tmp_path / "nope") in out.stderr and "Traceback" not in out.stderr
