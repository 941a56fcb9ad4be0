"""The GPU check on a bare GPU machine: ``scripts/device_wheels.sh``, then ``device_check.sh --smoke`` in
a fresh virtual environment that holds only what the GPU machine's image holds and the check uses.

That image has torch, numpy, sentencepiece, sacrebleu, tqdm, pytest, pyyaml and packaging (and more
that the check does not use), no network, and neither hydra-core, omegaconf, antlr4, datasets,
sacremoses, langcodes nor ctranslate2: the check must take the first three from the wheels folder
(which also ships sacremoses, for the tokenized BLEU of tests/gpu's 2-GPU run, and langcodes, which
decoding imports) and never import the others. The
environment here lacks tensorboard as well, which the check must not need
either. Its packages are links to this environment's, so nothing is installed; the project is not
installed in it. The wheels are fetched for the running Python (the GPU machine's is 3.12) into
pytest's cache, so a second run is quick.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.smoke.test_device_check import ROOT, check_figures, run_smoke

IMAGE = ("torch", "numpy", "sentencepiece", "sacrebleu", "tqdm", "pytest", "PyYAML", "packaging", "pip")
"""The image's distributions that the check uses; their dependencies come along."""
ABSENT = ("hydra", "omegaconf", "antlr4", "datasets", "sacremoses", "langcodes", "ctranslate2", "tensorboard", "mt")
WHEELS = ("antlr4_python3_runtime-4.9.3-py3-none-any.whl", "cloudpickle-3.1.3-py3-none-any.whl",
          "hydra_core-1.3.8-py3-none-any.whl", "joblib-1.6.0-py3-none-any.whl", "langcodes-3.5.1-py3-none-any.whl",
          "omegaconf-2.3.1-py3-none-any.whl", "sacremoses-0.2.0-py3-none-any.whl")
UNREACHABLE = re.compile(r"Failed to establish a new connection|Temporary failure in name resolution|"
                         r"Network is unreachable|Could not fetch URL|Max retries exceeded|Read timed out")
"""pip's words for an index it cannot reach."""


def test_device_check_smoke_on_a_bare_image(tmp_path, request):
    wheels = _fetch_wheels(request, tmp_path)
    assert sorted(p.name for p in wheels.glob("*.whl")) == list(WHEELS)
    python = _image_venv(tmp_path / "image")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", PYTHON=str(python),
               MT_WHEELS=str(wheels))
    probe = f"import importlib.util as u; print(' '.join(n for n in {ABSENT!r} if u.find_spec(n)))"
    found = subprocess.run([str(python), "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.split() == [], found.stdout + found.stderr
    records = run_smoke(tmp_path / "cache", tmp_path / "out", env)
    check_figures(records)
    assert records[0]["python"] == ".".join(map(str, sys.version_info[:3]))
    _check_moses_from_the_wheels(python, wheels, tmp_path / "site", env)


def _check_moses_from_the_wheels(python: Path, wheels: Path, site: Path, env: dict[str, str]) -> None:
    """tests/gpu's 2-GPU run scores the papers' tokenized BLEU: the image's Python, with the wheels
    installed as device_check.sh installs them, imports sacremoses and tokenizes."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(site),
                    *map(str, sorted(wheels.glob("*.whl")))], check=True, timeout=300)
    code = "from sacremoses import MosesTokenizer; print(MosesTokenizer(lang='de').tokenize('Hallo, Welt!'))"
    moses = subprocess.run([str(python), "-c", code], env={**env, "PYTHONPATH": str(site)}, capture_output=True,
                           text=True, timeout=120)
    assert moses.returncode == 0 and "'Hallo', ','" in moses.stdout, moses.stdout + moses.stderr[-2000:]


def _fetch_wheels(request, tmp_path: Path) -> Path:
    """``scripts/device_wheels.sh`` for this Python, into pytest's cache; skips without a package index."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    cache = request.config.cache
    wheels = cache.mkdir(f"device-wheels-py{version}") if cache is not None else tmp_path / "wheels"
    run = subprocess.run(["bash", "scripts/device_wheels.sh", str(wheels), "--python-version", version],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PIP_RETRIES": "1", "PIP_TIMEOUT": "30"})
    unreachable = [line for line in (run.stdout + run.stderr).splitlines() if UNREACHABLE.search(line)]
    if run.returncode != 0 and unreachable:
        pytest.skip("the package index is unreachable, so scripts/device_wheels.sh cannot fetch the wheels: "
                    + unreachable[0].strip()[-300:])
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return wheels


def _image_venv(path: Path) -> Path:
    """A virtual environment with links to this environment's copies of IMAGE and their dependencies
    only; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    site = next(path.glob("lib/python*/site-packages"))
    for dist in _with_dependencies(IMAGE):
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")} - {"__pycache__"}
        for top in tops:
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    return path / "bin" / "python"


def _with_dependencies(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and, recursively, what they require (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key not in found:
            found[key] = dist
            todo += [r.name for r in map(Requirement, dist.requires or [])
                     if r.marker is None or r.marker.evaluate({"extra": ""})]
    return list(found.values())
