"""The ``scripts/export.py`` job: checkpoint -> CTranslate2 or Hugging Face directory.

The directory is written under a temporary name beside ``output`` and renamed into place only when
complete, so a failed export never leaves a half-written model where a server would load it.
``FORMATS`` maps each value of ``format`` to the function that writes it; adding a format is a module
with such a function and its line there (its keys are the values ``format`` accepts).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mt.config import ExportConfig, to_dict
from mt.data.tokenizer import Tokenizer
from mt.decode.load import load_for_inference
from mt.model.transformer import Transformer
from mt.utils.errors import MTError
from mt.utils.logging import get_logger
from mt.utils.text import resolve_path

log = get_logger(__name__)


def _checkpoint_extras(path: Path) -> tuple[dict[str, Any] | None, int]:
    """The training config stored in the checkpoint (None if absent) and its decode beam size;
    memory-mapped, so the weights are not read a second time."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    train_cfg = state.get("config")
    beam = ((train_cfg or {}).get("decode") or {}).get("beam_size", 4)
    return train_cfg, int(beam)


def _results(cfg: ExportConfig, checkpoint: Path) -> dict[str, Any] | None:
    """The run's results.json: ``cfg.results``, or ``<run>/results.json`` for ``<run>/checkpoints/X.pt``."""
    path = resolve_path(cfg.results, cfg.work_dir) if cfg.results else checkpoint.parent.parent / "results.json"
    if not path.is_file():
        if cfg.results:
            raise MTError(f"results={path} does not exist")
        log.info("no %s: the model card will have no test scores", path)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MTError(f"{path} is not valid JSON ({e})") from None


def _write_ctranslate2(cfg: ExportConfig, checkpoint: Path, model: Transformer, tokenizer: Tokenizer,
                       info: dict[str, Any], output: Path) -> None:
    from mt.decode.ct2_convert import export_ctranslate2

    export_ctranslate2(model, tokenizer, info, output, cfg.quantization)


def _write_huggingface(cfg: ExportConfig, checkpoint: Path, model: Transformer, tokenizer: Tokenizer,
                       info: dict[str, Any], output: Path) -> None:
    from mt.export.card import model_card
    from mt.export.hf import export_huggingface

    train_cfg, beam = _checkpoint_extras(checkpoint)
    card = model_card(info, to_dict(model.cfg), train_cfg, _results(cfg, checkpoint), beam)
    export_huggingface(model, tokenizer, info, output, beam_size=beam, card=card)


FormatWriter = Callable[[ExportConfig, Path, Transformer, Tokenizer, dict[str, Any], Path], None]
"""Writes one format: ``(cfg, checkpoint, model, tokenizer, info, output)``, where ``model``,
``tokenizer`` and ``info`` are what ``load_for_inference`` returns for ``checkpoint`` and ``output`` is
the (temporary) directory to fill."""

FORMATS: dict[str, FormatWriter] = {
    "ctranslate2": _write_ctranslate2,
    "huggingface": _write_huggingface,
}
"""``format`` value -> its writer; the keys are the values ``format`` accepts."""


def export(cfg: ExportConfig) -> dict[str, Any]:
    """Export ``cfg.checkpoint`` to ``cfg.output`` in ``cfg.format``; returns a summary."""
    write = FORMATS.get(cfg.format)
    if write is None:
        raise MTError(f"format={cfg.format!r} is not one of {', '.join(FORMATS)}")
    checkpoint = resolve_path(cfg.checkpoint, cfg.work_dir)
    output = resolve_path(cfg.output, cfg.work_dir)
    if output.exists() and not cfg.overwrite:
        raise MTError(f"output={output} already exists; choose another directory or add overwrite=true")
    start = time.perf_counter()
    models, tokenizer, info = load_for_inference([checkpoint], "cpu")
    model = models[0]
    tmp = output.parent / f".{output.name}.partial-{os.getpid()}"
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(cfg, checkpoint, model, tokenizer, info, tmp)
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    seconds = time.perf_counter() - start
    log.info("exported %s to %s (%s, %.1f MB) in %.1f s", checkpoint, output, cfg.format, size / 1e6, seconds)
    return {"checkpoint": str(checkpoint), "output": str(output), "format": cfg.format,
            "quantization": cfg.quantization, "bytes": size, "seconds": round(seconds, 2)}
