"""Every command in the README's code blocks is checked as written, as far as a CPU test can.

``train.py`` commands are composed with ``--cfg job`` (every experiment, group and override must
exist); scripts must answer ``--help``; files the commands read must exist in the repository. The
demo itself runs in tests/learning, and translate/evaluate run there on a trained checkpoint.
"""

import re
import shlex

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
