"""Checkpoints -> eval-mode models for inference: one model, or several to ensemble.

A checkpoint describes itself: besides the weights it holds the model config, the vocabulary's
integers (``"vocab"``) and the SentencePiece model, so the model is rebuilt by ``mt.model.build_model``
exactly as training built it, and the tokenizer comes from the same file. A transformers
``MarianMTModel`` directory (OPUS-MT's models, mt's own Hugging Face exports) is read into the same
entries (``read_model_state``), so everything that takes a checkpoint takes such a directory too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mt.checkpoint import CheckpointError, load_checkpoint
from mt.config import ConfigError, ModelConfig, from_dict
from mt.data.errors import DataError
from mt.data.formats import entry_models, model_format
from mt.data.marian_vocab import marian_sentencepiece, separate_vocabs
from mt.data.tokenizer import Tokenizer, tokenizer_entry
from mt.model import VocabInfo, build_model
from mt.model.marian import import_marian
from mt.model.transformer import Transformer
from mt.utils.device import resolve_device
from mt.utils.errors import MTError
from mt.utils.languages import normalize


def load_for_inference(
    paths: Sequence[str | Path], device: str | torch.device = "auto"
) -> tuple[list[Transformer], Tokenizer, dict[str, Any]]:
    """Load one checkpoint, or several to ensemble, as eval-mode models on ``device``.

    Returns the models, the tokenizer stored in the (first) checkpoint, and an info dict with
    ``checkpoints``, ``src_lang``, ``tgt_lang``, ``vocab`` and ``step`` (of the first checkpoint).
    Ensembled checkpoints must share the tokenizer and the language pair.
    """
    if not paths:
        raise MTError("no checkpoint given: use checkpoint=PATH (or checkpoint=[A,B] to ensemble)")
    target = resolve_device(device, key="decode.device")
    models: list[Transformer] = []
    first: tuple[Path, dict[str, Any]] | None = None
    for path in map(Path, paths):
        state = read_model_state(path)
        meta = _inference_meta(state, path)
        if first is None:
            first = (path, meta)
        else:
            _check_compatible(first, (path, meta))
        models.append(_load_model(state, meta, path).to(target).eval())
        del state
    assert first is not None
    path, meta = first
    try:
        tokenizer = Tokenizer.from_bytes(*meta["tokenizer"])
    except (DataError, MTError) as e:
        raise CheckpointError(f"{path}: the stored tokenizer cannot be loaded ({e})") from None
    info = {"checkpoints": [str(p) for p in paths], "src_lang": meta["src_lang"],
            "tgt_lang": meta["tgt_lang"], "vocab": meta["vocab"], "step": meta["step"], "pairs": meta["pairs"]}
    return models, tokenizer, info


def read_model_state(path: str | Path) -> dict[str, Any]:
    """An mt checkpoint (on the CPU), or a Marian model directory as the same entries: ``model``,
    ``model_config``, ``vocab``, ``tokenizer``, ``src_lang``, ``tgt_lang``. Other formats
    (``mt.data.formats``) are refused with what to do instead."""
    path = Path(path)
    fmt = model_format(path) if path.exists() else "checkpoint"  # (a missing file: load_checkpoint says so)
    if fmt == "ctranslate2":
        raise MTError(f"{path} is a CTranslate2 export: translate with it by backend=ctranslate2 "
                      f"model_dir={path} (or use data.synthetic.models for corpora); it has no PyTorch weights")
    if fmt == "sentencepiece":
        raise MTError(f"{path} is a SentencePiece model, not a translation model; give a checkpoint (.pt) "
                      f"or a Marian model directory")
    if fmt == "checkpoint":
        return load_checkpoint(path, map_location="cpu")
    state = import_marian(path, separate_vocabs(path))
    state["tokenizer"] = tokenizer_entry(Tokenizer.from_bytes(*marian_sentencepiece(path)), str(path))
    langs = {}
    if (path / "tokenizer_config.json").is_file():
        langs = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    state["src_lang"] = _marian_language(langs, "source_lang")
    state["tgt_lang"] = _marian_language(langs, "target_lang")
    return state


def _marian_language(config: dict[str, Any], key: str) -> str:
    """A language of a Marian ``tokenizer_config.json`` as mt writes it (OPUS-MT's ``eng`` -> ``en``,
    ``zho`` -> ``zh``), or ``?`` where it names no one language (missing, ``mul``)."""
    try:
        code = normalize(config.get(key) or "?")
    except MTError:
        return "?"
    return "?" if code == "mul" else code


def load_model(state: dict[str, Any], path: Path) -> Transformer:
    """The model of a ``read_model_state`` dict, weights loaded, on the CPU in train mode."""
    return _load_model(state, _inference_meta(state, path), path)


def _inference_meta(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The parts of a checkpoint that decoding needs besides the weights, checked."""
    missing = [key for key in ("vocab", "tokenizer") if key not in state]
    if missing:
        raise CheckpointError(f"{path} has no {' or '.join(missing)} entry, so it cannot translate; "
                              f"use a checkpoint written by train.py")
    step = state.get("step", state.get("trainer", {}).get("step", 0))
    return {"vocab": dict(state["vocab"]), "tokenizer": entry_models(state["tokenizer"]),
            "src_lang": state.get("src_lang", "?"), "tgt_lang": state.get("tgt_lang", "?"), "step": step,
            "pairs": list(state.get("pairs") or [])}


def _check_compatible(first: tuple[Path, dict[str, Any]], other: tuple[Path, dict[str, Any]]) -> None:
    """Ensemble members must agree on the vocabulary (probabilities are averaged per token id)."""
    (a, meta_a), (b, meta_b) = first, other
    if meta_a["tokenizer"] != meta_b["tokenizer"] or meta_a["vocab"] != meta_b["vocab"]:
        raise MTError(f"cannot ensemble {a} and {b}: they use different vocabularies (their SentencePiece "
                      f"models differ); ensemble only checkpoints trained on the same prepared data")
    pair_a, pair_b = (meta_a["src_lang"], meta_a["tgt_lang"]), (meta_b["src_lang"], meta_b["tgt_lang"])
    if pair_a != pair_b:
        raise MTError(f"cannot ensemble {a} ({'-'.join(pair_a)}) and {b} ({'-'.join(pair_b)}): "
                      f"they translate different language pairs")


def _load_model(state: dict[str, Any], meta: dict[str, Any], path: Path) -> Transformer:
    """The checkpoint's model, built as training built it, with its weights loaded."""
    try:
        cfg = from_dict(ModelConfig, state["model_config"], prefix="model.")
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: unusable model_config ({e})") from None
    try:
        vocab = VocabInfo.from_dict(meta["vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unusable vocab entry ({type(e).__name__}: {e}); it needs the integers "
                              f"size, pad_id, unk_id, bos_id and eos_id") from None
    model = build_model(cfg, vocab)
    try:
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise CheckpointError(f"{path}: the weights do not match its model_config ({detail[:300]})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: the weights do not match its model_config (missing {missing[:4]}, "
                              f"unexpected {unexpected[:4]})")
    return model
