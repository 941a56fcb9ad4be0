"""Starting a run from a trained model (``trainer.init_from``): its weights, nothing else.

The parent is an mt checkpoint or a transformers Marian directory (``mt.decode.load.read_model_state``
reads both). The optimizer, the schedule and the step count start afresh; the data was prepared
with the parent's tokenizer (``tokenizer.from_model``), so the vocabulary matches unless another
tokenizer was asked for. A run directory with a ``last.pt`` resumes instead (``RunState.resume``),
which is checked first.
"""

from __future__ import annotations

from pathlib import Path

from mt.config import ModelConfig
from mt.decode.load import read_model_state
from mt.model import VocabInfo
from mt.model.transformer import Transformer
from mt.utils.errors import MTError
from mt.utils.logging import get_logger

log = get_logger(__name__)

SHAPE_KEYS = ("encoder_layers", "decoder_layers", "d_model", "n_heads", "ffn_dim", "activation", "pre_norm",
              "tie_embeddings", "output_bias")
"""The ``model.*`` settings a child must share with its parent. Dropout may differ; so may
``max_positions`` (the sinusoidal table is computed, not stored)."""
_OLD_DEFAULTS = {"output_bias": False}  # keys that checkpoints from before them lack


def init_from(model: Transformer, cfg: ModelConfig, vocab: VocabInfo, path: Path) -> int:
    """Load the parent's weights at ``path`` into ``model``; returns the parent's step (0 if unknown).
    Raises MTError naming the keys when the shapes or the vocabularies differ."""
    state = read_model_state(path)
    parent = state["model_config"]
    differ = [f"model.{key}={getattr(cfg, key)!r} (parent: {parent.get(key, _OLD_DEFAULTS.get(key))!r})"
              for key in SHAPE_KEYS if parent.get(key, _OLD_DEFAULTS.get(key)) != getattr(cfg, key)]
    if differ:
        raise MTError(f"trainer.init_from={path}: this run's model differs from the parent's: {'; '.join(differ)}; "
                      f"set them to the parent's values")
    parent_vocab = VocabInfo.from_dict(state["vocab"])
    if parent_vocab != vocab:
        raise MTError(f"trainer.init_from={path}: the parent's vocabulary ({parent_vocab}) is not this data's "
                      f"({vocab}); prepare the data with the parent's tokenizer (tokenizer.from_model, which "
                      f"init_from sets unless it is given)")
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if missing or unexpected:
        raise MTError(f"trainer.init_from={path}: the parent's weights do not fit (missing {missing[:4]}, "
                      f"unexpected {unexpected[:4]})")
    step = int(state.get("step", state.get("trainer", {}).get("step", 0)) or 0)
    log.info("initialised from %s (parent step %d): weights only; optimizer, schedule and step start afresh",
             path, step)
    return step
