"""Checkpoints: atomic save, safe load, keep-last-k, averaging.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: opening a checkpoint from elsewhere never runs code. Keys written
by the trainer (``mt.train.trainer``):

    model           state dict of the unwrapped model (no ``module.``/``_orig_mod.`` prefixes)
    model_config    dict of ``ModelConfig`` fields
    vocab           {"size", "pad_id", "unk_id", "bos_id", "eos_id"}, and "src_size" for separate
                    source and target vocabularies
    tokenizer       {"model": uint8 tensor of the SentencePiece model (the source's, for separate
                    vocabularies), "target_model": the target's (separate vocabularies only), "path": str}
    src_lang, tgt_lang, config (the whole resolved train config as plain data)
    optimizer, scaler, trainer (step, epoch, sampler position, ...), rng   (training state; the
                    learning-rate schedule is a pure function of the step, so it has no state)
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mt.utils.errors import MTError
from mt.utils.io import atomic_open

LAST = "last.pt"
BEST = "best.pt"
_STEP_RE = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(MTError):
    """A checkpoint is missing, unreadable, or not an mt checkpoint."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename): a crash or SIGKILL mid-write
    leaves the previous file under ``path`` intact."""
    with atomic_open(path, "wb", encoding=None) as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; clear errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        hint = ""
        if path.is_dir():
            hint = f" (it is a directory; did you mean {path / 'checkpoints' / BEST}?)"
        raise CheckpointError(f"checkpoint not found: {path}{hint}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable mt checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise CheckpointError(f"{path} is not an mt checkpoint (no 'model'/'model_config' entries)")
    return state


def bytes_to_tensor(data: bytes) -> torch.Tensor:
    """Store raw bytes (e.g. a SentencePiece model) as a uint8 tensor inside a checkpoint."""
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()


def tensor_to_bytes(t: torch.Tensor) -> bytes:
    return t.cpu().numpy().tobytes()


def step_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step_{step:08d}.pt"


def list_step_checkpoints(directory: str | Path) -> list[Path]:
    """Step checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_step_checkpoints(directory: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    paths = list_step_checkpoints(directory)
    for p in paths[: max(0, len(paths) - keep)]:
        p.unlink(missing_ok=True)


def find_last(directory: str | Path) -> Path | None:
    """``<directory>/last.pt`` if a run there can be resumed."""
    path = Path(directory) / LAST
    return path if path.is_file() else None


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Average the model weights of ``paths`` (Vaswani et al. 2017 average the last 5 or 20).

    Returns an inference checkpoint: the first file's metadata with the averaged ``model`` and no
    optimizer or other training state. Accumulates in float64 to keep the mean exact.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    first: dict[str, Any] = {}
    for i, path in enumerate(paths):
        state = load_checkpoint(path)
        if i == 0:
            first = state
            total = {k: v.to(torch.float64) for k, v in state["model"].items()}
            continue
        if state["model"].keys() != total.keys():
            raise CheckpointError(f"{path} has different parameters from {paths[0]}; cannot average")
        for k, v in state["model"].items():
            if v.shape != total[k].shape:
                raise CheckpointError(f"{path}: parameter {k} has shape {tuple(v.shape)}, "
                                      f"expected {tuple(total[k].shape)}")
            total[k] += v.to(torch.float64)
    model = {k: (v / len(paths)).to(first["model"][k].dtype) for k, v in total.items()}
    keep = {k: v for k, v in first.items()
            if k not in ("model", "optimizer", "scaler", "trainer", "rng")}
    keep["model"] = model
    keep["averaged_from"] = [str(p) for p in paths]
    return keep

