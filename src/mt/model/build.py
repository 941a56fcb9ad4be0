"""The one way to build a model, for training, decoding, exports and benchmarks alike.

The model receives the vocabulary as integers (``VocabInfo``), never a tokenizer: the same record is
stored in every checkpoint under ``"vocab"``, so a model built for training and one rebuilt from a
checkpoint for translation are built by the same call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from mt.config import ModelConfig
from mt.model.transformer import Transformer


class HasSpecialIds(Protocol):
    """Anything that knows its vocabulary sizes and special ids (``mt.data.tokenizer.Tokenizer``)."""

    vocab_size: int
    src_vocab_size: int
    shared_vocab: bool
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int


@dataclass(frozen=True)
class VocabInfo:
    """The vocabulary sizes and special token ids the model and the search need."""

    size: int
    """The target (output) vocabulary's size; the joint vocabulary's."""
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int
    src_size: int | None = None
    """The source vocabulary's size when it is a vocabulary of its own (``tokenizer.joint=false``);
    None for a joint vocabulary."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VocabInfo:
        """From the ``"vocab"`` entry of a checkpoint (``as_dict``'s keys). A missing key raises
        KeyError, a value that is not an integer ValueError or TypeError."""
        src_size = data.get("src_size")
        return cls(**{f.name: int(data[f.name]) for f in fields(cls) if f.name != "src_size"},
                   src_size=None if src_size is None else int(src_size))

    def as_dict(self) -> dict[str, int]:
        """The ``"vocab"`` entry checkpoints store: ``size``, ``pad_id``, ``unk_id``, ``bos_id``, ``eos_id``,
        and ``src_size`` for separate vocabularies."""
        out = {"size": self.size, "pad_id": self.pad_id, "unk_id": self.unk_id,
               "bos_id": self.bos_id, "eos_id": self.eos_id}
        return out if self.src_size is None else {**out, "src_size": self.src_size}

    @classmethod
    def from_tokenizer(cls, tokenizer: HasSpecialIds) -> VocabInfo:
        """The integers of a tokenizer (read here, so that the model never holds the tokenizer)."""
        return cls(size=int(tokenizer.vocab_size), pad_id=int(tokenizer.pad_id), bos_id=int(tokenizer.bos_id),
                   eos_id=int(tokenizer.eos_id), unk_id=int(tokenizer.unk_id),
                   src_size=None if tokenizer.shared_vocab else int(tokenizer.src_vocab_size))


def build_model(cfg: ModelConfig, vocab: VocabInfo, *, cpu_training: bool = False) -> Transformer:
    """A freshly initialised Transformer of shape ``cfg`` for the vocabulary ``vocab``; with
    ``cpu_training`` (the trainer sets it when it trains on a CPU) it runs the CPU training kernels
    of ``mt.model.cpu_paths``.

    Its parameters are on the CPU, in float32 and in train mode; move, wrap or load weights into it
    afterwards.
    """
    return Transformer(cfg, vocab_size=vocab.size, pad_id=vocab.pad_id, src_vocab_size=vocab.src_size,
                       cpu_training=cpu_training)
