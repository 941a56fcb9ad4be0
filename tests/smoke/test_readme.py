"""Every command in the README's code blocks is checked as written, as far as a CPU test can.

``train.py`` commands are composed with ``--cfg job`` (every experiment, group and override must
exist); scripts must answer ``--help``. The Multi30k walkthrough runs line by line in a fresh
directory, on Multi30k-format files and a tiny model. The demo itself runs in tests/learning.
"""

import json
import re
import shlex
import subprocess

import pytest

from tests.conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    lines = []
    for block in BLOCKS:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.extend(part.strip() for part in line.split("&&"))
    return lines


COMMANDS = _commands()
TRAIN = [c for c in COMMANDS if re.match(r"^(python train\.py|torchrun .* train\.py)", c)]
SCRIPTS = sorted({m for c in COMMANDS for m in re.findall(r"python (scripts/\w+\.py)", c)})


def test_readme_opens_with_the_demo_and_test_commands():
    first = BLOCKS[0].strip().splitlines()
    assert any(line.endswith("python train.py") for line in first)
    assert any("pytest" in line for line in first)
    assert "pytest" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command", TRAIN)
def test_train_commands_compose(command, tmp_path):
    args = shlex.split(command)
    args = args[args.index("train.py"):]
    args = [a for a in args if a not in ("--cfg", "job", "--help")]
    out = run_cli([*args, "--cfg", "job"], cwd=ROOT, env={"MT_RUN_ID": "readme"})
    assert out.returncode == 0, f"{command}\n{out.stderr[-2000:]}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_answer_help(script):
    out = run_cli([script, "--help"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage" in out.stdout.lower()


@pytest.mark.parametrize("entry", ["train.py", "translate.py", "evaluate.py"])
def test_entry_points_help(entry):
    out = run_cli([entry, "--help"], cwd=ROOT)
    assert out.returncode == 0 and entry in out.stdout


WALKTHROUGH = next(block for block in BLOCKS if "multi30k/dataset" in block)
TINY_MODEL = [  # appended to the walkthrough's train.py: same recipe, a model that trains in seconds
    "tokenizer.vocab_size=400", "model.encoder_layers=1", "model.decoder_layers=1", "model.d_model=64",
    "model.n_heads=2", "model.ffn_dim=128", "optim.warmup_steps=10", "trainer.max_steps=30",
    "trainer.save_every=10", "trainer.valid_every=15", "trainer.max_tokens=1024",
    "trainer.valid_bleu_max_sentences=50", "trainer.progress=false", "trainer.threads=2",
]


def _write_multi30k_like(directory) -> None:
    """Multi30k's file layout and format (one raw sentence per line), filled with generated pairs."""
    from mt.data.demo.corpus import generate_demo_corpus

    corpus = generate_demo_corpus({"train": 1500, "valid": 100, "test": 100}, seed=3)
    directory.mkdir(parents=True, exist_ok=True)
    for split, prefix in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr")):
        for side, lang in ((0, "en"), (1, "de")):
            lines = [pair[side] for pair in corpus[split]]
            (directory / f"{prefix}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_multi30k_walkthrough_runs_as_written(tmp_path):
    """From an empty directory to a trained model, a translated file, scores and a comparison table.
    The download line is the one left out (no network in tests); train.py gets TINY_MODEL appended."""
    _write_multi30k_like(tmp_path / "data" / "multi30k")
    outputs = {}
    for line in WALKTHROUGH.strip().splitlines():
        if "curl " in line:
            continue
        cmd = shlex.split(line)
        if cmd[:2] == ["python", "-c"]:
            out = run_cli(cmd[1:], cwd=tmp_path)
        elif cmd[0] == "python":
            extra = TINY_MODEL if cmd[1] == "train.py" else []
            out = run_cli([str(ROOT / cmd[1]), *cmd[2:], *extra], cwd=tmp_path)
        else:
            out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, f"{line}\n{out.stderr[-3000:]}"
        outputs[line] = out.stdout
    run = tmp_path / "outputs" / "multi30k_en_de" / "m30k"
    results = json.loads((run / "results.json").read_text())
    assert results["num_sentences"] == 100 and results["steps"] == 30
    hyps = (tmp_path / "test_2016_flickr.hyp.de").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == 100
    assert (run / "checkpoints" / "avg3.pt").is_file()
    scored = [text for line, text in outputs.items() if "evaluate.py" in line]
    assert len(scored) == 2 and all("BLEU" in text for text in scored)
    table = next(text for line, text in outputs.items() if "compare_runs.py" in line)
    assert "multi30k_en_de" in table
    # The exports: CTranslate2 (int8) translated the test set, transformers loaded the Marian directory.
    assert json.loads((tmp_path / "exports" / "m30k-ct2" / "mt_export.json").read_text())["quantization"] == "int8"
    assert len((tmp_path / "test_2016_flickr.ct2.de").read_text(encoding="utf-8").splitlines()) == 100
    assert (tmp_path / "exports" / "m30k-hf" / "model.safetensors").is_file()
    assert f"{results['bleu']:.2f}" in (tmp_path / "exports" / "m30k-hf" / "README.md").read_text()
    marian = next(text for line, text in outputs.items() if "MarianMTModel" in line)
    assert marian.startswith("['") and marian.strip().endswith("']")  # one translated sentence (a 30-update model's)
