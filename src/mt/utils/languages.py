"""What mt needs to know about a language, in one place: how its text is split into words, how BLEU
tokenizes it, how much of its alphabet SentencePiece must cover, and whether the papers split its
compounds. A language not listed here is written with spaces and scored with sacreBLEU's ``13a``.

    zh, ja, th, ...  no spaces between words: cleaning counts characters, not words (and compares a
                     zh or ja sentence's length with a translation's words at 1.75 or 2.25 characters a word)
    zh               BLEU with sacreBLEU's ``zh`` tokenizer (as WMT scores Chinese)
    ja, ko           BLEU with ``ja-mecab`` / ``ko-mecab`` (need the optional extras ``ja`` / ``ko``)
    zh, ja, ko       SentencePiece covers 99.95% of characters (the rarest become bytes, not pieces)
    de               the papers' tokenized BLEU splits hyphenated compounds

Adding a language is a line in ``LANGUAGES``. Codes are read by ``langcodes``: ``normalize`` turns what
users and models write (OPUS-MT's ``eng``, ``zho``, ``cmn_Hans``; ``pt_BR``) into the shortest standard
tag (``en``, ``zh``, ``zh-Hans``, ``pt-BR``), and ``same_language`` compares two codes by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import langcodes

from mt.utils.errors import MTError


@dataclass(frozen=True)
class Language:
    code: str
    spaces: bool = True
    """Words are separated by spaces (else cleaning's length filters count characters)."""
    bleu_tokenizer: str = "13a"
    """sacreBLEU's tokenizer for this target language (its ``-tok``; ``-l xx-LANG`` picks the same)."""
    extra: str | None = None
    """The optional dependency group (``pip install -e ".[EXTRA]"``) the BLEU tokenizer needs."""
    character_coverage: float = 1.0
    """SentencePiece's ``character_coverage`` for corpora in this language."""
    compound_split: bool = False
    """The papers' tokenized BLEU splits hyphenated compounds (``##AT##-##AT##``)."""
    chars_per_word: float = 1.0
    """For a language without spaces: how many of its characters translate one word of a language with
    spaces, on average; cleaning's length ratio compares characters divided by it with words."""


_CJK_COVERAGE = 0.9995  # SentencePiece's own recommendation for languages with rich character sets

LANGUAGES: dict[str, Language] = {
    # chars_per_word: the median characters per English word of WMT21's news test sets, the geometric mean
    # of both directions (en-zh 1.95, zh-en 1.57; en-ja 2.67, ja-en 1.93; tests/fixtures/wmt21)
    "zh": Language("zh", spaces=False, bleu_tokenizer="zh", character_coverage=_CJK_COVERAGE, chars_per_word=1.75),
    "ja": Language("ja", spaces=False, bleu_tokenizer="ja-mecab", extra="ja", character_coverage=_CJK_COVERAGE,
                   chars_per_word=2.25),
    "ko": Language("ko", bleu_tokenizer="ko-mecab", extra="ko", character_coverage=_CJK_COVERAGE),
    "th": Language("th", spaces=False),
    "my": Language("my", spaces=False),
    "km": Language("km", spaces=False),
    "lo": Language("lo", spaces=False),
    "de": Language("de", compound_split=True),
}
"""Languages that differ from the defaults of ``Language``, by ISO 639-1 code."""


def normalize(code: str) -> str:
    """The shortest standard tag of a language code: ``eng`` -> ``en``, ``zho`` -> ``zh``, ``cmn_Hans``
    -> ``zh-Hans``, ``zho_Hant`` -> ``zh-Hant``, ``pt_BR`` -> ``pt-BR``. A code that names no language
    (``de+zh``, ``?``, ``xx``) is an MTError naming it."""
    text = str(code).strip().replace("_", "-")
    try:
        # macro=True: a macrolanguage's member as the macrolanguage (cmn -> zh, arb -> ar), as WMT names them
        tag = langcodes.standardize_tag(text, macro=True)
    except (ValueError, LookupError):
        tag = None
    if tag is None or not langcodes.tag_is_valid(tag) or langcodes.Language.get(tag).language in (None, "und"):
        raise MTError(f"{code!r} is not a language code; use an ISO 639 code such as en, de, zh (or eng, "
                      f"deu, zho), optionally with a script or region: zh-Hans, cmn_Hans, pt-BR")
    return tag


def _parts(code: str) -> tuple[str | None, str | None] | None:
    """``(language, script)`` of ``code``; None when it names no language."""
    try:
        tag = langcodes.Language.get(normalize(code))
    except MTError:
        return None
    return tag.language, tag.script


def same_language(a: str | None, b: str | None) -> bool:
    """Whether two codes name one language: ``zh`` matches ``zho``, ``cmn``, ``zh-Hans`` and ``zh-Hant``;
    ``zh-Hans`` does not match ``zh-Hant`` (a script both name must agree); regions are ignored. Codes
    that name no language (``?``, ``de+zh``) match only themselves."""
    pa, pb = _parts(a or ""), _parts(b or "")
    if pa is None or pb is None:
        return a == b
    (lang_a, script_a), (lang_b, script_b) = pa, pb
    return lang_a == lang_b and (script_a is None or script_b is None or script_a == script_b)


def pair_languages(pair: str) -> tuple[str, str]:
    """The two languages of a pair as written (``en-de``, ``eng-zho``, ``cmn_Hans-eng``, ``en-zh-Hant``):
    split at the hyphen that leaves a language on both sides; else an MTError naming the pair."""
    parts = str(pair).split("-")
    for i in range(1, len(parts)):
        src, tgt = "-".join(parts[:i]), "-".join(parts[i:])
        if _parts(src) and _parts(tgt):
            return src, tgt
    raise MTError(f"{pair!r} is not a language pair such as en-de (or eng-zho, cmn_Hans-eng)")


def language(code: str | None) -> Language:
    """The settings of ``code`` in any spelling ``normalize`` reads (``zh``, ``zho``, ``cmn_Hans``,
    ``jpn``, ``pt_BR`` ...); the defaults for a missing code or one that names no language."""
    parts = _parts(code) if code else None
    base = parts[0] if parts else (code or "").lower()
    return LANGUAGES.get(base, Language(base))


def length_units(text: str, lang: Language) -> int:
    """The length cleaning compares: words for languages written with spaces, characters (spaces
    excluded) for those without."""
    return len(text.split()) if lang.spaces else sum(not c.isspace() for c in text)
