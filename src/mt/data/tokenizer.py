"""SentencePiece subword models: one joint model shared by source and target (the default, which the
three-way tied embeddings need), or one per side (``tokenizer.joint=false``).

Models trained here get their special ids from ``train_tokenizer`` (``PAD_ID`` ... ``EOS_ID``); a
``Tokenizer`` reads them from the model it loads, so a vocabulary imported from elsewhere (a Marian
model's, ``mt.data.marian_vocab``) keeps its own. Models, batching and decoding take them from the
tokenizer as integers.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm

from mt.config import ConfigError, TokenizerConfig
from mt.data.errors import DataError
from mt.data.formats import subword_models

logger = logging.getLogger(__name__)

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def is_language_token(piece: str) -> bool:
    """Whether ``piece`` is a Marian target-language token such as ``>>deu<<`` or ``>>cmn_Hans<<``."""
    return len(piece) > 4 and piece.startswith(">>") and piece.endswith("<<")


class SubwordModel:
    """One loaded SentencePiece model: text <-> subword ids, without BOS/EOS."""

    def __init__(self, model_proto: bytes) -> None:
        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise DataError(f"not a valid SentencePiece model ({len(model_proto)} bytes): {e}") from None
        self.processor, self.proto = processor, bytes(model_proto)
        pad, unk, bos, eos = processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id()
        if min(pad, unk, eos) < 0:
            raise DataError(f"SentencePiece model has special ids pad/unk/eos={(pad, unk, eos)}; mt needs all "
                            f"three (train one with train_tokenizer)")
        self.size: int = processor.get_piece_size()
        self.specials = (pad, unk, bos if bos >= 0 else pad, eos)
        """``(pad, unk, bos, eos)``; ``bos`` is ``pad`` for a model without ``<s>`` (Marian's convention)."""
        self.language_tokens = {piece: i for i in range(self.size)
                                if is_language_token(piece := processor.id_to_piece(i))}
        """Marian's ``>>xxx<<`` target-language tokens in this vocabulary, by piece."""

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> SubwordModel:
        """Load a ``.model`` file written by SentencePiece."""
        return cls(Path(path).read_bytes())

    def encode(self, texts: list[str], threads: int = 1, *, numpy: bool = False) -> list:
        """Ids of ``texts`` (lists, or int arrays with ``numpy``). A vocabulary with Marian's
        ``>>xxx<<`` tokens gives a line that starts with one that token's id (``<unk>`` for one it
        lacks) and segments the rest, as ``MarianTokenizer`` does."""
        out_type = "numpy" if numpy else int
        if not self.language_tokens or not any(t.startswith(">>") for t in texts):
            return self.processor.encode(list(texts), out_type=out_type, num_threads=threads)
        heads, rests = [], []
        for text in texts:
            end = text.find("<<") if text.startswith(">>") else -1
            heads.append(None if end < 0 else self.language_tokens.get(text[:end + 2], self.specials[1]))
            rests.append(text if end < 0 else text[end + 2:])
        rows = self.processor.encode(rests, out_type=out_type, num_threads=threads)
        if numpy:
            return [row if head is None else np.concatenate([np.array([head], row.dtype), row])
                    for head, row in zip(heads, rows, strict=True)]
        return [row if head is None else [head, *row] for head, row in zip(heads, rows, strict=True)]


POOL_MIN_TEXTS = 64
"""Calls on fewer texts than this encode and decode on the calling thread (``Tokenizer._threads_for``)."""


class Tokenizer:
    """What a translation model reads and writes: the source side's SentencePiece model and the
    target side's, one and the same for a joint vocabulary (``tokenizer.joint``, the default).

    ``encode`` segments source text, ``encode_target`` target text; ``decode`` reads model output
    (target ids). ``vocab_size`` is the target (output) vocabulary's size, ``src_vocab_size`` the
    source's. Both sides share their special ids: ``bos_id`` is the id decoding starts from (the
    model's ``<s>``, or ``<pad>`` for a model without one, as in Marian). ``decode`` drops pad, bos
    and eos; ``<unk>`` stands for real text."""

    def __init__(self, source: SubwordModel, target: SubwordModel | None = None) -> None:
        self.source, self.target = source, target or source
        if self.target.specials != source.specials:
            raise DataError(f"the source and target SentencePiece models have different special ids (pad, unk, "
                            f"bos, eos): {source.specials} and {self.target.specials}; mt needs the same on "
                            f"both sides")
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = source.specials
        self.vocab_size: int = self.target.size
        self.src_vocab_size: int = source.size
        self.special_ids = frozenset((self.pad_id, self.bos_id, self.eos_id))
        self._threads = os.cpu_count() or 1

    @property
    def joint(self) -> bool:
        """Whether source and target share one subword model (and so one id space)."""
        return self.target is self.source

    @functools.cached_property
    def shared_vocab(self) -> bool:
        """Whether source and target ids name the same pieces: one vocabulary, segmented by one model
        (``joint``) or by one per side (a Marian model's ``source.spm`` and ``target.spm`` over one
        ``vocab.json``). The model's embeddings follow the vocabulary, not the segmenters."""
        if self.joint:
            return True
        src, tgt = self.source.processor, self.target.processor
        return self.source.size == self.target.size and all(
            src.id_to_piece(i) == tgt.id_to_piece(i) for i in range(self.source.size))

    @classmethod
    def from_file(cls, path: str | os.PathLike, target_path: str | os.PathLike | None = None) -> Tokenizer:
        """Load ``.model`` files written by SentencePiece: the joint one, or the source's and the target's."""
        paths = [Path(p) for p in (path, target_path) if p is not None]
        for p in paths:
            if not p.is_file():
                raise DataError(f"SentencePiece model {p} does not exist")
        return cls.from_bytes(*(p.read_bytes() for p in paths))

    @classmethod
    def from_bytes(cls, model_proto: bytes, target_proto: bytes | None = None) -> Tokenizer:
        """Load serialized models (as returned by ``to_bytes`` and ``target_bytes``, e.g. from a checkpoint)."""
        source = SubwordModel(model_proto)
        return cls(source, None if target_proto is None else SubwordModel(target_proto))

    def to_bytes(self) -> bytes:
        """The serialized source (or joint) model; stored inside checkpoints so they are self-contained."""
        return self.source.proto

    def target_bytes(self) -> bytes | None:
        """The serialized target model, or None for a joint vocabulary."""
        return None if self.joint else self.target.proto

    def encode(self, text: str) -> list[int]:
        """Subword ids of source ``text`` (no BOS/EOS)."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Source ids of many texts, encoded on all cores by SentencePiece's thread pool.

        With a vocabulary that has Marian's ``>>xxx<<`` target-language tokens, a line that starts
        with one gets its id first and the rest segmented, as ``MarianTokenizer`` does."""
        return self.source.encode(texts, self._threads_for(len(texts)))

    def encode_target(self, text: str) -> list[int]:
        """Subword ids of target ``text`` (what the decoder is trained to produce; no BOS/EOS)."""
        return self.target.encode([text])[0]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of target ``ids``; pad/bos/eos are ignored (tensors and numpy arrays are accepted)."""
        return self.target.processor.decode(self._content_ids(ids))

    def decode_batch(self, ids_list: Iterable[Iterable[int]]) -> list[str]:
        """``decode`` for many sequences at once."""
        rows = [self._content_ids(ids) for ids in ids_list]
        return self.target.processor.decode(rows, num_threads=self._threads_for(len(rows)))

    def _threads_for(self, texts: int) -> int:
        """SentencePiece's threads for a call on ``texts`` texts: its thread pool is started per call,
        which for a few texts costs more than it saves (on a server decoding, the new threads also wait
        for a busy core: it was a third of serve.py's event-loop time at 32 clients on one core)."""
        return self._threads if texts >= POOL_MIN_TEXTS else 1

    def decode_source(self, ids: Iterable[int]) -> str:
        """Text of source ``ids`` (for sample logs and debugging)."""
        return self.source.processor.decode(self._content_ids(ids))

    def piece_id(self, piece: str) -> int | None:
        """The source id of ``piece`` (tags such as ``<2de>`` are source pieces), or None when the
        source vocabulary lacks it."""
        i = self.source.processor.piece_to_id(piece)
        return None if i == self.unk_id and piece != self.source_piece(self.unk_id) else int(i)

    def id_to_piece(self, token_id: int) -> str:
        """The subword string of one target id (for debugging and sample logs)."""
        return self.target.processor.id_to_piece(int(token_id))

    def language_tokens(self) -> list[str]:
        """The source vocabulary's ``>>xxx<<`` target-language tokens (Marian's multi-target models)."""
        return list(self.source.language_tokens)

    def source_piece(self, token_id: int) -> str:
        """The subword string of one source id."""
        return self.source.processor.id_to_piece(int(token_id))

    def __len__(self) -> int:
        return self.vocab_size

    def _content_ids(self, ids: Iterable[int]) -> list[int]:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return [int(i) for i in ids if int(i) not in self.special_ids]

    def __getstate__(self) -> dict:
        # SentencePiece processors do not pickle; the serialized models do (for worker processes).
        return {"proto": self.to_bytes(), "target": self.target_bytes()}

    def __setstate__(self, state: dict) -> None:
        other = Tokenizer.from_bytes(state["proto"], state.get("target"))
        self.__dict__.update(other.__dict__)


def train_tokenizer(
    text_files: Sequence[Path], cfg: TokenizerConfig, model_prefix: Path, *, num_threads: int | None = None,
    user_symbols: Sequence[str] = (),
) -> Tokenizer:
    """Train one SentencePiece model on ``text_files`` (one sentence per line: both sides for a joint
    model, one side's file for a model of that side).

    Writes ``{model_prefix}.model`` and ``.vocab``. At most ``cfg.input_sentence_size`` lines per file
    (per side) are sampled at random, so training time stays bounded on large corpora.
    ``user_symbols`` (tags such as ``<BT>``) each become one piece.
    """
    files = [str(p) for p in text_files]
    for p in files:
        if not os.path.isfile(p):
            raise DataError(f"tokenizer training file {p} does not exist")
    model_prefix = Path(model_prefix)
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    args = dict(
        input=",".join(files),
        model_prefix=str(model_prefix),
        vocab_size=cfg.vocab_size,
        model_type=cfg.model_type,
        character_coverage=1.0 if cfg.character_coverage is None else cfg.character_coverage,
        input_sentence_size=len(files) * cfg.input_sentence_size,
        shuffle_input_sentence=True,
        byte_fallback=cfg.byte_fallback,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        num_threads=num_threads or os.cpu_count() or 1,
        # Digits split into single pieces generalize better to unseen numbers.
        split_digits=True,
        user_defined_symbols=list(user_symbols),
        minloglevel=2,
    )
    logger.info(
        "training SentencePiece %s model, vocab %d, on %s",
        cfg.model_type, cfg.vocab_size, ", ".join(files),
    )
    try:
        spm.SentencePieceTrainer.train(**args)
    except RuntimeError as e:
        message = str(e)
        detail = message.split("] ")[-1].strip()
        if "smaller than required_chars" in message:  # every character (and byte piece) needs an id
            raise ConfigError(
                f"tokenizer.vocab_size={cfg.vocab_size} is too small for the characters of this corpus "
                f"({detail}); raise tokenizer.vocab_size, or lower tokenizer.character_coverage"
            ) from None
        if "Vocabulary size" in message or "vocab_size" in message:
            raise ConfigError(
                f"tokenizer.vocab_size={cfg.vocab_size} is too large for this corpus "
                f"({detail}); lower tokenizer.vocab_size"
            ) from None
        raise DataError(f"SentencePiece training failed: {message}") from None
    return Tokenizer.from_file(f"{model_prefix}.model")


def tokenizer_entry(tokenizer: Tokenizer, path: str) -> dict:
    """The ``"tokenizer"`` entry of a checkpoint: the serialized model(s) as uint8 tensors, and where
    they came from."""
    from mt.checkpoint import bytes_to_tensor

    entry = {"model": bytes_to_tensor(tokenizer.to_bytes()), "path": path}
    target = tokenizer.target_bytes()
    return entry if target is None else {**entry, "target_model": bytes_to_tensor(target)}


def existing_models(path: str | os.PathLike) -> tuple[bytes, bytes | None]:
    """The serialized subword models ``tokenizer.from_model`` names, as ``(source or joint, target or
    None)``: those of a model in any of ``mt.data.formats``'s formats (a SentencePiece ``.model`` file,
    an mt checkpoint, a Marian or CTranslate2 directory). Checked by loading them; errors name the path."""
    try:
        source, target = subword_models(path)
    except DataError as e:
        raise DataError(f"tokenizer.from_model: {e}") from None
    Tokenizer.from_bytes(source, target)  # a clear error now rather than in a worker process
    return source, target
