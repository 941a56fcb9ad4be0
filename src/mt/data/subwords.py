"""The subword models of a prepared directory: what of the tokenizer settings names it (the cache key),
where its models are, and how they are built: one joint SentencePiece model (``spm.model``), one per
language with ``tokenizer.joint=false`` (``spm.<lang>.model``, so that one directory serves both
directions), or those of an existing model (``tokenizer.from_model``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

from mt.config import ConfigError, DataConfig, TokenizerConfig
from mt.data.binarize import resolve_workers
from mt.data.errors import DataError
from mt.data.tokenizer import Tokenizer, existing_models, train_tokenizer
from mt.utils.fingerprint import once_per_version
from mt.utils.languages import language
from mt.utils.text import resolve_path

logger = logging.getLogger(__name__)

TOKENIZER_FILE = "spm.model"
"""The joint SentencePiece model; with separate vocabularies each language's is ``spm.<lang>.model``,
so that one directory serves both directions."""


def tokenizer_key(tok_cfg: TokenizerConfig, asked: DataConfig, work_dir: Path | None) -> dict:
    """What of the tokenizer settings shapes the data: all of them (per-side sizes by language, so
    that both directions of a pair agree), or only the content of the models ``from_model`` names (its
    path may move; its other settings are then unused) and, for separate models, which language the
    source model is for."""
    if not tok_cfg.from_model:
        key = {k: v for k, v in dataclasses.asdict(tok_cfg).items()
               if k not in ("joint", "src_vocab_size", "tgt_vocab_size")}  # joint keys stay as they were
        if not tok_cfg.joint:
            key["sizes"] = side_sizes(tok_cfg, asked.src_lang, asked.tgt_lang)
        return key
    path = resolve_path(tok_cfg.from_model, work_dir or ".")
    digest = once_per_version(path, _model_sha256) if path.exists() else _model_sha256(path)  # (which raises)
    if digest.startswith("separate:"):
        return {"from_model_sha256": digest, "source_lang": asked.src_lang}
    return {"from_model_sha256": digest}  # a checkpoint is read once per version


def _model_sha256(path: Path) -> str:
    source, target = existing_models(path)
    if target is None:
        return hashlib.sha256(source).hexdigest()
    return "separate:" + hashlib.sha256(source + b"\0" + target).hexdigest()


def side_sizes(tok_cfg: TokenizerConfig, src_lang: str, tgt_lang: str) -> dict[str, int]:
    """With ``tokenizer.joint=false``: the vocabulary size of each language's model."""
    return {src_lang: tok_cfg.src_vocab_size or tok_cfg.vocab_size,
            tgt_lang: tok_cfg.tgt_vocab_size or tok_cfg.vocab_size}


def tokenizer_paths(directory: Path, src_lang: str, tgt_lang: str) -> tuple[Path, Path]:
    """The source and target SentencePiece models of a prepared directory (one joint file twice)."""
    joint = Path(directory) / TOKENIZER_FILE
    if joint.is_file():
        return joint, joint
    return tuple(Path(directory) / f"spm.{lang}.model" for lang in (src_lang, tgt_lang))  # type: ignore[return-value]


def build_tokenizer(tmp: Path, train_text: list[Path], data_cfg: DataConfig, tok_cfg: TokenizerConfig,
               work_dir: Path, symbols: list[str], source_lang: str) -> Tokenizer:
    """Train the SentencePiece model(s) on the cleaned train text (``symbols``, tags the source adds,
    as single pieces of the source side), or take ``tokenizer.from_model``'s."""
    src, tgt = data_cfg.src_lang, data_cfg.tgt_lang
    threads = resolve_workers(data_cfg.num_workers)
    if tok_cfg.from_model:
        _existing_tokenizer(tmp, tok_cfg, work_dir, symbols, source_lang, (src, tgt))
        models = tokenizer_paths(tmp, src, tgt)  # in the build direction
        return Tokenizer.from_file(models[0], None if models[1] == models[0] else models[1])
    if tok_cfg.joint:
        return train_tokenizer(train_text, tok_cfg, tmp / Path(TOKENIZER_FILE).stem, user_symbols=symbols,
                               num_threads=threads)
    sizes = side_sizes(tok_cfg, src, tgt)
    models = []
    for side, lang, text, side_symbols in (("src", src, train_text[0], symbols), ("tgt", tgt, train_text[1], ())):
        coverage = tok_cfg.character_coverage
        if coverage is None:  # this side's languages alone decide (``de+zh`` for data.pairs)
            coverage = min(language(code).character_coverage for code in lang.split("+"))
        side_cfg = dataclasses.replace(tok_cfg, vocab_size=sizes[lang], character_coverage=coverage)
        key = f"{side}_vocab_size" if getattr(tok_cfg, f"{side}_vocab_size") else "vocab_size"
        try:
            models.append(train_tokenizer([text], side_cfg, tmp / f"spm.{lang}", user_symbols=side_symbols,
                                          num_threads=threads))
        except ConfigError as e:  # name the key that sized this side
            raise ConfigError(f"{lang} side: {e}".replace("tokenizer.vocab_size", f"tokenizer.{key}")) from None
    return Tokenizer(models[0].source, models[1].source)


def _existing_tokenizer(tmp: Path, tok_cfg: TokenizerConfig, work_dir: Path, symbols: list[str],
                        source_lang: str, langs: tuple[str, str]) -> Tokenizer:
    """``tokenizer.from_model``'s models, written into ``tmp`` as the prepared directory keeps them."""
    path = resolve_path(tok_cfg.from_model, work_dir)
    source, target = existing_models(path)
    if target is None:
        (tmp / TOKENIZER_FILE).write_bytes(source)
    else:  # the source model belongs to the language asked for as the source
        other = langs[1] if langs[0] == source_lang else langs[0]
        (tmp / f"spm.{source_lang}.model").write_bytes(source)
        (tmp / f"spm.{other}.model").write_bytes(target)
    tokenizer = Tokenizer.from_bytes(source, target)
    split = [s for s in symbols if len(tokenizer.encode(s)) != 1]
    if split:
        raise DataError(f"tokenizer.from_model={path} has no single piece for {', '.join(split)} (which this "
                        f"data source adds to the text); train a tokenizer, or drop the tag")
    sizes = f"joint {tokenizer.vocab_size}-piece model" if target is None else \
        f"{tokenizer.src_vocab_size}-piece source and {tokenizer.vocab_size}-piece target models"
    logger.info("tokenizer: the %s of %s (tokenizer.from_model)", sizes, path)
    return tokenizer
