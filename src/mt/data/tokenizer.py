"""The joint SentencePiece subword model shared by source and target (and the tied embeddings).

Models trained here get their special ids from ``train_tokenizer`` (``PAD_ID`` ... ``EOS_ID``); a
``Tokenizer`` reads them from the model it loads, so a vocabulary imported from elsewhere (a Marian
model's, ``mt.data.marian_vocab``) keeps its own. Models, batching and decoding take them from the
tokenizer as integers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from mt.config import ConfigError, TokenizerConfig
from mt.data.errors import DataError

logger = logging.getLogger(__name__)

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Tokenizer:
    """A loaded SentencePiece model: text <-> subword ids, without BOS/EOS.

    ``bos_id`` is the id decoding starts from: the model's ``<s>``, or ``<pad>`` for a model without
    one (Marian's convention). ``decode`` drops pad, bos and eos; ``<unk>`` stands for real text."""

    def __init__(self, processor: spm.SentencePieceProcessor, model_proto: bytes) -> None:
        self._sp = processor
        self._proto = model_proto
        pad, unk, bos, eos = processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id()
        if min(pad, unk, eos) < 0:
            raise DataError(f"SentencePiece model has special ids pad/unk/eos={(pad, unk, eos)}; mt needs all "
                            f"three (train one with train_tokenizer)")
        self.vocab_size: int = processor.get_piece_size()
        self.pad_id, self.unk_id, self.eos_id = pad, unk, eos
        self.bos_id = bos if bos >= 0 else pad
        self.special_ids = frozenset((self.pad_id, self.bos_id, self.eos_id))
        self._threads = os.cpu_count() or 1

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Tokenizer:
        """Load a ``.model`` file written by SentencePiece."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"SentencePiece model {path} does not exist")
        return cls.from_bytes(path.read_bytes())

    @classmethod
    def from_bytes(cls, model_proto: bytes) -> Tokenizer:
        """Load a serialized model (as returned by ``to_bytes``, e.g. from a checkpoint)."""
        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise DataError(f"not a valid SentencePiece model ({len(model_proto)} bytes): {e}") from None
        return cls(processor, bytes(model_proto))

    def to_bytes(self) -> bytes:
        """The serialized model; stored inside checkpoints so they are self-contained."""
        return self._proto

    def encode(self, text: str) -> list[int]:
        """Subword ids of ``text`` (no BOS/EOS)."""
        return self._sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Subword ids of many texts, encoded on all cores by SentencePiece's thread pool."""
        return self._sp.encode(list(texts), num_threads=self._threads)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; pad/bos/eos are ignored (tensors and numpy arrays are accepted)."""
        return self._sp.decode(self._content_ids(ids))

    def decode_batch(self, ids_list: Iterable[Iterable[int]]) -> list[str]:
        """``decode`` for many sequences at once."""
        return self._sp.decode([self._content_ids(ids) for ids in ids_list], num_threads=self._threads)

    def piece_id(self, piece: str) -> int | None:
        """The id of ``piece``, or None when the vocabulary lacks it."""
        i = self._sp.piece_to_id(piece)
        return None if i == self.unk_id and piece != self.id_to_piece(self.unk_id) else int(i)

    def id_to_piece(self, token_id: int) -> str:
        """The subword string of one id (for debugging and sample logs)."""
        return self._sp.id_to_piece(int(token_id))

    def __len__(self) -> int:
        return self.vocab_size

    def _content_ids(self, ids: Iterable[int]) -> list[int]:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return [int(i) for i in ids if int(i) not in self.special_ids]

    def __getstate__(self) -> dict:
        # SentencePiece processors do not pickle; the serialized model does (for worker processes).
        return {"proto": self._proto}

    def __setstate__(self, state: dict) -> None:
        other = Tokenizer.from_bytes(state["proto"])
        self.__dict__.update(other.__dict__)




def train_tokenizer(
    text_files: Sequence[Path], cfg: TokenizerConfig, model_prefix: Path, *, num_threads: int | None = None,
    user_symbols: Sequence[str] = (),
) -> Tokenizer:
    """Train one joint SentencePiece model on ``text_files`` (one sentence per line, both languages).

    Writes ``{model_prefix}.model`` and ``.vocab``. At most ``2 * cfg.input_sentence_size`` lines
    (the budget is per side) are sampled at random, so training time stays bounded on large corpora.
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
        input_sentence_size=2 * cfg.input_sentence_size,
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


def existing_model_bytes(path: str | os.PathLike) -> bytes:
    """The serialized subword model ``tokenizer.from_model`` names: a SentencePiece ``.model`` file,
    an mt checkpoint's tokenizer, or a Marian model directory's (``mt.data.marian_vocab``). Checked by
    loading it; errors name the path."""
    from mt.checkpoint import load_checkpoint, tensor_to_bytes
    from mt.data.marian_vocab import is_marian_dir, marian_sentencepiece

    path = Path(path)
    if is_marian_dir(path):
        data = marian_sentencepiece(path)
    elif not path.is_file():
        raise DataError(f"tokenizer.from_model: {path} is neither a file nor a Marian model directory")
    elif path.suffix == ".pt":
        state = load_checkpoint(path)
        if "tokenizer" not in state:
            raise DataError(f"tokenizer.from_model: checkpoint {path} holds no tokenizer")
        data = tensor_to_bytes(state["tokenizer"]["model"])
    else:
        data = path.read_bytes()
    Tokenizer.from_bytes(data)  # a clear error now rather than in a worker process
    return data
