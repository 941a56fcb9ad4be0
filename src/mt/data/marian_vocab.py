"""A transformers ``MarianMTModel`` directory's subword files as one SentencePiece model.

Marian models (OPUS-MT among them) ship two SentencePiece models, ``source.spm`` and ``target.spm``,
and one ``vocab.json`` that maps each piece to the model's id; ``MarianTokenizer`` segments the
source with ``source.spm``, looks the pieces up in ``vocab.json``, and reads the output ids back
through the same table. mt's ``Tokenizer`` is one SentencePiece model whose ids are the model's, so
the import writes one: ``source.spm``'s normalizer and pieces (with their scores) at
``vocab.json``'s ids, and the pieces only the target side knows as ``UNUSED`` (SentencePiece never
produces them when it segments, and decodes them like any other piece). Source text is then
segmented exactly as ``MarianTokenizer`` does, and every id the model can emit decodes.

Special pieces keep Marian's ids (``</s>``, ``<unk>``, ``<pad>``; OPUS-MT has no ``<s>`` and starts
decoding from ``<pad>``, mt's exports keep theirs). Target text for fine-tuning is segmented with ``source.spm``'s pieces too:
for models with one joint model (mt's exports, many OPUS-MT pairs) that is the segmentation they were
trained with; where the two models differ it is close, not equal (see docs/extending.md).
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


def read_vocab(model_dir: Path) -> list[str]:
    """``vocab.json`` as a list of pieces in id order; ids must be 0..N-1 without gaps."""
    path = model_dir / "vocab.json"
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


def marian_sentencepiece(model_dir: str | Path) -> bytes:
    """The serialized SentencePiece model described in the module docstring, for ``model_dir``."""
    model_dir = Path(model_dir)
    missing = [name for name in _FILES if not (model_dir / name).is_file()]
    if missing:
        raise DataError(f"{model_dir} is not a Marian model directory: no {', '.join(missing)}")
    pb = _model_pb2()
    source, target = _read_proto(model_dir / "source.spm"), _read_proto(model_dir / "target.spm")
    pieces = read_vocab(model_dir)
    known = {p.piece: p for p in source.pieces if p.type in (pb.ModelProto.SentencePiece.NORMAL,
                                                                pb.ModelProto.SentencePiece.USER_DEFINED,
                                                                pb.ModelProto.SentencePiece.BYTE)}
    absent = [name for name in SPECIAL if name not in pieces and name != "<s>"]
    if absent:
        raise DataError(f"{model_dir / 'vocab.json'} has no {', '.join(absent)}; Marian vocabularies hold "
                        f"</s>, <unk> and <pad>")
    merged = pb.ModelProto()
    merged.CopyFrom(source)
    del merged.pieces[:]
    for index, piece in enumerate(pieces):
        entry = merged.pieces.add()
        entry.piece = piece
        if piece in SPECIAL:
            entry.type = pb.ModelProto.SentencePiece.UNKNOWN if piece == "<unk>" else \
                pb.ModelProto.SentencePiece.CONTROL
            setattr(merged.trainer_spec, f"{SPECIAL[piece]}_id", index)
        elif piece in known:
            entry.type, entry.score = known[piece].type, known[piece].score
        else:
            entry.type = pb.ModelProto.SentencePiece.UNUSED
    if "<s>" not in pieces:
        merged.trainer_spec.bos_id = -1
    merged.trainer_spec.vocab_size = len(pieces)
    del target  # read only to check that it is a SentencePiece model: the ids come from vocab.json
    return merged.SerializeToString()
