"""The model formats mt reads, in one registry: what each looks like on disk and where its subword
models are. Loading for translation (``mt.decode.load``, ``mt.decode.ct2``), ``tokenizer.from_model``,
``scripts/encode.py`` and synthetic corpora all ask ``model_format`` instead of testing paths
themselves, so a new format is one entry here (and its loader).

    checkpoint     an mt checkpoint (``.pt``): weights, config and the SentencePiece model(s)
    marian         a transformers ``MarianMTModel`` directory (OPUS-MT's models, mt's own HF exports)
    ctranslate2    a CTranslate2 directory written by ``scripts/export.py format=ctranslate2``
    sentencepiece  a bare SentencePiece ``.model`` file (a tokenizer, no translation model)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mt.data.errors import DataError
from mt.data.marian_vocab import is_marian_dir, marian_sentencepiece

# The layout of CTranslate2 exports (``mt.decode.ct2_convert`` writes it, ``mt.decode.ct2`` reads it).
CT2_MODEL_FILE = "model.bin"  # CTranslate2's own weights file
CT2_SENTENCEPIECE_FILE = "sentencepiece.model"
CT2_TARGET_SENTENCEPIECE_FILE = "target_sentencepiece.model"
"""The target side's subword model, in exports of models with separate vocabularies (the source's,
or the joint one, is ``CT2_SENTENCEPIECE_FILE``)."""
CT2_METADATA_FILE = "mt_export.json"


@dataclass(frozen=True)
class ModelFormat:
    """One format: how to recognise it and how to read its subword models."""

    summary: str
    detect: Callable[[Path], bool]
    subword_models: Callable[[Path], tuple[bytes, bytes | None]]
    """``(source or joint, target or None)`` serialized SentencePiece models."""
    translates: bool = True
    """Holds a translation model (not only a tokenizer)."""


def _is_checkpoint(path: Path) -> bool:
    """A ``.pt`` file, or any file in torch.save's zip format (a checkpoint renamed by its user)."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return path.suffix in (".pt", ".pth") or f.read(4) == b"PK\x03\x04"


def entry_models(entry: dict) -> tuple[bytes, bytes | None]:
    """``(source or joint, target or None)`` serialized models of a checkpoint's ``"tokenizer"`` entry
    (``mt.data.tokenizer.tokenizer_entry`` writes it)."""
    from mt.checkpoint import tensor_to_bytes

    target = entry.get("target_model")
    return tensor_to_bytes(entry["model"]), None if target is None else tensor_to_bytes(target)


def _checkpoint_models(path: Path) -> tuple[bytes, bytes | None]:
    from mt.checkpoint import load_checkpoint

    entry = load_checkpoint(path).get("tokenizer")
    if entry is None:
        raise DataError(f"checkpoint {path} holds no tokenizer")
    return entry_models(entry)


def is_ct2_dir(path: Path) -> bool:
    """Whether ``path`` is a CTranslate2 model directory (its weights file), not a checkpoint."""
    return (Path(path) / CT2_MODEL_FILE).is_file()


def ct2_subword_models(path: Path) -> tuple[bytes, bytes | None]:
    source, target = path / CT2_SENTENCEPIECE_FILE, path / CT2_TARGET_SENTENCEPIECE_FILE
    if not source.is_file():
        raise DataError(f"{path} has no {CT2_SENTENCEPIECE_FILE}: it is not a CTranslate2 export of an mt model")
    return source.read_bytes(), target.read_bytes() if target.is_file() else None


def _is_sentencepiece(path: Path) -> bool:
    return path.is_file() and not _is_checkpoint(path)


FORMATS: dict[str, ModelFormat] = {
    "checkpoint": ModelFormat("an mt checkpoint (.pt)", _is_checkpoint, _checkpoint_models),
    "marian": ModelFormat("a transformers MarianMTModel directory (config.json, source.spm, vocab.json)",
                          is_marian_dir, marian_sentencepiece),
    "ctranslate2": ModelFormat("a CTranslate2 export (model.bin, sentencepiece.model)", is_ct2_dir, ct2_subword_models),
    "sentencepiece": ModelFormat("a SentencePiece .model file", _is_sentencepiece,
                                 lambda path: (path.read_bytes(), None), translates=False),
}
"""Format name -> its entry, tried in this order."""


def model_format(path: str | Path) -> str:
    """The name of ``path``'s format in ``FORMATS``; a DataError listing the formats when none fits."""
    path = Path(path)
    for name, fmt in FORMATS.items():
        if fmt.detect(path):
            return name
    what = "does not exist" if not path.exists() else "is none of the model formats mt reads"
    raise DataError(f"{path} {what}; mt reads " + "; ".join(f.summary for f in FORMATS.values()))


def subword_models(path: str | Path) -> tuple[bytes, bytes | None]:
    """``(source or joint, target or None)`` serialized SentencePiece models of a model in any format."""
    path = Path(path)
    return FORMATS[model_format(path)].subword_models(path)
