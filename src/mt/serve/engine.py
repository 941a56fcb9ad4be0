"""The model behind the server: loaded by its format, translating lines as ``translate.py`` does.

An mt checkpoint or a Marian directory is decoded by ``mt.decode.run.translate_nbest``, a CTranslate2
export by ``mt.decode.ct2.translate_nbest_ct2``, with the ``decode`` settings given, and lines are
steered to a target language as ``translate.py tgt_lang=`` steers them (``<2xx>`` tags for ``data.pairs``
models, ``>>xxx<<`` tokens for multi-target Marian models): the same settings give the same lines.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt.config import DecodeConfig, ServeConfig
from mt.data.formats import model_format
from mt.data.sources.multi import with_target
from mt.data.tokenizer import Tokenizer
from mt.decode.lines import Translation
from mt.decode.load import load_for_inference
from mt.decode.run import translate_nbest
from mt.decode.targets import token_language, with_language_token
from mt.utils.errors import MTError
from mt.utils.languages import normalize, same_language
from mt.utils.text import resolve_path


class LanguageError(MTError):
    """A request names a language, or a direction, that the model does not translate."""


@dataclass
class Engine:
    """A loaded model: ``translate`` lines, and the directions it knows."""

    nbest: Callable[[list[str]], list[list[Translation]]]
    """Lines -> their translations, best first, in input order (the backend's ``translate_nbest``)."""
    tokenizer: Tokenizer
    info: dict[str, Any]
    """What the loader says of the model: ``src_lang``, ``tgt_lang``, ``pairs`` ..."""
    directions: dict[str, list[str]]
    """Source language -> its target languages, as the model writes them (``de``, ``cmn_Hans``)."""
    tagging: str
    """How a line is steered to its target: ``pairs`` (``<2xx>`` tags), ``tokens`` (``>>xxx<<``) or ``none``."""
    calls: int = 1
    """Decoding calls that may run at once (CTranslate2's workers on CPU; 1 for a model that uses every
    core in one call)."""

    def translate(self, lines: list[str]) -> list[str]:
        """The best translation of each (already steered) line, in input order."""
        return [hyps[0].text for hyps in self.nbest(lines)]

    def count_tokens(self, lines: Sequence[str]) -> int:
        """Source tokens of ``lines``, EOS included: what a decoding batch is measured in."""
        return sum(len(ids) + 1 for ids in self.tokenizer.encode_batch(list(lines))) if lines else 0

    def sources(self) -> list[str]:
        return list(self.directions)

    def targets(self) -> list[str]:
        return list(dict.fromkeys(t for targets in self.directions.values() for t in targets))

    def resolve(self, source: str, target: str) -> tuple[str, str]:
        """The model's own codes for a requested direction (``deu`` -> ``de``, ``zh`` -> ``cmn_Hans``);
        a LanguageError that lists what the model knows otherwise."""
        src = _match(source, self.sources())
        if src is None:
            raise LanguageError(f"unknown source language {source!r}: this model translates from "
                                f"{_listing(self.sources())} (GET /languages lists its directions)")
        tgt = _match(target, self.targets())
        if tgt is None:
            raise LanguageError(f"unknown target language {target!r}: this model translates into "
                                f"{_listing(self.targets())} (GET /languages lists its directions)")
        if tgt not in self.directions[src]:
            raise LanguageError(f"this model does not translate {src} into {tgt}; from {src} it translates "
                                f"into {_listing(self.directions[src]) or 'nothing'}")
        return src, tgt

    def steer(self, lines: list[str], source: str, target: str) -> list[str]:
        """``lines`` as the model reads them for the direction ``resolve`` returned, exactly as
        ``translate.py src_lang=SOURCE tgt_lang=TARGET`` prepares them."""
        if self.tagging == "pairs":
            return with_target(lines, list(self.info["pairs"]), target, source)
        if self.tagging == "tokens":
            return with_language_token(lines, self.tokenizer.language_tokens(), target)
        return lines


def _match(code: str, known: Sequence[str]) -> str | None:
    """The entry of ``known`` that names the language ``code``: the same tag first, then the same
    language (``deu`` is ``de``; ``zh`` is ``zh-Hans``)."""
    try:
        tag = normalize(code)
    except MTError:
        return None
    exact = [k for k in known if _normalized(k) == tag]
    return (exact or [k for k in known if same_language(k, tag)] or [None])[0]


def _normalized(code: str) -> str:
    try:
        return normalize(code)
    except MTError:
        return code


def _listing(codes: Sequence[str]) -> str:
    return ", ".join(codes)


def display_code(code: str) -> str:
    """A model's code as LibreTranslate clients expect it: the shortest standard tag (``cmn_Hans`` ->
    ``zh-Hans``)."""
    return _normalized(code)


def load_engine(cfg: ServeConfig) -> Engine:
    """Load ``cfg.model_path`` with the loader of its format and work out its directions."""
    path = resolve_path(cfg.model_path, cfg.work_dir)
    fmt = model_format(path)
    if fmt == "ctranslate2":
        from mt.decode.ct2 import load_ct2, search_options, translate_nbest_ct2

        if cfg.decode.precision != "fp32":
            raise MTError(f"decode.precision={cfg.decode.precision} does not apply to a CTranslate2 model: its "
                          f"weight type was chosen at export (quantization=)")
        search_options(cfg.decode)  # a search CTranslate2 cannot run is refused now, not at the first request
        model = load_ct2(path, cfg.decode.device, intra_threads=cfg.ct2_intra_threads,
                         same_length=cfg.ct2_same_length)
        nbest = functools.partial(_call_ct2, translate_nbest_ct2, model, cfg.decode)
        tokenizer, info, calls = model.tokenizer, model.info, model.workers
    elif fmt in ("checkpoint", "marian"):
        models, tokenizer, info = load_for_inference([path], cfg.decode.device)
        nbest = functools.partial(_call_mt, models, tokenizer, cfg.decode)
        calls = 1
    else:
        raise MTError(f"{path} is a {fmt} file, not a translation model: serve an mt checkpoint (.pt), a "
                      f"Marian directory or a CTranslate2 export")
    engine = engine_for(nbest, tokenizer, info, src_lang=cfg.src_lang, tgt_lang=cfg.tgt_lang, path=path)
    engine.calls = cfg.decode_calls or calls
    return engine


def _call_mt(models: Any, tokenizer: Tokenizer, decode_cfg: DecodeConfig,
             lines: list[str]) -> list[list[Translation]]:
    return translate_nbest(models, tokenizer, lines, decode_cfg)


def _call_ct2(fn: Callable[..., list[list[Translation]]], model: Any, decode_cfg: DecodeConfig,
              lines: list[str]) -> list[list[Translation]]:
    return fn(model, lines, decode_cfg)


def engine_for(nbest: Callable[[list[str]], list[list[Translation]]], tokenizer: Tokenizer, info: dict[str, Any],
               *, src_lang: str | None = None, tgt_lang: str | None = None, path: Path | str = "the model") -> Engine:
    """An Engine over a loaded model: its directions from ``data.pairs``, its ``>>xxx<<`` tokens, or
    its one pair (``src_lang`` / ``tgt_lang`` name languages the model does not record)."""
    pairs, tokens = list(info.get("pairs") or []), tokenizer.language_tokens()
    source = src_lang or info.get("src_lang", "?")
    if pairs:
        directions: dict[str, list[str]] = {}
        for pair in pairs:
            src, tgt = pair.split("-", 1)
            directions.setdefault(src, []).append(tgt)
        return Engine(nbest, tokenizer, info, directions, "pairs")
    if source == "?":
        raise MTError(f"{path} does not record its source language: name it with src_lang=XX")
    if tokens:
        return Engine(nbest, tokenizer, info, {source: [token_language(t) for t in tokens]}, "tokens")
    target = tgt_lang or info.get("tgt_lang", "?")
    if target == "?":
        raise MTError(f"{path} does not record its target language: name it with tgt_lang=XX")
    return Engine(nbest, tokenizer, info, {source: [target]}, "none")
