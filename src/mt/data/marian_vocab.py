"""A transformers ``MarianMTModel`` directory's subword files as mt's two SentencePiece models.

Marian models (OPUS-MT among them) ship two SentencePiece models, ``source.spm`` and ``target.spm``,
and a vocabulary that maps each piece to the model's id: one ``vocab.json`` for both sides, or with
``separate_vocabs`` (``tokenizer_config.json``) ``vocab.json`` for the source and ``target_vocab.json``
for the target. ``MarianTokenizer`` segments source text with ``source.spm`` and target text
(``text_target=``) with ``target.spm``, and looks the pieces up in the side's vocabulary.

mt's ``Tokenizer`` holds one SentencePiece model per side whose ids are the model's, so the import
writes two: each side's ``.spm`` normalizer and pieces (with their scores) at its vocabulary's ids,
and the vocabulary's other pieces (the other side's, and ``>>xxx<<`` language tokens) as ``UNUSED``:
SentencePiece never produces them when it segments, and decodes them like any other piece. Text is
then segmented exactly as ``MarianTokenizer`` segments it, on both sides, and every id the model can
emit decodes. Where the two ``.spm`` files are the same model (mt's own exports), one joint model is
returned.

Special pieces keep Marian's ids (``</s>``, ``<unk>``, ``<pad>``; OPUS-MT has no ``<s>`` and starts
decoding from ``<pad>``, mt's exports keep theirs). Both sides must have them at the same ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mt.data.errors import DataError

SPECIAL = {"</s>": "eos", "<unk>": "unk", "<pad>": "pad", "<s>": "bos"}
"""Special pieces -> the SentencePiece trainer_spec id field (``<field>_id``) they fill. Marian
vocabularies hold the first three; ``<s>`` only where decoding starts from it (mt's exports)."""

_FILES = ("source.spm", "target.spm", "vocab.json")


def is_marian_dir(path: Path) -> bool:
    """Whether ``path`` is a directory with Marian's subword files and a ``config.json``."""
    return path.is_dir() and (path / "config.json").is_file() and (path / "source.spm").is_file()


def _model_pb2() -> Any:
    """SentencePiece's protobuf classes, imported when a Marian directory is read: they need
    ``protobuf``, which the rest of mt does not (a bare GPU image lacks it)."""
    from sentencepiece import sentencepiece_model_pb2

    return sentencepiece_model_pb2


def _read_proto(path: Path) -> Any:
    proto = _model_pb2().ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is not a readable SentencePiece model ({e})") from None
    return proto


def read_vocab(model_dir: Path, name: str = "vocab.json") -> list[str]:
    """A vocabulary file (``vocab.json``) as a list of pieces in id order; ids must be 0..N-1 without gaps."""
    path = model_dir / name
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable JSON vocabulary ({e})") from None
    pieces: list[str | None] = [None] * len(mapping)
    for piece, index in mapping.items():
        if not isinstance(index, int) or not 0 <= index < len(mapping) or pieces[index] is not None:
            raise DataError(f"{path}: piece {piece!r} has id {index!r}; the ids must be 0..{len(mapping) - 1}, "
                            f"each once")
        pieces[index] = piece
    return pieces  # type: ignore[return-value]


def separate_vocabs(model_dir: Path) -> bool:
    """Whether the directory's ``tokenizer_config.json`` asks for a target vocabulary of its own."""
    path = model_dir / "tokenizer_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not readable JSON ({e})") from None
    return bool(config.get("separate_vocabs"))


def _side_model(spm_path: Path, pieces: list[str], where: Path) -> Any:
    """``spm_path``'s normalizer and pieces at the ids of ``pieces`` (one side's vocabulary)."""
    pb = _model_pb2()
    kind = pb.ModelProto.SentencePiece
    spm_proto = _read_proto(spm_path)
    known = {p.piece: p for p in spm_proto.pieces if p.type in (kind.NORMAL, kind.USER_DEFINED, kind.BYTE)}
    absent = [name for name in SPECIAL if name not in pieces and name != "<s>"]
    if absent:
        raise DataError(f"{where} has no {', '.join(absent)}; Marian vocabularies hold </s>, <unk> and <pad>")
    merged = pb.ModelProto()
    merged.CopyFrom(spm_proto)
    del merged.pieces[:]
    for index, piece in enumerate(pieces):
        entry = merged.pieces.add()
        entry.piece = piece
        if piece in SPECIAL:
            entry.type = kind.UNKNOWN if piece == "<unk>" else kind.CONTROL
            setattr(merged.trainer_spec, f"{SPECIAL[piece]}_id", index)
        elif piece in known:
            entry.type, entry.score = known[piece].type, known[piece].score
        else:
            entry.type = kind.UNUSED
    if "<s>" not in pieces:
        merged.trainer_spec.bos_id = -1
    merged.trainer_spec.vocab_size = len(pieces)
    return merged


def marian_sentencepiece(model_dir: str | Path) -> tuple[bytes, bytes | None]:
    """The serialized source and target SentencePiece models described in the module docstring, for
    ``model_dir``; the target is None where both sides are one model."""
    model_dir = Path(model_dir)
    separate = separate_vocabs(model_dir)
    files = _FILES + (("target_vocab.json",) if separate else ())
    missing = [name for name in files if not (model_dir / name).is_file()]
    if missing:
        raise DataError(f"{model_dir} is not a Marian model directory: no {', '.join(missing)}")
    src_pieces = read_vocab(model_dir)
    tgt_pieces = read_vocab(model_dir, "target_vocab.json") if separate else src_pieces
    source = _side_model(model_dir / "source.spm", src_pieces, model_dir / "vocab.json")
    target = _side_model(model_dir / "target.spm", tgt_pieces,
                         model_dir / ("target_vocab.json" if separate else "vocab.json"))
    src_bytes, tgt_bytes = source.SerializeToString(), target.SerializeToString()
    return src_bytes, (None if tgt_bytes == src_bytes else tgt_bytes)
